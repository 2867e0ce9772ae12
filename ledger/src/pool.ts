import postgres from "postgres";
import type { Sql } from "postgres";

/**
 * The ledger's schema in the shared database (the indexer's views live in another). Named when
 * the API was its only user; renaming it would move every table of a ledger in use.
 */
export const LEDGER_SCHEMA = "agenttab_api";

export type LedgerPoolOptions = {
  /** Connections at most (default 20). */
  max?: number;
  /** What `pg_stat_activity` shows for this pool's sessions (default "agenttab-api"). */
  applicationName?: string;
};

/**
 * A connection pool on the ledger's schema, for every process that reads or writes it (the API,
 * the settlement): one place for its reconnect and timeout settings. postgres.js 3.4.9 is patched
 * (`patches/`, applied on install): unpatched, a connection cut while a write was queued sent
 * nothing on every later reconnect (each query then failed with CONNECT_TIMEOUT, for good), and a
 * transaction's rollback on a closed socket threw an uncaught TypeError.
 * `test/reliability/dbReconnect.test.ts` checks both.
 *
 * @example
 * const sql = ledgerPool(process.env.DATABASE_URL!, { max: 4, applicationName: "agenttab-settle" });
 * await migrate(sql);
 */
export function ledgerPool(databaseUrl: string, { max = 20, applicationName = "agenttab-api" }: LedgerPoolOptions = {}): Sql {
  return postgres(databaseUrl, {
    max,
    connection: { search_path: LEDGER_SCHEMA, application_name: applicationName },
    onnotice: () => {},
    // Reconnect within a second of the server coming back: postgres.js's default backoff grows
    // to 20 s after a few failed attempts, during which every call waits instead of failing.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2),
    // A connection attempt to the ledger takes milliseconds; one that hangs fails the call as
    // `database_unavailable` after 10 s instead of postgres.js's default 30 s.
    connect_timeout: 10,
  });
}
