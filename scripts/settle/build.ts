import { encodeAbiParameters, keccak256 } from "viem";
import type { Address, Hex } from "viem";

import { encodeClaims } from "../../sdk/src/index.ts";
import type { BatchPlan, Entry, PayoutLine } from "./types.ts";

/** The batch id: keccak256(abi.encode(chainId, escrow, seq)), the same on every rerun of a recorded batch. */
export function batchIdOf(chainId: number, escrow: Address, seq: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "address" }, { type: "uint256" }], [BigInt(chainId), escrow, seq]));
}

/** Sums the entries' provider shares into payouts (served calls included), and adds the failed counts. */
export function payoutsOf(entries: Entry[], failed: Map<Address, number> = new Map()): { payouts: PayoutLine[]; fee: bigint } {
  const lines = new Map<Address, PayoutLine>();
  for (const e of entries) {
    for (const s of e.shares) {
      const line = lines.get(s.provider) ?? { provider: s.provider, amount: 0n, fee: 0n, callsServed: 0, callsFailed: failed.get(s.provider) ?? 0 };
      line.amount += s.amount - s.fee;
      line.fee += s.fee;
      line.callsServed += s.calls;
      lines.set(s.provider, line);
    }
  }
  const payouts = [...lines.values()].sort((a, b) => (a.provider.toLowerCase() < b.provider.toLowerCase() ? -1 : 1));
  return { payouts, fee: entries.reduce((sum, e) => sum + e.fee, 0n) };
}

/** A batch plan over `entries`. */
export function buildPlan(p: { chainId: number; escrow: Address; seq: bigint; entries: Entry[]; failed: Map<Address, number>; failedBefore: string; feeBps: number }): BatchPlan {
  const { payouts, fee } = payoutsOf(p.entries, p.failed);
  return {
    seq: p.seq,
    batchId: batchIdOf(p.chainId, p.escrow, p.seq),
    chainId: p.chainId,
    escrow: p.escrow,
    entries: p.entries,
    payouts,
    fee,
    feeBps: p.feeBps,
    failedBefore: p.failedBefore,
  };
}

/** The `settle` call's arguments for a plan. */
export function settleArgs(plan: Pick<BatchPlan, "batchId" | "entries" | "payouts" | "fee">) {
  const claims = encodeClaims(
    plan.entries.map((e) => ({ account: e.account, signer: e.signer, maxCumulative: e.voucherMax, cumulative: e.cumulative, signature: e.signature })),
  );
  const payouts = plan.payouts.map((p) => ({ provider: p.provider, amount: p.amount, callsServed: p.callsServed, callsFailed: p.callsFailed }));
  return [plan.batchId, claims, payouts, plan.fee] as const;
}
