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
 */
export function applyLedgerOp(sql: Sql, op: LedgerOp): Promise<LedgerResult | undefined> {
  if (isTransaction(sql)) return runBatch(sql, [op]).then((rows) => rows[0]);
  let found = batchers.get(sql);
  if (!found) batchers.set(sql, (found = batcher((ops: LedgerOp[]) => runBatch(sql, ops))));
  return found.submit(op);
}

const batchers = new WeakMap<Sql, ReturnType<typeof batcher<LedgerOp, LedgerResult | undefined>>>();

async function runBatch(sql: Sql, ops: LedgerOp[]): Promise<(LedgerResult | undefined)[]> {
  const rows = await sql<(LedgerResult & { i: number })[]>`
    SELECT * FROM ledger_batch(${JSON.stringify(ops.map((op, i) => ({ i, ...op })))}::text::jsonb)`;
  const ordered: (LedgerResult | undefined)[] = new Array(ops.length).fill(undefined);
  for (const row of rows) ordered[row.i] = row;
  return ordered;
}
