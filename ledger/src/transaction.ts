import type { Sql } from "postgres";

/** Whether `sql` is a postgres.js transaction (the `sql` a `begin` callback gets), not the pool. */
export function isTransaction(sql: Sql): boolean {
  return typeof (sql as unknown as { savepoint?: unknown }).savepoint === "function";
}
