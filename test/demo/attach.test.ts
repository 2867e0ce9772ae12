import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

const root = path.join(import.meta.dirname, "..", "..");
// Its own record, not the repository's .data/local-stack.json: other test files start stacks too.
const recordFile = path.join(tmpdir(), `agenttab-attach-test-${process.pid}.json`);

/** The environment without anything that says where AgentTab is, as a newcomer's shell has. */
const cleanEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AGENTTAB_") && name !== "DATABASE_URL")),
  AGENTTAB_LOCAL_STACK_FILE: recordFile,
};

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

/** Runs `node <script> …args` to the end; its exit code and output. */
function runScript(script: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: root, env: cleanEnv, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} ${args.join(" ")} still running after ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

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

describe("commands attach to a running `npm start`", () => {
  it("settle finds the stack with no variables set; a watchtower on a wrong views schema refuses to start", async () => {
    const [chainPort, apiPort, indexerPort] = [await freePort(), await freePort(), await freePort()];
    const stack = spawn(process.execPath, ["scripts/start.ts", "--chain-port", String(chainPort), "--api-port", String(apiPort), "--indexer-port", String(indexerPort)], {
      cwd: root,
      env: cleanEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    stack.stdout.on("data", (chunk) => (output += chunk));
    stack.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => stack.once("exit", (code) => resolve(code)));
    try {
      for (const deadline = Date.now() + 90_000; !output.includes("Ctrl-C stops everything"); ) {
        if (Date.now() > deadline || stack.exitCode !== null) throw new Error(`npm start did not come up:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const record = JSON.parse(await readFile(recordFile, "utf8")) as { pid: number; rpcUrl: string; viewsSchema: string };
      expect(record.pid).toBe(stack.pid);
      expect(record.rpcUrl).toBe(`http://127.0.0.1:${chainPort}`);

      const dryRun = await runScript("scripts/settle.ts", ["--dry-run", "--json"], 60_000);
      expect(dryRun.code, dryRun.output).toBe(0);
      expect(dryRun.output).toContain("attached to the local stack");
      expect(dryRun.output).toContain('"status":"dry-run"');

      const wrongSchema = await runScript("scripts/settle.ts", ["--watch", "--views-schema", "no_such_views", "--json"], 30_000);
      expect(wrongSchema.code, wrongSchema.output).toBe(1);
      expect(wrongSchema.output).toContain('schema \\"no_such_views\\" has no agent_account view');
      expect(wrongSchema.output).not.toContain("watch_failed");
    } finally {
      stack.kill("SIGTERM");
      await exited;
    }
    expect(existsSync(recordFile)).toBe(false);
    const folder = /data in (\S+)\)/.exec(output)?.[1] as string;
    expect(folder).toMatch(/agenttab-local-/);
    expect(existsSync(folder)).toBe(false);
    expect(await processesMentioning(folder)).toEqual([]);
  }, 150_000);
});
