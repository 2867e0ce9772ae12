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
    feeBps: plan.feeBps,
    failedBefore: plan.failedBefore,
    entries: plan.entries.map((e) => ({
      account: e.account,
      signer: e.signer,
      provider: e.provider,
      voucherMax: big(e.voucherMax),
      signature: e.signature,
      cumulative: big(e.cumulative),
      claimedOnChain: big(e.claimedOnChain),
      delta: big(e.delta),
      chargeCount: e.chargeCount,
    })),
    payouts: plan.payouts.map((p) => ({ ...p, gross: big(p.gross), fee: big(p.fee), amount: big(p.amount) })),
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
    feeBps: Number(j.feeBps),
    failedBefore: String(j.failedBefore),
    entries: (j.entries as Json[]).map(
      (e): Entry => ({
        account: e.account,
        signer: e.signer,
        provider: e.provider,
        voucherMax: BigInt(e.voucherMax),
        signature: e.signature,
        cumulative: BigInt(e.cumulative),
        claimedOnChain: BigInt(e.claimedOnChain),
        delta: BigInt(e.delta),
        chargeCount: Number(e.chargeCount),
      }),
    ),
    payouts: (j.payouts as Json[]).map(
      (p): PayoutLine => ({
        provider: p.provider,
        gross: BigInt(p.gross),
        fee: BigInt(p.fee),
        amount: BigInt(p.amount),
        callsServed: Number(p.callsServed),
        callsFailed: Number(p.callsFailed),
      }),
    ),
  };
}
