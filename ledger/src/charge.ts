import type { Sql } from "postgres";

import { applyLedgerOp } from "./batch.ts";
import type { Reservation } from "./reserve.ts";

/** What the charge records about the call. */
export type ChargeDetails = {
  amount: bigint;
  fee: bigint;
  method: string;
  path: string;
  upstreamStatus: number;
  latencyMs: number;
  /** Receipt time, unix seconds. */
  issuedAt: bigint;
};

/**
 * Turns a reservation into a charge (`charge_call`, ledger/functions, applied with the calls
 * arriving at the same time by `ledger_batch`: one statement, one commit for all): the actual
 * amount (≤ the reserved maximum) joins its spend track's and the account's charged totals, the
 * hold is released, and the charge row (paying the track's provider, with every field its receipt
 * signs) and the call's outcome are written, in one transaction that commits before the response
 * is sent.
 *
 * @returns the (account, signer, provider) track's new cumulative charged total, which the
 * receipt carries.
 */
export async function charge(sql: Sql, reservation: Reservation, details: ChargeDetails): Promise<{ cumulative: bigint }> {
  if (details.amount > reservation.maxAmount) throw new Error(`charge ${details.amount} above its reservation ${reservation.maxAmount}`);
  const row = await applyLedgerOp(sql, {
    op: "charge",
    request_id: reservation.requestId,
    account: reservation.account,
    amount: details.amount.toString(),
    fee: details.fee.toString(),
    method: details.method,
    path: details.path,
    status: details.upstreamStatus,
    latency_ms: details.latencyMs,
    issued_at: details.issuedAt.toString(),
  });
  const cumulative = row?.cumulative ?? undefined;
  if (cumulative === undefined) throw new Error(`reservation ${reservation.requestId} is gone (expired and swept?)`);
  return { cumulative: BigInt(cumulative) };
}

/**
 * Releases a reservation without charging (the upstream failed, timed out, or the call was
 * refused after reserving), recording why when `outcome` is given. Idempotent: a reservation
 * already released or charged is left alone.
 *
 * @returns whether this call released it.
 */
export async function release(
  sql: Sql,
  reservation: Pick<Reservation, "requestId" | "account">,
  outcome?: { upstreamStatus: number | null; error: string | null; latencyMs: number },
): Promise<boolean> {
  const row = await applyLedgerOp(sql, {
    op: "release",
    request_id: reservation.requestId,
    account: reservation.account,
    status: outcome?.upstreamStatus ?? null,
    error: outcome?.error ?? null,
    latency_ms: outcome?.latencyMs ?? null,
  });
  return row?.released === true;
}
