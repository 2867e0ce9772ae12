import type { Sql } from "postgres";

import { release } from "./charge.ts";

/**
 * Releases reservations whose time ran out (the instance holding them died mid-call, say), so
 * that no balance stays held forever, and drops rate-limit windows older than a day. Safe to run
 * on every instance at once: `release` is idempotent and takes the account's lock.
 *
 * @returns how many reservations were released.
 */
export async function sweepExpired(sql: Sql, { batch = 200 }: { batch?: number } = {}): Promise<number> {
  const expired = await sql<{ request_id: string; account: string }[]>`
    SELECT request_id, account FROM reservations WHERE expires_at < now() ORDER BY expires_at LIMIT ${batch}`;
  let released = 0;
  for (const row of expired) {
    if (await release(sql, { requestId: row.request_id, account: row.account })) released++;
  }
  await sql`DELETE FROM rate_limit_windows WHERE window_start < now() - interval '1 day'`;
  return released;
}
