import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import type { Sql } from "postgres";

import { LEDGER_SCHEMA } from "./pool.ts";

const MIGRATIONS_DIR = path.join(import.meta.dirname, "..", "migrations");
const FUNCTIONS_DIR = path.join(import.meta.dirname, "..", "functions");
// Any constant works; it keeps two instances starting at once from migrating concurrently.
const MIGRATION_LOCK = 0x41_47_54_42;

/**
 * Brings the ledger's schema up to date, in one transaction under an advisory lock (so instances
 * starting at once take turns): creates `schema` (default the ledger's) if needed, applies the
 * versioned migrations in ledger/migrations (`NNN_name.sql`, in order) that the database has not
 * seen, then every SQL function in ledger/functions (`name.sql`, one `CREATE OR REPLACE FUNCTION`
 * each, in name order). Migrations hold schema changes only; the functions are replaced on every
 * start, so a fresh database and an upgraded one run the same definitions. A function whose
 * arguments or result columns change needs a migration that drops the old one first
 * (`DROP FUNCTION IF EXISTS name(old argument types)`), or the old overload stays beside it.
 *
 * @returns the versions applied now.
 * @example
 * await migrate(sql);
 */
export async function migrate(sql: Sql, { schema = LEDGER_SCHEMA }: { schema?: string } = {}): Promise<number[]> {
  const migrations = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const functions = (await readdir(FUNCTIONS_DIR)).filter((f) => /^[a-z0-9_]+\.sql$/.test(f)).sort();
  const applied: number[] = [];
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE SCHEMA IF NOT EXISTS ${tx(schema)}`;
    await tx`CREATE TABLE IF NOT EXISTS ${tx(schema)}.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set((await tx<{ version: number }[]>`SELECT version FROM ${tx(schema)}.schema_migrations`).map((r) => r.version));
    await tx.unsafe(`SET LOCAL search_path TO "${schema.replaceAll('"', '""')}"`);
    for (const file of migrations) {
      const version = Number(file.slice(0, 3));
      if (done.has(version)) continue;
      await tx.unsafe(await readFile(path.join(MIGRATIONS_DIR, file), "utf8"));
      await tx`INSERT INTO ${tx(schema)}.schema_migrations (version, name) VALUES (${version}, ${file})`;
      applied.push(version);
    }
    for (const file of functions) await tx.unsafe(await readFile(path.join(FUNCTIONS_DIR, file), "utf8"));
  });
  return applied;
}
