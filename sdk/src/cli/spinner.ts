/** A progress line for anything that waits (the chain, a relayer). */
export type Spinner = {
  /** Replaces the text shown next to the spinner. */
  update(text: string): void;
  /** Stops, leaving a final line (✔ or ✖) when drawn. */
  stop(final?: { ok: boolean; text: string }): void;
};

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * Starts a spinner on `stream` (stderr by default), drawn only when that stream is a terminal, so
 * pipes and `--json` output never carry it.
 *
 * @example
 * const spinner = startSpinner("Waiting for the deposit to be mined");
 * try { await deposit(); spinner.stop({ ok: true, text: "Deposited" }); }
 * catch (error) { spinner.stop({ ok: false, text: "Deposit failed" }); throw error; }
 */
export function startSpinner(text: string, { stream = process.stderr, enabled = stream.isTTY === true }: { stream?: NodeJS.WriteStream; enabled?: boolean } = {}): Spinner {
  if (!enabled) return { update() {}, stop() {} };
  let current = text;
  let frame = 0;
  const started = Date.now();
  const draw = () => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    stream.write(`\r\x1b[2K${FRAMES[frame % FRAMES.length]} ${current}${seconds > 0 ? ` (${seconds}s)` : ""}`);
    frame += 1;
  };
  draw();
  const timer = setInterval(draw, 80);
  timer.unref();
  return {
    update(next) {
      current = next;
      draw();
    },
    stop(final) {
      clearInterval(timer);
      stream.write(`\r\x1b[2K${final ? `${final.ok ? "✔" : "✖"} ${final.text}\n` : ""}`);
    },
  };
}
