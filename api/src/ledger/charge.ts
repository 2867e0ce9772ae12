import type { Sql } from "postgres";

import { batcher } from "./batcher.ts";
import type { Reservation } from "./reserve.ts";
import { isTransaction } from "./transaction.ts";

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
 * Turns a reservation into a charge (`charge_call`, migrations/012–013, batched by `charge_calls`
 * with the charges arriving at the same time: one statement, one commit for all): the actual
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
  const call: ChargeCall = {
    request_id: reservation.requestId,
    account: reservation.account,
    amount: details.amount.toString(),
    fee: details.fee.toString(),
    method: details.method,
    path: details.path,
    status: details.upstreamStatus,
    latency_ms: details.latencyMs,
    issued_at: details.issuedAt.toString(),
  };
  const cumulative = isTransaction(sql) ? (await chargeBatch(sql, [call]))[0] : await batcherOf(chargeBatchers, sql, chargeBatch).submit(call);
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
  const call: ReleaseCall = {
    request_id: reservation.requestId,
    account: reservation.account,
    status: outcome?.upstreamStatus ?? null,
    error: outcome?.error ?? null,
    latency_ms: outcome?.latencyMs ?? null,
  };
  return isTransaction(sql) ? (await releaseBatch(sql, [call]))[0] === true : (await batcherOf(releaseBatchers, sql, releaseBatch).submit(call)) === true;
}

/** One charge, as `charge_calls` (migrations/013) takes it. */
type ChargeCall = {
  request_id: string;
  account: string;
  amount: string;
  fee: string;
  method: string;
  path: string;
  status: number;
  latency_ms: number;
  issued_at: string;
};
/** One release, as `release_calls` (migrations/013) takes it. */
type ReleaseCall = { request_id: string; account: string; status: number | null; error: string | null; latency_ms: number | null };

/** Charges a batch in one statement; per call its track's new cumulative, or undefined when its reservation was gone. */
async function chargeBatch(sql: Sql, calls: ChargeCall[]): Promise<(string | undefined)[]> {
  const rows = await sql<{ i: number; cumulative: string }[]>`
    SELECT * FROM charge_calls(${JSON.stringify(calls.map((call, i) => ({ i, ...call })))}::text::jsonb)`;
  const ordered: (string | undefined)[] = new Array(calls.length).fill(undefined);
  for (const row of rows) ordered[row.i] = row.cumulative;
  return ordered;
}

/** Releases a batch in one statement; per call whether this released it. */
async function releaseBatch(sql: Sql, calls: ReleaseCall[]): Promise<boolean[]> {
  const rows = await sql<{ i: number; released: boolean }[]>`
    SELECT * FROM release_calls(${JSON.stringify(calls.map((call, i) => ({ i, ...call })))}::text::jsonb)`;
  const ordered: boolean[] = new Array(calls.length).fill(false);
  for (const row of rows) ordered[row.i] = row.released;
  return ordered;
}

type Batcher<In, Out> = ReturnType<typeof batcher<In, Out>>;
const chargeBatchers = new WeakMap<Sql, Batcher<ChargeCall, string | undefined>>();
const releaseBatchers = new WeakMap<Sql, Batcher<ReleaseCall, boolean>>();

/** The pool's one batcher of a kind (created on first use). */
function batcherOf<In, Out>(batchers: WeakMap<Sql, Batcher<In, Out>>, sql: Sql, run: (sql: Sql, calls: In[]) => Promise<Out[]>): Batcher<In, Out> {
  let found = batchers.get(sql);
  if (!found) batchers.set(sql, (found = batcher((calls: In[]) => run(sql, calls))));
  return found;
}
