import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import type { Sql } from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ledgerPool } from "@agenttab/ledger";
import { openDatabase } from "@agenttab/ledger/embedded";
import type { Database } from "@agenttab/ledger/embedded";
import { startTcpRelay } from "./helpers.ts";

/** Whether `chunk` ends with a complete ReadyForQuery message ('Z', length 5, status byte). */
const endsWithReadyForQuery = (chunk: Buffer) =>
  chunk.length >= 6 && chunk[chunk.length - 6] === 0x5a && chunk.readUInt32BE(chunk.length - 5) === 5;

/**
 * The ledger pool's own connection handling when PostgreSQL goes away mid-transaction. A real TCP
 * relay sits between the pool and a real PostgreSQL and, when armed, cuts the client right after
 * handing it the server's ReadyForQuery: the client has just queued its next statement when the
 * socket closes, as happens to some connection whenever the server restarts under load.
 *
 * Unpatched postgres.js 3.4.9 failed both checks: the queued bytes and a stale write timer
 * survived the close, so every reconnect of that connection left its startup message unsent and
 * each later query failed with CONNECT_TIMEOUT (this is how CI once saw the proxy answer 503 for
 * 30 s after PostgreSQL was back); and the transaction's ROLLBACK, sent on the closed socket,
 * threw an uncaught TypeError, which would take the API process down.
 */
describe("reliability: the ledger pool across a connection cut mid-transaction", () => {
  let db: Database;
  let root: string;
  let relay: Awaited<ReturnType<typeof startTcpRelay>>;
  let sql: Sql;
  let armed = false;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "agenttab-dbcut-"));
    await chmod(root, 0o755);
    db = await openDatabase({ env: process.env, dataDir: path.join(root, "postgres") });
    relay = await startTcpRelay(new URL(db.url), {
      cutAfter: (chunk) => {
        if (!armed || !endsWithReadyForQuery(chunk)) return false;
        armed = false;
        return true;
      },
    });
    const via = new URL(db.url);
    via.port = new URL(relay.url).port;
    sql = ledgerPool(via.toString(), { max: 1 });
    process.on("uncaughtException", onUncaught);
  }, 60_000);

  afterAll(async () => {
    process.off("uncaughtException", onUncaught);
    await sql?.end({ timeout: 1 });
    await relay?.cut();
    await db?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("fails the cut transaction with a connection error, then serves the next query on a fresh connection", async () => {
    expect((await sql<{ n: number }[]>`SELECT 1 AS n`)[0]!.n).toBe(1);
    for (let round = 0; round < 3; round++) {
      armed = true;
      const cut = await sql
        .begin(async (tx) => {
          await tx`SELECT 1`;
          await tx`SELECT 2`;
        })
        .then(
          () => undefined,
          (error: { code?: string }) => error.code,
        );
      expect(armed, "the relay cut the connection").toBe(false);
      expect(["CONNECTION_CLOSED", "ECONNRESET", "CONNECTION_DESTROYED"]).toContain(cut);
      // Unpatched, this failed with CONNECT_TIMEOUT after connect_timeout (10 s), and so did every
      // query after it on this connection.
      const next = await sql<{ n: number }[]>`SELECT ${round + 3}::int AS n`.then(
        (rows) => rows[0]!.n,
        (error: { code?: string }) => error.code,
      );
      expect(next).toBe(round + 3);
    }
    // Give a stray setImmediate (the unpatched ROLLBACK write) its turn before looking.
    await new Promise((resolve) => setImmediate(resolve));
    expect(uncaught.map(String)).toEqual([]);
  }, 60_000);
});
