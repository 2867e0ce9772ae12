import type { Sql } from "postgres";

import type { Reservation } from "./reserve.ts";

/** What the charge records about the call. */
export type ChargeDetails = {
  amount: bigint;
  fee: bigint;
  provider: string;
  method: string;
  path: string;
  upstreamStatus: number;
  latencyMs: number;
  issuedAt: bigint;
  /** Signs the receipt once the signer's new cumulative is known (inside the transaction). */
  signReceipt: (cumulative: bigint) => Promise<string>;
};

/**
 * Turns a reservation into a charge: the actual amount (≤ the reserved maximum) joins the
 * signer's and the account's charged totals, the hold is released, and the charge row with its
 * signed receipt is written, all in one transaction that commits before the response is sent.
 *
 * @returns the signer's new cumulative charged total and the receipt signature.
 */
export async function charge(sql: Sql, reservation: Reservation, details: ChargeDetails): Promise<{ cumulative: bigint; receiptSignature: string }> {
  if (details.amount > reservation.maxAmount) throw new Error(`charge ${details.amount} above its reservation ${reservation.maxAmount}`);
  const { account, signer, requestId, serviceId } = reservation;
  const max = reservation.maxAmount.toString();
  const amount = details.amount.toString();
  return sql.begin(async (tx) => {
    const [ledger] = await tx`SELECT 1 FROM ledger_accounts WHERE account = ${account} FOR UPDATE`;
    if (!ledger) throw new Error(`no ledger row for ${account}`);
    const [track] = await tx<{ charged: string; voucher_max: string }[]>`
      UPDATE spend_tracks SET charged = charged + ${amount}, reserved = reserved - ${max}, updated_at = now()
      WHERE account = ${account} AND signer = ${signer}
      RETURNING charged, voucher_max`;
    if (!track) throw new Error(`no spend track for ${account}/${signer}`);
    await tx`UPDATE ledger_accounts SET charged = charged + ${amount}, reserved = reserved - ${max} WHERE account = ${account}`;
    const deleted = await tx`DELETE FROM reservations WHERE request_id = ${requestId}`;
    if (deleted.count !== 1) throw new Error(`reservation ${requestId} is gone (expired and swept?)`);
    const cumulative = BigInt(track.charged);
    const receiptSignature = await details.signReceipt(cumulative);
    await tx`
      INSERT INTO charges (request_id, account, signer, service_id, provider, amount, fee, cumulative, voucher_max,
                           method, path, upstream_status, latency_ms, issued_at, receipt_signature)
      VALUES (${requestId}, ${account}, ${signer}, ${serviceId}, ${details.provider.toLowerCase()}, ${amount},
              ${details.fee.toString()}, ${track.charged}, ${track.voucher_max}, ${details.method}, ${details.path},
              ${details.upstreamStatus}, ${details.latencyMs}, ${details.issuedAt.toString()}, ${receiptSignature})`;
    return { cumulative, receiptSignature };
  });
}

/**
 * Releases a reservation without charging (the upstream failed, timed out, or the call was
 * refused after reserving). Idempotent: a reservation already released or charged is left alone.
 */
export async function release(sql: Sql, reservation: Reservation): Promise<void> {
  const { account, signer, requestId } = reservation;
  const max = reservation.maxAmount.toString();
  await sql.begin(async (tx) => {
    await tx`SELECT 1 FROM ledger_accounts WHERE account = ${account} FOR UPDATE`;
    const deleted = await tx`DELETE FROM reservations WHERE request_id = ${requestId}`;
    if (deleted.count === 0) return;
    await tx`UPDATE spend_tracks SET reserved = reserved - ${max}, updated_at = now() WHERE account = ${account} AND signer = ${signer}`;
    await tx`UPDATE ledger_accounts SET reserved = reserved - ${max} WHERE account = ${account}`;
  });
}
