import type { Address, Hex } from "viem";

import type { BatchPlan, Entry, PayoutLine } from "./types.ts";

/** A plan as JSON (bigints as decimal strings), for the settlement_batches.plan column. */
export function planToJson(plan: BatchPlan): unknown {
  const big = (v: bigint) => v.toString();
  return {
    seq: big(plan.seq),
    batchId: plan.batchId,
    chainId: plan.chainId,
    escrow: plan.escrow,
    fee: big(plan.fee),
    ...(plan.feeBps === undefined ? {} : { feeBps: plan.feeBps }),
    failedBefore: plan.failedBefore,
    entries: plan.entries.map((e) => ({
      account: e.account,
      signer: e.signer,
      voucherMax: big(e.voucherMax),
      signature: e.signature,
      cumulative: big(e.cumulative),
      claimedOnChain: big(e.claimedOnChain),
      delta: big(e.delta),
      fee: big(e.fee),
      chargeCount: e.chargeCount,
      shares: e.shares.map((s) => ({ provider: s.provider, amount: big(s.amount), fee: big(s.fee), calls: s.calls })),
    })),
    payouts: plan.payouts.map((p) => ({ ...p, amount: big(p.amount), fee: big(p.fee) })),
  };
}

type Json = Record<string, any>;

/** The inverse of {@link planToJson}. */
export function planFromJson(json: unknown): BatchPlan {
  const j = json as Json;
  return {
    seq: BigInt(j.seq),
    batchId: j.batchId as Hex,
    chainId: Number(j.chainId),
    escrow: j.escrow as Address,
    fee: BigInt(j.fee),
    ...(j.feeBps === undefined ? {} : { feeBps: Number(j.feeBps) }),
    failedBefore: String(j.failedBefore),
    entries: (j.entries as Json[]).map(
      (e): Entry => ({
        account: e.account,
        signer: e.signer,
        voucherMax: BigInt(e.voucherMax),
        signature: e.signature,
        cumulative: BigInt(e.cumulative),
        claimedOnChain: BigInt(e.claimedOnChain),
        delta: BigInt(e.delta),
        fee: BigInt(e.fee),
        chargeCount: Number(e.chargeCount),
        shares: (e.shares as Json[]).map((s) => ({ provider: s.provider, amount: BigInt(s.amount), fee: BigInt(s.fee), calls: Number(s.calls) })),
      }),
    ),
    payouts: (j.payouts as Json[]).map(
      (p): PayoutLine => ({ provider: p.provider, amount: BigInt(p.amount), fee: BigInt(p.fee), callsServed: Number(p.callsServed), callsFailed: Number(p.callsFailed) }),
    ),
  };
}
