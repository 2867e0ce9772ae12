/** `--every`: a duration such as 7d, 12h, 30m or 10s, in milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*(d|h|m|s)$/.exec(text.trim());
  const unit = match ? { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 }[match[2] as "d" | "h" | "m" | "s"] : undefined;
  const ms = match && unit ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0 || ms > 2 ** 31 - 1) throw new Error(`invalid duration ${JSON.stringify(text)}: use e.g. 7d, 12h, 30m or 10s (at most 24d)`);
  return ms;
}

/**
 * Serializes tasks: each starts once the one before has ended (fulfilled or not), so the scheduled
 * run and the watchtower of one process never overlap.
 */
export function createExclusive() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => {});
    return run;
  };
}

/** A sleep that `wake()` ends early (on SIGINT/SIGTERM). */
export function createSleeper() {
  let wake: (() => void) | undefined;
  return {
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }).finally(() => {
        wake = undefined;
      }),
    wake: () => wake?.(),
  };
}
