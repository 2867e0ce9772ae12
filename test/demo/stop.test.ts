import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

const root = path.join(import.meta.dirname, "..", "..");

// `npm start` records itself here rather than in the repository's .data (other test files start stacks too).
const recordFile = path.join(tmpdir(), `agenttab-stop-test-${process.pid}.json`);

/** The environment without anything that says where AgentTab is, as a newcomer's shell has. */
const cleanEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AGENTTAB_") && name !== "DATABASE_URL")),
  AGENTTAB_LOCAL_STACK_FILE: recordFile,
};

type Started = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

/** Starts a command in its own process group (as a terminal would). */
function start(command: string, args: string[], env: Record<string, string | undefined> = cleanEnv): Started {
  const child = spawn(command, args, { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, output: () => output, exited };
}

async function waitFor(started: Started, text: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!started.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`"${text}" not seen within ${timeoutMs} ms:\n${started.output()}`);
    if (started.child.exitCode !== null) throw new Error(`exited (${started.child.exitCode}) before "${text}":\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Processes alive (not zombies) whose command line or environment mentions `needle`. */
async function processesMentioning(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^[0-9]+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
      const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
      if (cmdline.includes(needle) || environ.includes(needle)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // exited while we looked
    }
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

/** Checks that nothing the run started is left: its processes, its folder, its ports. */
async function expectNothingLeft(output: string, launched: number[]) {
  const folder = /data in (\S+)\)/.exec(output)?.[1];
  expect(folder, output).toMatch(/agenttab-local-/);
  const ports = [...output.matchAll(/http:\/\/127\.0\.0\.1:([0-9]+)/g)].map((m) => Number(m[1]));
  const ponderPid = Number(/indexer ready at \S+ \(pid ([0-9]+)\)/.exec(output)?.[1] ?? 0);
  const pids = [...launched, ...(ponderPid > 0 ? [ponderPid] : [])];
  for (let i = 0; i < 100; i++) {
    if (!pids.some(alive) && (await processesMentioning(folder as string)).length === 0 && !existsSync(folder as string)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(pids.filter(alive), output).toEqual([]);
  expect(await processesMentioning(folder as string), output).toEqual([]);
  expect(existsSync(folder as string), output).toBe(false);
  for (const port of ports) expect(await portOpen(port), `port ${port}\n${output}`).toBe(false);
}

/** The PIDs of a process's children. */
function childrenOf(pid: number): number[] {
  const result = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  return result.stdout.split("\n").filter(Boolean).map(Number);
}

/** The PIDs under `pid` (children, theirs, …) right now. */
function treeOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...treeOf(child)]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function npmStart(): Promise<Started> {
  const ports = [await freePort(), await freePort(), await freePort()].map(String);
  return start("npm", ["start", "--", "--chain-port", ports[0] as string, "--api-port", ports[1] as string, "--indexer-port", ports[2] as string]);
}

describe("the local stack stops with whatever started it", () => {
  it("SIGTERM to npm during start-up (Ponder starting) stops `npm run demo`", async () => {
    const run = start("npm", ["run", "demo"]);
    await waitFor(run, "contracts deployed");
    const tree = treeOf(run.child.pid as number);
    process.kill(run.child.pid as number, "SIGTERM");
    await within(run.exited, 10_000, "npm's exit");
    await expectNothingLeft(run.output(), tree);
  }, 60_000);

  it("SIGINT to the node process right after PostgreSQL is up stops the demo (exit 130)", async () => {
    const run = start(process.execPath, ["scripts/demo.ts"]);
    await waitFor(run, "postgres ready");
    const tree = treeOf(run.child.pid as number);
    process.kill(run.child.pid as number, "SIGINT");
    expect(await within(run.exited, 30_000, "the demo's exit")).toBe(130);
    await expectNothingLeft(run.output(), tree);
  }, 60_000);

  it("SIGTERM to the process group during the story stops `npm run demo`", async () => {
    const run = start("npm", ["run", "demo"]);
    await waitFor(run, "Paid calls");
    const tree = treeOf(run.child.pid as number);
    process.kill(-(run.child.pid as number), "SIGTERM");
    await within(run.exited, 30_000, "npm's exit");
    await expectNothingLeft(run.output(), tree);
  }, 90_000);

  it("SIGINT to npm during start-up (the chain just up) stops `npm start`", async () => {
    const run = await npmStart();
    await waitFor(run, "hardhat node listening");
    const tree = treeOf(run.child.pid as number);
    process.kill(run.child.pid as number, "SIGINT");
    await within(run.exited, 30_000, "npm's exit");
    await expectNothingLeft(run.output(), tree);
  }, 60_000);

  it("a running `npm start` whose npm is killed (SIGKILL) stops itself", async () => {
    const run = await npmStart();
    await waitFor(run, "Ctrl-C stops everything");
    expect(existsSync(recordFile)).toBe(true);
    const tree = treeOf(run.child.pid as number);
    process.kill(run.child.pid as number, "SIGKILL");
    await run.exited;
    await expectNothingLeft(run.output(), tree);
    expect(existsSync(recordFile)).toBe(false);
  }, 90_000);
});
