import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import postgres from "postgres";
import type { Sql } from "postgres";

import { migrate } from "@agenttab/ledger";

declare module "fastify" {
  interface FastifyInstance {
    /** postgres.js on the API's own schema (search_path); chain views are read schema-qualified. */
    sql: Sql;
  }
}

/** The ledger's schema in the shared database. */
export const API_SCHEMA = "agenttab_api";

/**
 * The ledger's connection pool. postgres.js 3.4.9 is patched (`patches/`, applied on install):
 * unpatched, a connection cut while a write was queued sent nothing on every later reconnect
 * (each query then failed with CONNECT_TIMEOUT, for good), and a transaction's rollback on a
 * closed socket threw an uncaught TypeError. `test/reliability/dbReconnect.test.ts` checks both.
 *
 * @example
 * const sql = ledgerPool(process.env.DATABASE_URL!);
 */
export function ledgerPool(databaseUrl: string, { max = 20 }: { max?: number } = {}): Sql {
  return postgres(databaseUrl, {
    max,
    connection: { search_path: API_SCHEMA, application_name: "agenttab-api" },
    onnotice: () => {},
    // Reconnect within a second of the server coming back: postgres.js's default backoff grows
    // to 20 s after a few failed attempts, during which every call waits instead of failing.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2),
    // A connection attempt to the ledger takes milliseconds; one that hangs fails the call as
    // `database_unavailable` after 10 s instead of postgres.js's default 30 s.
    connect_timeout: 10,
  });
}

/** Connects to PostgreSQL, applies pending migrations, and closes the pool on shutdown. */
export default fp(
  async function db(app: FastifyInstance, { databaseUrl, maxConnections = 20 }: { databaseUrl: string; maxConnections?: number }) {
    const sql = ledgerPool(databaseUrl, { max: maxConnections });
    const applied = await migrate(sql, { schema: API_SCHEMA });
    if (applied.length > 0) app.log.info({ applied }, "applied database migrations");
    app.decorate("sql", sql);
    app.addHook("onClose", async () => {
      await sql.end({ timeout: 5 });
    });
  },
  { name: "agenttab-db" },
);
