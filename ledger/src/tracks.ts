import type { Sql } from "postgres";

/**
 * What a client must count as already spent on one (account, signer, provider) spend track before
 * signing its next voucher for that provider: charged plus the maxima of calls in flight (zero for
 * a track the ledger never saw). An unlocked read: the figure a 402 hands back, not a check.
 *
 * @example
 * const charged = await getTrackCharged(app.sql, { account, signer, provider });
 */
export async function getTrackCharged(sql: Sql, { account, signer, provider }: { account: string; signer: string; provider: string }): Promise<bigint> {
  const [row] = await sql<{ charged: string }[]>`
    SELECT charged + reserved AS charged FROM spend_tracks
    WHERE account = ${account.toLowerCase()} AND signer = ${signer.toLowerCase()} AND provider = ${provider.toLowerCase()}`;
  return BigInt(row?.charged ?? 0);
}
