import type { Sql } from "postgres";
import { getAddress } from "viem";
import type { Address } from "viem";

/** A spend track with charges no settlement has claimed yet (addresses lowercase, as stored). */
export type UnsettledTrack = {
  account: string;
  signer: string;
  /** '' on a track from before vouchers named their provider (migration 012). */
  provider: string;
  voucherMax: bigint;
  voucherSignature: string | null;
  /** The track's charged total now: what a claim on it settles up to. */
  charged: bigint;
};

/**
 * Every spend track (account, signer, provider) with unsettled charges, in (account, signer,
 * provider) order; only those of `accounts` when given (the watchtower's settlement).
 *
 * @example
 * const tracks = await listUnsettledTracks(sql, { accounts: ["0xabc…"] });
 */
export async function listUnsettledTracks(sql: Sql, { accounts }: { accounts?: readonly Address[] | undefined } = {}): Promise<UnsettledTrack[]> {
  const only = accounts === undefined ? sql`` : sql`AND t.account IN ${sql(accounts.map((a) => a.toLowerCase()))}`;
  const rows = await sql<{ account: string; signer: string; provider: string; voucher_max: string; voucher_signature: string | null; charged: string }[]>`
    SELECT t.account, t.signer, t.provider, t.voucher_max::text, t.voucher_signature, t.charged::text
    FROM spend_tracks t
    WHERE t.charged > 0 ${only} AND EXISTS (
      SELECT 1 FROM charges c
      WHERE c.account = t.account AND c.signer = t.signer AND c.provider = t.provider AND c.settlement_batch IS NULL)
    ORDER BY t.account, t.signer, t.provider`;
  return rows.map((r) => ({
    account: r.account,
    signer: r.signer,
    provider: r.provider,
    voucherMax: BigInt(r.voucher_max),
    voucherSignature: r.voucher_signature,
    charged: BigInt(r.charged),
  }));
}

/**
 * A track's unsettled charges up to its cumulative total `upTo`: their sum and count. A claim up to
 * `upTo` must debit exactly this sum, or the ledger and the chain disagree.
 *
 * @example
 * const { amount, calls } = await sumUnsettledCharges(sql, { ...track, upTo: track.charged });
 */
export async function sumUnsettledCharges(
  sql: Sql,
  { account, signer, provider, upTo }: { account: string; signer: string; provider: string; upTo: bigint },
): Promise<{ amount: bigint; calls: number }> {
  const [row] = await sql<{ amount: string; calls: number }[]>`
    SELECT coalesce(sum(amount), 0)::text AS amount, count(*)::int AS calls
    FROM charges
    WHERE account = ${account.toLowerCase()} AND signer = ${signer.toLowerCase()} AND provider = ${provider.toLowerCase()}
      AND settlement_batch IS NULL AND cumulative <= ${upTo.toString()}`;
  return { amount: BigInt(row?.amount ?? "0"), calls: row?.calls ?? 0 };
}

/**
 * Counted failed calls (ok = false, counted: with a paid call of their account behind them, see
 * ledger/functions/record_failed_call.sql) not yet reported, per provider, up to `before` (ISO).
 *
 * @example
 * const failed = await failedCalls(sql, await ledgerNow(sql));
 */
export async function failedCalls(sql: Sql, before: string): Promise<Map<Address, number>> {
  const rows = await sql<{ provider: string; failed: number }[]>`
    SELECT s.provider, count(*)::int AS failed
    FROM call_outcomes o JOIN services s ON s.id = o.service_id
    WHERE o.ok = false AND o.counted AND o.settlement_batch IS NULL AND o.created_at <= ${before}
    GROUP BY s.provider`;
  return new Map(rows.map((r) => [getAddress(r.provider), r.failed]));
}

/** The database's clock now, ISO to the microsecond (UTC): the cut-off a batch reports failures up to. */
export async function ledgerNow(sql: Sql): Promise<string> {
  const [now] = await sql<{ at: string }[]>`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`;
  return now?.at ?? new Date().toISOString();
}
