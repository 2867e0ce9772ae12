import { encodeAbiParameters, keccak256 } from "viem";
import type { Address, Hex } from "viem";

import type { BatchPlan, Entry, PayoutLine } from "@agenttab/ledger/settlement";

import { encodeClaims, settlementProviders } from "@agenttab/sdk";

/** The batch id: keccak256(abi.encode(chainId, escrow, seq)), the same on every rerun of a recorded batch. */
export function batchIdOf(chainId: number, escrow: Address, seq: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "address" }, { type: "uint256" }], [BigInt(chainId), escrow, seq]));
}

/** The escrow's fee on a provider's batch gross: floor(gross · feeBps / 10 000), as `settle` computes it. */
export function providerFee(gross: bigint, feeBps: number): bigint {
  return (gross * BigInt(feeBps)) / 10_000n;
}

/**
 * The batch's provider lines, ascending by address as `settle` wants its reports: each provider's
 * gross (its entries' deltas), the fee on it at `feeBps`, the credit, the calls served (the
 * entries' charges) and the failed calls counted for it; a provider in `failed` with no entries
 * gets a line of its own (nothing credited).
 */
export function payoutsOf(entries: Entry[], feeBps: number, failed: Map<Address, number> = new Map()): { payouts: PayoutLine[]; fee: bigint } {
  const byProvider = new Map<string, Entry[]>();
  for (const e of entries) {
    const key = e.provider.toLowerCase();
    byProvider.set(key, byProvider.get(key) ?? []).get(key)!.push(e);
  }
  const failedBy = new Map([...failed].map(([p, n]) => [p.toLowerCase(), n]));
  // A provider whose calls only failed this week is reported too (a report without claims): its
  // failures reach the chain for reputation without waiting for a week it is paid.
  const failedOnly = [...failed].filter(([, n]) => n > 0).map(([provider]) => ({ provider }));
  const payouts = settlementProviders([...entries, ...failedOnly]).map((provider): PayoutLine => {
    const own = byProvider.get(provider.toLowerCase()) ?? [];
    const gross = own.reduce((sum, e) => sum + e.delta, 0n);
    const fee = providerFee(gross, feeBps);
    const callsServed = own.reduce((n, e) => n + e.chargeCount, 0);
    return { provider, gross, fee, amount: gross - fee, callsServed, callsFailed: failedBy.get(provider.toLowerCase()) ?? 0 };
  });
  return { payouts, fee: payouts.reduce((sum, p) => sum + p.fee, 0n) };
}

/** A batch plan over `entries`. */
export function buildPlan(p: { chainId: number; escrow: Address; seq: bigint; entries: Entry[]; failed: Map<Address, number>; failedBefore: string; feeBps: number }): BatchPlan {
  const { payouts, fee } = payoutsOf(p.entries, p.feeBps, p.failed);
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

/** The `settle(batchId, claims, providers)` call's arguments for a plan. */
export function settleArgs(plan: Pick<BatchPlan, "batchId" | "entries" | "payouts">) {
  const providers = plan.payouts.map((p) => p.provider);
  const claims = encodeClaims(
    plan.entries.map((e) => ({ account: e.account, signer: e.signer, provider: e.provider, maxCumulative: e.voucherMax, cumulative: e.cumulative, signature: e.signature })),
    providers,
  );
  const reports = plan.payouts.map((p) => ({ provider: p.provider, callsServed: p.callsServed, callsFailed: p.callsFailed }));
  return [plan.batchId, claims, reports] as const;
}
