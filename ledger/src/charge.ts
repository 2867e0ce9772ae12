import type { Sql } from "postgres";

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
 * Turns a reservation into a charge in one round trip (`charge_call`, migrations/012): the actual
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
  const [row] = await sql<{ cumulative: string }[]>`
    SELECT cumulative FROM charge_call(${reservation.requestId}, ${reservation.account}, ${details.amount.toString()},
      ${details.fee.toString()}, ${details.method}, ${details.path},
      ${details.upstreamStatus}, ${details.latencyMs}, ${details.issuedAt.toString()})`;
  if (!row) throw new Error("charge_call returned nothing");
  return { cumulative: BigInt(row.cumulative) };
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
  const [row] = await sql<{ released: boolean }[]>`
    SELECT release_call(${reservation.requestId}, ${reservation.account}, ${outcome?.upstreamStatus ?? null},
      ${outcome?.error ?? null}, ${outcome?.latencyMs ?? null}) AS released`;
  return row?.released === true;
}
