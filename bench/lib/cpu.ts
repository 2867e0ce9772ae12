/**
 * CPU time per process group, read from /proc (Linux), to tell which process a benchmark's
 * throughput is bounded by: `snapshot()` before and after a timed run, then `diff`.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ is 100 on Linux x86-64

/** utime + stime of one process in ms, or 0 when it is gone. */
function cpuMs(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** Every live process's parent and command name. */
function processTable(): Map<number, { ppid: number; comm: string }> {
  const table = new Map<number, { ppid: number; comm: string }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      table.set(Number(entry), { ppid, comm });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** The pids of `root`'s descendants whose command is `comm` (e.g. the PostgreSQL server this process started). */
export function descendantsNamed(root: number, comm: string): number[] {
  const table = processTable();
  const isUnder = (pid: number) => {
    for (let p = table.get(pid)?.ppid; p !== undefined && p > 1; p = table.get(p)?.ppid) if (p === root) return true;
    return false;
  };
  return [...table.entries()].filter(([pid, info]) => info.comm === comm && isUnder(pid)).map(([pid]) => pid);
}

/** Busy CPU time of the whole machine in ms (every state but idle and iowait), from /proc/stat. */
function machineBusyMs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] as string;
  const [, ...ticks] = line.trim().split(/\s+/).map(Number);
  const total = ticks.slice(0, 8).reduce((sum, t) => sum + t, 0);
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) * TICK_MS;
}

export type CpuSnapshot = { at: number; perPid: Record<string, Map<number, number>>; machine: number };

/**
 * CPU ms of each process in each group (a list of pids, or a function giving the current list),
 * plus the machine's busy time; `cpuDiff` turns the rest into `other` (the kernel's share of
 * loopback networking, and any load that is not ours).
 */
export function cpuSnapshot(groups: Record<string, number[] | (() => number[])>): CpuSnapshot {
  const perPid: Record<string, Map<number, number>> = {};
  for (const [name, pids] of Object.entries(groups)) {
    perPid[name] = new Map((typeof pids === "function" ? pids() : pids).map((pid) => [pid, cpuMs(pid)]));
  }
  return { at: performance.now(), perPid, machine: machineBusyMs() };
}

/**
 * CPU used between two snapshots per group, in cores (ms of CPU per ms of wall time). A process
 * that started meanwhile counts from zero; one that exited meanwhile is left out.
 */
export function cpuDiff(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const wall = after.at - before.at;
  const out: Record<string, number> = {};
  for (const [name, pids] of Object.entries(after.perPid)) {
    let ms = 0;
    for (const [pid, now] of pids) ms += now > 0 ? now - (before.perPid[name]?.get(pid) ?? 0) : 0;
    out[name] = ms / wall;
  }
  const machine = (after.machine - before.machine) / wall;
  out.other = machine - Object.values(out).reduce((sum, v) => sum + v, 0);
  out.total = machine;
  return out;
}
