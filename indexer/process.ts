import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** A running Ponder indexer. */
export type IndexerProcess = {
  /** Its HTTP server, e.g. http://127.0.0.1:42069 (/health, /ready, /graphql). */
  url: string;
  pid: number;
  /** Stops it: SIGTERM lets it release its schema lock; SIGKILL simulates a crash. */
  stop: (signal?: "SIGTERM" | "SIGKILL") => Promise<void>;
  /** Everything it printed, for diagnostics. */
  output: () => string;
};

/** How to run the indexer. */
export type StartIndexerOptions = {
  databaseUrl: string;
  /** Schema holding Ponder's tables; reuse it to resume after a restart. */
  schema: string;
  /** Schema of the views that other services read with SELECT. */
  viewsSchema: string;
  rpcUrl: string;
  chainId: number;
  deploymentsDir: string;
  port: number;
  /** Milliseconds to wait for /ready. Default 60 s. */
  readyTimeoutMs?: number;
};

/**
 * Starts `ponder start` for the AgentTab indexer on 127.0.0.1 and waits until it has caught up
 * with the chain (`/ready` answers 200).
 *
 * @example
 * const indexer = await startIndexer({ databaseUrl, schema: "agenttab_indexer", viewsSchema: "agenttab", rpcUrl, chainId: 31337, deploymentsDir, port: 42069 });
 * // …
 * await indexer.stop();
 */
export async function startIndexer(options: StartIndexerOptions): Promise<IndexerProcess> {
  // ponder's exports hide package.json; its entry is dist/esm/index.js, beside bin/ponder.js.
  const ponderBin = path.join(path.dirname(fileURLToPath(import.meta.resolve("ponder"))), "bin", "ponder.js");
  const args = [
    ponderBin,
    "--root",
    import.meta.dirname,
    "--log-format",
    "json",
    "start",
    "--schema",
    options.schema,
    "--views-schema",
    options.viewsSchema,
    "-H",
    "127.0.0.1",
    "-p",
    String(options.port),
  ];
  const child = spawn(process.execPath, args, {
    cwd: import.meta.dirname,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      AGENTTAB_RPC_URL: options.rpcUrl,
      AGENTTAB_CHAIN_ID: String(options.chainId),
      AGENTTAB_DEPLOYMENTS_DIR: options.deploymentsDir,
      PONDER_TELEMETRY_DISABLED: "true",
      NODE_ENV: "production",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // Ponder moves to the next port when the one asked for was taken in the meantime (a free port
  // picked by another process first), so its log, not the request, says where it listens; until it
  // says, whatever answers on the port asked for may be someone else.
  const listeningPort = () => {
    const match = /"msg":"Created HTTP server","port":([0-9]+)/.exec(output);
    return match ? Number(match[1]) : undefined;
  };
  let url = `http://127.0.0.1:${options.port}`;

  const stop = async (signal: "SIGTERM" | "SIGKILL" = "SIGTERM") => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ponder exited with ${child.exitCode}:\n${output}`);
    const port = listeningPort();
    if (port !== undefined) {
      url = `http://127.0.0.1:${port}`;
      try {
        const response = await fetch(`${url}/ready`);
        if (response.status === 200) break;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) {
      await stop("SIGKILL");
      throw new Error(`ponder was not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, pid: child.pid as number, stop, output: () => output };
}
