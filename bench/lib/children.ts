import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import path from "node:path";

/**
 * The bench's child processes (servers and the load generator in bench/lib, each on its own event
 * loop), seen from the orchestrating process: fork one and wait for its "ready", ask it something
 * over IPC, stop it. Every child forked here is remembered, so that `stopAll` leaves none behind.
 *
 * @example
 * const children = benchChildren();
 * const { proc, ready } = await children.start("upstream.ts");
 * await children.stopAll();
 */
export function benchChildren() {
  const started: ChildProcess[] = [];
  return {
    /** Forks bench/lib/`script` and waits for its "ready" message, which it returns. */
    async start(script: string, execArgv: string[] = []): Promise<{ proc: ChildProcess; ready: Record<string, unknown> }> {
      const proc = fork(path.join(import.meta.dirname, script), [], { execArgv, serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
      started.push(proc);
      const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
        proc.once("message", (message) => resolve(message as Record<string, unknown>));
        proc.once("exit", (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
      });
      return { proc, ready };
    },
    /** Stops every child started here (a stop message, then SIGKILL after 5 s). */
    async stopAll(): Promise<void> {
      await Promise.all(started.map((proc) => stopChild(proc).catch(() => {})));
    },
  };
}

/** Sends `message` to a child and waits for its reply of `type` (or an error). */
export function ask<T>(proc: ChildProcess, message: object, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: { type: string; message?: string }) => {
      if (reply.type !== "error" && reply.type !== type) return;
      proc.off("message", onMessage);
      if (reply.type === "error") reject(new Error(reply.message));
      else resolve(reply as T);
    };
    proc.on("message", onMessage);
    proc.send(message);
  });
}

/** Asks a child to stop (servers close and exit normally) and waits until it has exited. */
export async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  if (proc.connected) proc.send({ type: "stop" });
  else proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
