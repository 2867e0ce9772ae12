import { parseEventLogs } from "viem";
import type { TransactionReceipt } from "viem";

import type { BatchFees, BatchPlan } from "@agenttab/ledger/settlement";

import { agentTabEscrowAbi, decodeClaimsLog } from "@agenttab/sdk";
import type { SettleChain } from "./chain.ts";

/**
 * The fee the escrow took from each provider of a batch, read from the transaction that applied it:
 * each provider's gross (its claims in BatchSettled's log) less what ProviderCredited credited it.
 * The rate is the plan's unless those fees say otherwise (the admin changed it between planning
 * and mining): then it is the escrow's rate as of that block. Without the receipt, the plan's.
 */
export async function batchFees(chain: SettleChain, plan: BatchPlan, receipt: TransactionReceipt | undefined): Promise<BatchFees> {
  const planned: BatchFees = { fees: new Map(plan.payouts.map((p) => [p.provider.toLowerCase(), p.fee])), feeBps: plan.feeBps };
  if (receipt === undefined) return planned;
  const id = plan.batchId.toLowerCase();
  const settled = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs }).find((l) => l.args.batchId.toLowerCase() === id);
  if (settled === undefined) return planned;
  const gross = new Map<string, bigint>();
  for (const claim of decodeClaimsLog(settled.args.claims)) gross.set(claim.provider.toLowerCase(), (gross.get(claim.provider.toLowerCase()) ?? 0n) + claim.amount);
  const fees = new Map<string, bigint>();
  for (const credit of parseEventLogs({ abi: agentTabEscrowAbi, eventName: "ProviderCredited", logs: receipt.logs })) {
    if (credit.args.batchId.toLowerCase() !== id) continue;
    const provider = credit.args.provider.toLowerCase();
    fees.set(provider, (gross.get(provider) ?? 0n) - credit.args.amount);
  }
  const same = fees.size === planned.fees.size && [...fees].every(([p, fee]) => planned.fees.get(p) === fee);
  if (same) return planned;
  const feeBps = Number(await chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "feeBps", blockNumber: receipt.blockNumber }));
  return { fees, feeBps };
}
