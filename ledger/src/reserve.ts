import type { Sql } from "postgres";
import type { Address, Hex } from "viem";

import { applyLedgerOp } from "./batch.ts";
import { ApiError } from "./errors.ts";

/** A call's hold on an agent's balance and on one spend track's voucher, until charged or released. */
export type Reservation = {
  requestId: string;
  account: string;
  signer: string;
  /** The provider the track's vouchers pay: the serving service's (lowercase). */
  provider: string;
  serviceId: string;
  maxAmount: bigint;
  /** Calls left in the (agent, service) rate-limit window. */
  rateRemaining: number;
};

type ReserveParameters = {
  requestId: string;
  account: Address;
  signer: Address;
  /** The serving service's provider: the voucher names it, and its track is the one reserved on. */
  provider: Address;
  serviceId: string;
  maxAmount: bigint;
  voucherMax: bigint;
  signature: Hex;
  /** The Ponder views schema (chain state). */
  viewsSchema: string;
  ttlMs: number;
  rateLimit?: { max: number; windowMs: number };
};

/**
 * Counts the call against the rate limit and reserves its maximum price on the (account, signer,
 * provider) spend track with `reserve_call` (ledger/functions/reserve_call.sql; applied with the reservations, charges
 * and releases arriving at the same time by `ledger_batch`, ledger/functions: one statement and one
 * commit for all), atomically with
 * every check that keeps the escrow whole:
 *
 *   available = indexed balance − pending withdrawal − (charged − claimed on-chain) − reserved
 *   voucher   ≥ the track's charged + reserved + this maximum
 *   a delegate: Σ over its tracks on the account (charged + reserved) + this maximum ≤ its cap
 *
 * The account's ledger row is locked while this runs, so concurrent calls by one agent (or by the
 * members spending one owner's deposit) serialize and can never overdraw. The voucher is stored
 * when it beats the best one seen, before anything is forwarded.
 *
 * @throws {ApiError} 429 `rate_limited`; 402 `insufficient_funds`, `voucher_too_low`,
 * `delegate_not_authorized`, `delegate_expired`, `delegate_cap_exceeded`. Each carries
 * `X-ACF-Rate-Limit-Remaining`.
 */
export async function reserve(sql: Sql, p: ReserveParameters): Promise<Reservation> {
  const account = p.account.toLowerCase();
  const signer = p.signer.toLowerCase();
  const provider = p.provider.toLowerCase();
  const rateLimit = p.rateLimit ?? { max: 2 ** 31 - 1, windowMs: 60_000 };
  const row = await applyLedgerOp(sql, {
    op: "reserve",
    request_id: p.requestId,
    account,
    signer,
    provider,
    service_id: p.serviceId,
    max: p.maxAmount.toString(),
    voucher_max: p.voucherMax.toString(),
    signature: p.signature,
    views_schema: p.viewsSchema,
    ttl_ms: p.ttlMs,
    rate_max: rateLimit.max,
    window_ms: rateLimit.windowMs,
  });
  if (!row) throw new Error("reserve_call returned nothing");
  const headers = { "x-acf-rate-limit-remaining": String(row.rate_remaining) };
  const refused = (code: string, message: string, details: Record<string, unknown>, reason = "insufficient_funds") =>
    new ApiError({ status: 402, code, message, reason, details, headers });
  switch (row.outcome) {
    case "reserved":
      return { requestId: p.requestId, account, signer, provider, serviceId: p.serviceId, maxAmount: p.maxAmount, rateRemaining: row.rate_remaining };
    case "rate_limited":
      throw new ApiError({
        status: 429,
        code: "rate_limited",
        message: `Rate limit of ${rateLimit.max} calls per ${rateLimit.windowMs / 1000} s reached for this service`,
        headers: { ...headers, "retry-after": String(row.retry_after) },
      });
    case "delegate_not_authorized":
      throw refused("delegate_not_authorized", `${p.signer} is not an active delegate of ${p.account}`, {}, "invalid_payload");
    case "delegate_expired":
      throw refused("delegate_expired", `The delegation of ${p.signer} expires at ${row.expires_at}`, { expiresAt: row.expires_at }, "invalid_payload");
    case "delegate_cap_exceeded":
      throw refused(
        "delegate_cap_exceeded",
        `This call would take ${p.signer} past its cap of ${row.cap}: it has spent or holds ${row.spent} over all providers, and this call may cost up to ${p.maxAmount}`,
        { cap: row.cap, spent: row.spent, charged: row.charged },
      );
    case "voucher_too_low":
      throw refused(
        "voucher_too_low",
        `The voucher covers ${p.voucherMax}; this call needs a cumulative of at least ${row.required} (charged and in flight on this provider's track ${row.charged}, plus up to ${p.maxAmount})`,
        { charged: row.charged, required: row.required },
        "invalid_payload",
      );
    case "insufficient_funds":
      throw refused("insufficient_funds", `Available balance ${row.available} is below this call's maximum ${p.maxAmount}`, {
        available: row.available,
        required: p.maxAmount.toString(),
      });
    default:
      throw new Error(`reserve_call: unknown outcome ${row.outcome}`);
  }
}

