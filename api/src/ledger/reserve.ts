import type { Sql } from "postgres";
import type { Address, Hex } from "viem";

import { ApiError } from "../errors.ts";
import { batcher } from "./batcher.ts";
import { isTransaction } from "./transaction.ts";

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

type ReserveRow = {
  outcome: string;
  rate_remaining: number;
  retry_after: number;
  charged: string | null;
  required: string | null;
  available: string | null;
  cap: string | null;
  expires_at: string | null;
  spent: string | null;
};

/**
 * Counts the call against the rate limit and reserves its maximum price on the (account, signer,
 * provider) spend track with `reserve_call` (migrations/012; batched with the calls arriving at the
 * same time by `reserve_calls`, migrations/013, one statement and one commit for all), atomically with
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
  const call: ReserveCall = {
    request_id: p.requestId,
    account,
    signer,
    provider,
    service_id: p.serviceId,
    max: p.maxAmount.toString(),
    voucher_max: p.voucherMax.toString(),
    signature: p.signature,
  };
  const settings: ReserveSettings = { viewsSchema: p.viewsSchema, ttlMs: p.ttlMs, rateMax: rateLimit.max, windowMs: rateLimit.windowMs };
  // Inside a caller's transaction (a team member's call) the statement is the transaction's own;
  // otherwise it joins the calls being reserved together (group commit).
  const row = isTransaction(sql) ? (await reserveBatch(sql, settings, [call]))[0] : await reserveBatcherOf(sql, settings).submit(call);
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

/** One call, as `reserve_calls` (migrations/013) takes it. */
type ReserveCall = {
  request_id: string;
  account: string;
  signer: string;
  provider: string;
  service_id: string;
  max: string;
  voucher_max: string;
  signature: string;
};
type ReserveSettings = { viewsSchema: string; ttlMs: number; rateMax: number; windowMs: number };

/** Reserves a batch in one statement (one transaction); a row per call, in the calls' order. */
async function reserveBatch(sql: Sql, settings: ReserveSettings, calls: ReserveCall[]): Promise<ReserveRow[]> {
  const rows = await sql<(ReserveRow & { i: number })[]>`
    SELECT * FROM reserve_calls(${JSON.stringify(calls.map((call, i) => ({ i, ...call })))}::text::jsonb, ${settings.viewsSchema},
      ${settings.ttlMs}, ${settings.rateMax}, ${settings.windowMs})`;
  const ordered: ReserveRow[] = new Array(calls.length);
  for (const row of rows) ordered[row.i] = row;
  for (let i = 0; i < calls.length; i++) if (!ordered[i]) throw new Error("reserve_calls answered no row for a call");
  return ordered;
}

const reserveBatchers = new WeakMap<Sql, Map<string, ReturnType<typeof batcher<ReserveCall, ReserveRow>>>>();
function reserveBatcherOf(sql: Sql, settings: ReserveSettings) {
  let bySettings = reserveBatchers.get(sql);
  if (!bySettings) reserveBatchers.set(sql, (bySettings = new Map()));
  const key = `${settings.viewsSchema}|${settings.ttlMs}|${settings.rateMax}|${settings.windowMs}`;
  let found = bySettings.get(key);
  if (!found) bySettings.set(key, (found = batcher((calls: ReserveCall[]) => reserveBatch(sql, settings, calls))));
  return found;
}
