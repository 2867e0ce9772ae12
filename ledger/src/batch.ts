import type { Sql } from "postgres";

import { batcher } from "./batcher.ts";
import { isTransaction } from "./transaction.ts";

/** A reservation, as `ledger_batch` (ledger/functions/ledger_batch.sql) takes it: reserve_call's parameters. */
export type ReserveOp = {
  op: "reserve";
  account: string;
  request_id: string;
  signer: string;
  provider: string;
  service_id: string;
  max: string;
  voucher_max: string;
  signature: string;
  views_schema: string;
  ttl_ms: number;
  rate_max: number;
  window_ms: number;
};
/** A charge: charge_call's parameters. */
export type ChargeOp = {
  op: "charge";
  account: string;
  request_id: string;
  amount: string;
  fee: string;
  method: string;
  path: string;
  status: number;
  latency_ms: number;
  issued_at: string;
};
/** A release: release_call's parameters (latency_ms null: record no outcome). */
export type ReleaseOp = { op: "release"; account: string; request_id: string; status: number | null; error: string | null; latency_ms: number | null };
export type LedgerOp = ReserveOp | ChargeOp | ReleaseOp;

/** One call's row from `ledger_batch`: reserve_call's columns for a reservation, `cumulative` for a charge, `released` for a release. */
export type LedgerResult = {
  outcome: string;
  rate_remaining: number;
  retry_after: number;
  charged: string | null;
  required: string | null;
  available: string | null;
  cap: string | null;
  expires_at: string | null;
  spent: string | null;
  /** A charge's track total after it; null when its reservation was gone. */
  cumulative: string | null;
  released: boolean | null;
};

/**
 * Applies one reservation, charge or release. On the pool it joins the others arriving at the same
 * time (group commit: one `ledger_batch` statement, one transaction, one commit for all); inside a
 * caller's transaction (a team member's reservation) it is that transaction's own statement.
 *
 * The pool's calls are split into {@link LEDGER_SHARDS} streams by account, each with one batch
 * at a time: two batches of one instance never hold the same account's row, so they run side by
 * side on two connections instead of waiting for each other's locks.
 */
export function applyLedgerOp(sql: Sql, op: LedgerOp): Promise<LedgerResult | undefined> {
  if (isTransaction(sql)) return runBatch(sql, [op]).then((rows) => rows[0]);
  let shards = batchers.get(sql);
  if (!shards) {
    shards = Array.from({ length: LEDGER_SHARDS }, () => batcher((ops: LedgerOp[]) => runBatch(sql, ops)));
    batchers.set(sql, shards);
  }
  return (shards[shardOf(op.account)] as Batcher).submit(op);
}

/** Batch streams per pool (each one batch in flight). */
export const LEDGER_SHARDS = Number(process.env.AGENTTAB_LEDGER_SHARDS ?? 2);

/** A lowercase 0x address's stream: its last byte, modulo the number of streams. */
function shardOf(account: string): number {
  return Number.parseInt(account.slice(-2), 16) % LEDGER_SHARDS || 0;
}

type Batcher = ReturnType<typeof batcher<LedgerOp, LedgerResult | undefined>>;
const batchers = new WeakMap<Sql, Batcher[]>();

async function runBatch(sql: Sql, ops: LedgerOp[]): Promise<(LedgerResult | undefined)[]> {
  const rows = await sql<(LedgerResult & { i: number })[]>`
    SELECT * FROM ledger_batch(${JSON.stringify(ops.map((op, i) => ({ i, ...op })))}::text::jsonb)`;
  const ordered: (LedgerResult | undefined)[] = new Array(ops.length).fill(undefined);
  for (const row of rows) ordered[row.i] = row;
  return ordered;
}
