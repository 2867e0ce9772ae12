import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import type { Sql } from "postgres";

import { LEDGER_SCHEMA } from "./pool.ts";

const MIGRATIONS_DIR = path.join(import.meta.dirname, "..", "migrations");
// Any constant works; it keeps two instances starting at once from migrating concurrently.
const MIGRATION_LOCK = 0x41_47_54_42;

/**
 * Applies the versioned SQL files in ledger/migrations (`NNN_name.sql`, in order) that the
 * database has not seen, in one transaction, and creates `schema` (default the ledger's) if needed.
 *
 * @returns the versions applied now.
 * @example
 * await migrate(sql);
 */
export async function migrate(sql: Sql, { schema = LEDGER_SCHEMA }: { schema?: string } = {}): Promise<number[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const applied: number[] = [];
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE SCHEMA IF NOT EXISTS ${tx(schema)}`;
    await tx`CREATE TABLE IF NOT EXISTS ${tx(schema)}.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set((await tx<{ version: number }[]>`SELECT version FROM ${tx(schema)}.schema_migrations`).map((r) => r.version));
    for (const file of files) {
      const version = Number(file.slice(0, 3));
      if (done.has(version)) continue;
      const text = await readFile(path.join(MIGRATIONS_DIR, file), "utf8");
      await tx.unsafe(`SET LOCAL search_path TO "${schema.replaceAll('"', '""')}"`);
      await tx.unsafe(text);
      await tx`INSERT INTO ${tx(schema)}.schema_migrations (version, name) VALUES (${version}, ${file})`;
      applied.push(version);
    }
  });
  return applied;
}
