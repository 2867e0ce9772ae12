import type { Sql } from "postgres";
import type { Address, Hex } from "viem";

import { ApiError } from "../errors.ts";

/** A call's hold on an agent's balance and on its signer's voucher, until charged or released. */
export type Reservation = {
  requestId: string;
  account: string;
  signer: string;
  serviceId: string;
  maxAmount: bigint;
};

type ReserveParameters = {
  requestId: string;
  account: Address;
  signer: Address;
  serviceId: string;
  maxAmount: bigint;
  voucherMax: bigint;
  signature: Hex;
  /** The Ponder views schema (chain state). */
  viewsSchema: string;
  ttlMs: number;
};

const paymentRefused = (code: string, message: string, details: Record<string, unknown>, reason = "insufficient_funds") =>
  new ApiError({ status: 402, code, message, reason, details });

/**
 * Reserves a call's maximum price, atomically with every check that keeps the escrow whole:
 *
 *   available = indexed balance − pending withdrawal − (charged − claimed on-chain) − reserved
 *   voucher   ≥ the signer's charged + reserved + this maximum (and, for a delegate, within its cap)
 *
 * The account's ledger row is locked for the transaction, so concurrent calls by one agent (or by
 * the members spending one owner's deposit) serialize here and can never overdraw. The voucher is
 * stored when it beats the best one seen, before anything is forwarded.
 *
 * @throws {ApiError} 402 `insufficient_funds`, `voucher_too_low`, `delegate_not_authorized`,
 * `delegate_expired`, `delegate_cap_exceeded`.
 */
export async function reserve(sql: Sql, p: ReserveParameters): Promise<Reservation> {
  const account = p.account.toLowerCase();
  const signer = p.signer.toLowerCase();
  return sql.begin(async (tx) => {
    await tx`INSERT INTO ledger_accounts (account) VALUES (${account}) ON CONFLICT DO NOTHING`;
    const [ledger] = await tx<{ charged: string; reserved: string }[]>`
      SELECT charged, reserved FROM ledger_accounts WHERE account = ${account} FOR UPDATE`;
    await tx`INSERT INTO spend_tracks (account, signer) VALUES (${account}, ${signer}) ON CONFLICT DO NOTHING`;
    const [track] = await tx<{ charged: string; reserved: string; voucher_max: string }[]>`
      SELECT charged, reserved, voucher_max FROM spend_tracks WHERE account = ${account} AND signer = ${signer} FOR UPDATE`;
    const [chain] = await tx<{ balance: string; claimed: string; pending_withdrawal: string }[]>`
      SELECT balance, claimed, pending_withdrawal FROM ${tx(p.viewsSchema)}.agent_account WHERE address = ${account}`;
    if (!ledger || !track) throw new Error("ledger rows missing after insert");

    const trackCharged = BigInt(track.charged);
    const trackReserved = BigInt(track.reserved);
    const needed = trackCharged + trackReserved + p.maxAmount;
    if (signer !== account) {
      const [delegation] = await tx<{ cap: string; expires_at: string; active: boolean }[]>`
        SELECT cap, expires_at, active FROM ${tx(p.viewsSchema)}.delegation WHERE account = ${account} AND delegate = ${signer}`;
      if (!delegation?.active) {
        throw paymentRefused("delegate_not_authorized", `${p.signer} is not an active delegate of ${p.account}`, {}, "invalid_payload");
      }
      const expiresAt = BigInt(delegation.expires_at);
      // A margin, so that the weekly settlement can still claim what is charged now.
      if (expiresAt !== 0n && expiresAt * 1000n <= BigInt(Date.now() + p.ttlMs)) {
        throw paymentRefused("delegate_expired", `The delegation of ${p.signer} expires at ${expiresAt}`, { expiresAt: expiresAt.toString() }, "invalid_payload");
      }
      if (needed > BigInt(delegation.cap)) {
        throw paymentRefused("delegate_cap_exceeded", `This call would take ${p.signer} past its cap of ${delegation.cap}`, {
          cap: delegation.cap,
          charged: (trackCharged + trackReserved).toString(),
        });
      }
    }
    if (p.voucherMax < needed) {
      throw paymentRefused(
        "voucher_too_low",
        `The voucher covers ${p.voucherMax}; this call needs a cumulative of at least ${needed} (charged and in flight ${trackCharged + trackReserved}, plus up to ${p.maxAmount})`,
        { charged: (trackCharged + trackReserved).toString(), required: needed.toString() },
        "invalid_payload",
      );
    }

    const balance = chain ? BigInt(chain.balance) : 0n;
    const withdrawing = chain ? BigInt(chain.pending_withdrawal) : 0n;
    const unsettled = BigInt(ledger.charged) - (chain ? BigInt(chain.claimed) : 0n);
    const available = balance - withdrawing - (unsettled > 0n ? unsettled : 0n) - BigInt(ledger.reserved);
    if (available < p.maxAmount) {
      throw paymentRefused("insufficient_funds", `Available balance ${available > 0n ? available : 0n} is below this call's maximum ${p.maxAmount}`, {
        available: (available > 0n ? available : 0n).toString(),
        required: p.maxAmount.toString(),
      });
    }

    await tx`UPDATE ledger_accounts SET reserved = reserved + ${p.maxAmount.toString()} WHERE account = ${account}`;
    await tx`
      UPDATE spend_tracks SET
        reserved = reserved + ${p.maxAmount.toString()},
        voucher_max = GREATEST(voucher_max, ${p.voucherMax.toString()}),
        voucher_signature = CASE WHEN ${p.voucherMax.toString()}::numeric > voucher_max THEN ${p.signature} ELSE voucher_signature END,
        updated_at = now()
      WHERE account = ${account} AND signer = ${signer}`;
    await tx`
      INSERT INTO reservations (request_id, account, signer, service_id, max_amount, expires_at)
      VALUES (${p.requestId}, ${account}, ${signer}, ${p.serviceId}, ${p.maxAmount.toString()}, now() + ${`${p.ttlMs} milliseconds`}::interval)`;
    return { requestId: p.requestId, account, signer, serviceId: p.serviceId, maxAmount: p.maxAmount };
  });
}
