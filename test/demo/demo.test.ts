import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import { describe, expect, it } from "vitest";

const root = path.join(import.meta.dirname, "..", "..");

type Run = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** Runs a command in its own process group (as a terminal would), optionally sending it SIGINT once `interruptWhen` shows in its output. */
function run(command: string, args: string[], { interruptWhen, timeoutMs }: { interruptWhen?: string; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: process.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let interrupted = false;
    const timer = setTimeout(() => {
      process.kill(-(child.pid as number), "SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      if (interruptWhen !== undefined && !interrupted && stdout.includes(interruptWhen)) {
        interrupted = true;
        // Ctrl-C in a terminal: SIGINT to the whole foreground group (Ponder and PostgreSQL too).
        process.kill(-(child.pid as number), "SIGINT");
      }
    });
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Processes still alive whose command line mentions `needle`. */
async function processesMentioning(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
      if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline}`);
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

/** The stack's temporary folder and Ponder's pid, from the start-up lines. */
function stackOf(stdout: string) {
  const folder = /data in (\S+)\)/.exec(stdout)?.[1];
  const ponderPid = Number(/indexer ready at \S+ \(pid ([0-9]+)\)/.exec(stdout)?.[1]);
  expect(folder, stdout).toMatch(/agenttab-local-/);
  expect(ponderPid, stdout).toBeGreaterThan(0);
  return { folder: folder as string, ponderPid };
}

async function expectNothingLeft({ folder, ponderPid }: { folder: string; ponderPid: number }) {
  // Give the kernel a moment to reap children that exited with their parent.
  for (let i = 0; i < 50 && (alive(ponderPid) || (await processesMentioning(folder)).length > 0); i++) await new Promise((r) => setTimeout(r, 100));
  expect(alive(ponderPid)).toBe(false);
  expect(await processesMentioning(folder)).toEqual([]);
  expect(existsSync(folder)).toBe(false);
}

describe("npm run demo (smoke test)", () => {
  it("runs the whole story on a fresh local stack, exits 0 and leaves no process behind", async () => {
    const result = await run("npm", ["run", "demo"], { timeoutMs: 240_000 });
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const out = result.stdout;
    for (const step of [
      "deposits gaslessly",
      "Paid calls",
      "per-call cap is refused",
      "InsufficientBalanceError",
      "tops up",
      "weekly settlement",
      "withdraws its earnings",
      "spending report",
      "Everything stopped",
    ]) {
      expect(out).toContain(step);
    }
    // Transaction hashes and gas are narrated, and every receipt checked out.
    expect(out).toMatch(/tx 0x[0-9a-f]{64} · [0-9]+ gas paid by the relayer/);
    expect(out).toMatch(/batch: +[0-9]+ claims/);
    expect(out).not.toContain("INVALID");
    await expectNothingLeft(stackOf(out));
  }, 300_000);

  it("stops everything on Ctrl-C in the middle of the story (exit 130)", async () => {
    const result = await run(process.execPath, ["scripts/demo.ts"], { interruptWhen: "Paid calls", timeoutMs: 180_000 });
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(130);
    expect(result.stdout).toContain("SIGINT: stopping the demo stack");
    await expectNothingLeft(stackOf(result.stdout));
  }, 240_000);
});
