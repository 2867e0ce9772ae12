import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import postgres from "postgres";
import type { Sql } from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { migrate } from "@agenttab/ledger";
import { openDatabase } from "@agenttab/ledger/embedded";
import type { Database } from "@agenttab/ledger/embedded";

const SCHEMA = "agenttab_upgrade";
const MIGRATIONS = path.join(import.meta.dirname, "..", "..", "ledger", "migrations");
const FUNCTIONS = path.join(import.meta.dirname, "..", "..", "ledger", "functions");

/**
 * Migration 012 on a ledger that already holds rows (issue 13): applied the way `migrate` applies
 * it, on top of 001–011 with a track, a charge and a call in flight from before, and the function
 * signatures 011 left.
 */
describe("api: migration 012 upgrades a ledger in use", () => {
  let db: Database;
  let root: string;
  let sql: Sql;
  const account = "0x00000000000000000000000000000000000000a1";
  const delegate = "0x00000000000000000000000000000000000000d1";
  const provider = "0x00000000000000000000000000000000000000b1";
  const inFlight = randomUUID();

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "agenttab-migration-"));
    await chmod(root, 0o755);
    db = await openDatabase({ env: process.env, dataDir: path.join(root, "postgres") });
    sql = postgres(db.url, { max: 1, onnotice: () => {}, connection: { search_path: SCHEMA } });
    // 001–011, recorded as `migrate` records them.
    const files = (await readdir(MIGRATIONS)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f) && Number(f.slice(0, 3)) < 12).sort();
    await sql.begin(async (tx) => {
      await tx.unsafe(`CREATE SCHEMA ${SCHEMA}`);
      await tx.unsafe(`CREATE TABLE ${SCHEMA}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const file of files) {
        await tx.unsafe(`SET LOCAL search_path TO ${SCHEMA}`);
        await tx.unsafe(await readFile(path.join(MIGRATIONS, file), "utf8"));
        await tx.unsafe(`INSERT INTO ${SCHEMA}.schema_migrations (version, name) VALUES ($1, $2)`, [Number(file.slice(0, 3)), file]);
      }
      // The functions 011 left, by their signatures then (the migrations no longer define
      // functions; their bodies do not matter here): 012 must drop the two whose arguments changed.
      await tx.unsafe(`SET LOCAL search_path TO ${SCHEMA}`);
      for (const [signature, result] of [
        ["reserve_call(uuid, text, text, text, numeric, numeric, text, text, integer, integer, bigint)", "void"],
        ["charge_call(uuid, text, numeric, numeric, text, text, text, integer, integer, bigint)", "void"],
        ["release_call(uuid, text, integer, text, integer)", "boolean"],
        ["record_failed_call(uuid, text, text, integer, text, integer, integer)", "boolean"],
      ]) {
        await tx.unsafe(`CREATE FUNCTION ${signature} RETURNS ${result} LANGUAGE sql AS 'SELECT NULL::${result}'`);
      }
      // The ledger before: the delegate charged 30 (one call, settled) and holds 20 in flight.
      await tx`INSERT INTO ledger_accounts (account, charged, reserved) VALUES (${account}, 30, 20)`;
      await tx`INSERT INTO spend_tracks (account, signer, voucher_max, voucher_signature, charged, reserved) VALUES (${account}, ${delegate}, 60, '0xaa', 30, 20)`;
      await tx`
        INSERT INTO charges (request_id, account, signer, service_id, provider, amount, fee, cumulative, voucher_max, method, path, upstream_status, latency_ms, issued_at, settlement_batch)
        VALUES (${randomUUID()}, ${account}, ${delegate}, 'svc', ${provider}, 30, 0, 30, 60, 'GET', '/', 200, 5, 1, '0x01')`;
      await tx`
        INSERT INTO reservations (request_id, account, signer, service_id, max_amount, expires_at)
        VALUES (${inFlight}, ${account}, ${delegate}, 'svc', 20, now() + interval '1 minute')`;
    });
  }, 60_000);

  afterAll(async () => {
    await sql?.end({ timeout: 1 });
    await db?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("applies 012 first, keys tracks by provider and gives the rows from before provider ''", async () => {
    // 012 and every later migration (this test pins what 012 does to the rows from before).
    expect((await migrate(sql, { schema: SCHEMA }))[0]).toBe(12);
    const tracks = await sql.unsafe(`SELECT account, signer, provider, charged::text, reserved::text FROM ${SCHEMA}.spend_tracks`);
    expect([...tracks]).toEqual([{ account, signer: delegate, provider: "", charged: "30", reserved: "20" }]);
    const [reservation] = await sql.unsafe(`SELECT provider FROM ${SCHEMA}.reservations WHERE request_id = $1`, [inFlight]);
    expect(reservation).toEqual({ provider: "" });
    const [key] = await sql.unsafe(`
      SELECT array_agg(a.attname ORDER BY k.ord)::text[] AS columns
      FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = '${SCHEMA}.spend_tracks'::regclass AND i.indisprimary`);
    expect(key?.columns).toEqual(["account", "signer", "provider"]);
    // New rows must name their provider: there is no default to fall back on.
    await expect(sql.unsafe(`INSERT INTO ${SCHEMA}.spend_tracks (account, signer) VALUES ('0x1', '0x2')`)).rejects.toThrow(/provider/);
    // Only the new signatures remain.
    const functions = await sql.unsafe(`
      SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = '${SCHEMA}' AND p.proname IN ('reserve_call', 'charge_call') ORDER BY p.proname`);
    expect(functions.map((f) => `${f.proname}(${(f.args as string).split(", ").length})`)).toEqual(["charge_call(9)", "reserve_call(12)"]);
  });

  it("leaves exactly the functions of a fresh ledger, as ledger/functions defines them", async () => {
    const fresh = `${SCHEMA}_fresh`;
    await migrate(sql, { schema: fresh });
    const definitions = async (schema: string) =>
      (
        await sql.unsafe(`
          SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result, p.prosrc
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY 1, 2`, [schema])
      ).map((row) => ({ ...row }));
    const files = (await readdir(FUNCTIONS)).filter((f) => f.endsWith(".sql")).map((f) => f.slice(0, -4)).sort();
    const upgraded = await definitions(SCHEMA);
    expect(upgraded.map((f) => f.proname)).toEqual(files);
    expect(upgraded).toEqual(await definitions(fresh));
  });

  it("releases a call in flight across the upgrade from the track it was held on", async () => {
    const [row] = await sql.unsafe(`SELECT ${SCHEMA}.release_call($1, $2, NULL, NULL, NULL) AS released`, [inFlight, account]);
    expect(row?.released).toBe(true);
    const [track] = await sql.unsafe(`SELECT reserved::text FROM ${SCHEMA}.spend_tracks WHERE account = $1 AND signer = $2 AND provider = ''`, [account, delegate]);
    expect(track).toEqual({ reserved: "0" });
    const [totals] = await sql.unsafe(`SELECT charged::text, reserved::text FROM ${SCHEMA}.ledger_accounts WHERE account = $1`, [account]);
    expect(totals).toEqual({ charged: "30", reserved: "0" });
  });
});
