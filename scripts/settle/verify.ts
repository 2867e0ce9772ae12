import { recoverTypedDataAddress } from "viem";
import type { Address } from "viem";

import type { Entry } from "@agenttab/ledger/settlement";

import { agentTabEscrowAbi, voucherTypedData } from "@agenttab/sdk";
import type { SettleChain } from "./chain.ts";
import type { Excluded } from "./types.ts";

type Reason = { reason: string; detail?: string };

/**
 * Checks each entry off-chain the way the escrow will: the voucher covers the claim and was signed
 * by the track's signer for the track's provider (ECDSA; a contract signer is left to the
 * simulation, which runs ERC-1271), a delegate's claims are still accepted (active, or revoked or
 * expired within the grace) and its total claimed over all providers stays within the cap claims
 * are held to, and each account's balance covers the sum of its claims. Entries that fail are
 * returned as excluded, with the reason.
 */
export async function verifyEntries(chain: SettleChain, entries: Entry[]): Promise<{ entries: Entry[]; excluded: Excluded[] }> {
  const excluded: Excluded[] = [];
  const leaveOut = (e: Entry, reason: Reason) => excluded.push({ account: e.account, signer: e.signer, provider: e.provider, ...reason });
  const block = await chain.publicClient.getBlock();
  const signed: Entry[] = [];
  for (const e of entries) {
    const reason = await checkVoucher(chain, e);
    if (reason) leaveOut(e, reason);
    else signed.push(e);
  }
  // A delegate's claims, over all its providers, draw on one cap.
  const kept: Entry[] = [];
  for (const [, list] of groupBy(signed, (e) => `${e.account.toLowerCase()}:${e.signer.toLowerCase()}`)) {
    const [first] = list as [Entry];
    if (first.account.toLowerCase() === first.signer.toLowerCase()) {
      kept.push(...list);
      continue;
    }
    const limit = await chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "delegateClaimLimit", args: [first.account, first.signer] });
    const delegation = await chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "delegationOf", args: [first.account, first.signer] });
    // The escrow's own rule: a revoked delegate, a lowered cap or a passed expiry still lets what
    // the delegate spent be claimed for WITHDRAWAL_DELAY afterwards.
    const ended = limit.until !== 0n && limit.until <= block.timestamp;
    const refused: Reason | undefined =
      !limit.active && (limit.until === 0n || ended) ? { reason: "delegate_not_active" }
      : ended ? { reason: "delegate_expired", detail: `claims ended at ${limit.until}` }
      : undefined;
    let claimed = BigInt(delegation.claimed);
    for (const e of list) {
      if (refused) leaveOut(e, refused);
      else if (claimed + e.delta > limit.cap) leaveOut(e, { reason: "claim_above_delegate_cap", detail: `cap ${limit.cap}, claimed ${claimed} + claim ${e.delta}` });
      else {
        claimed += e.delta;
        kept.push(e);
      }
    }
  }
  // Balances: all claims on one account draw on the same balance.
  const result: Entry[] = [];
  for (const [, list] of groupBy(kept, (e) => e.account.toLowerCase())) {
    const account = (list[0] as Entry).account;
    const { balance } = await chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "accountOf", args: [account] });
    const needed = list.reduce((sum, e) => sum + e.delta, 0n);
    if (needed > balance) {
      for (const e of list) leaveOut(e, { reason: "insufficient_balance", detail: `balance ${balance}, claims need ${needed}` });
    } else result.push(...list);
  }
  // The batch keeps the planned order.
  const accepted = new Set(result);
  return { entries: entries.filter((e) => accepted.has(e)), excluded };
}

async function checkVoucher(chain: SettleChain, e: Entry): Promise<Reason | undefined> {
  if (e.cumulative > e.voucherMax) return { reason: "claim_above_voucher", detail: `voucher ${e.voucherMax}, claim ${e.cumulative}` };
  const typed = voucherTypedData({ chainId: chain.chainId, escrow: chain.escrow, account: e.account, signer: e.signer, provider: e.provider, maxCumulative: e.voucherMax });
  let recovered: Address | undefined;
  try {
    recovered = await recoverTypedDataAddress({ ...typed, signature: e.signature });
  } catch {
    recovered = undefined;
  }
  if (recovered?.toLowerCase() !== e.signer.toLowerCase()) {
    const code = await chain.publicClient.getCode({ address: e.signer });
    // A smart-contract signer (ERC-1271) is checked by the simulation.
    if (code === undefined || code === "0x") return { reason: "invalid_voucher_signature" };
  }
  return undefined;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, groups.get(k) ?? []).get(k)!.push(item);
  }
  return groups;
}
