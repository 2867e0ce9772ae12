import { recoverTypedDataAddress } from "viem";
import type { Address } from "viem";

import { agentTabEscrowAbi, voucherTypedData } from "../../sdk/src/index.ts";
import type { SettleChain } from "./chain.ts";
import type { Entry, Excluded } from "./types.ts";

/**
 * Checks each entry off-chain the way the escrow will: the voucher covers the claim and was signed
 * by the track's signer (ECDSA; a contract signer is left to the simulation, which runs ERC-1271),
 * a delegate's claims are still accepted (active, or revoked or expired within the grace) and within
 * the cap claims are held to, and each account's balance covers the sum of
 * its claims. Entries that fail are returned as excluded, with the reason.
 */
export async function verifyEntries(chain: SettleChain, entries: Entry[]): Promise<{ entries: Entry[]; excluded: Excluded[] }> {
  const excluded: Excluded[] = [];
  const kept: Entry[] = [];
  const block = await chain.publicClient.getBlock();
  for (const e of entries) {
    const reason = await checkEntry(chain, e, block.timestamp);
    if (reason) excluded.push({ account: e.account, signer: e.signer, ...reason });
    else kept.push(e);
  }
  // Balances: all claims on one account draw on the same balance.
  const byAccount = new Map<Address, Entry[]>();
  for (const e of kept) byAccount.set(e.account, [...(byAccount.get(e.account) ?? []), e]);
  const result: Entry[] = [];
  for (const [account, list] of byAccount) {
    const { balance } = await chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "accountOf", args: [account] });
    const needed = list.reduce((sum, e) => sum + e.delta, 0n);
    if (needed > balance) {
      for (const e of list) excluded.push({ account, signer: e.signer, reason: "insufficient_balance", detail: `balance ${balance}, claims need ${needed}` });
    } else result.push(...list);
  }
  return { entries: result, excluded };
}

async function checkEntry(chain: SettleChain, e: Entry, now: bigint): Promise<{ reason: string; detail?: string } | undefined> {
  if (e.cumulative > e.voucherMax) return { reason: "claim_above_voucher", detail: `voucher ${e.voucherMax}, claim ${e.cumulative}` };
  const typed = voucherTypedData({ chainId: chain.chainId, escrow: chain.escrow, account: e.account, maxCumulative: e.voucherMax });
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
  if (e.account.toLowerCase() !== e.signer.toLowerCase()) {
    // The escrow's own rule: a revoked delegate, a lowered cap or a passed expiry still lets what
    // the delegate spent be claimed for WITHDRAWAL_DELAY afterwards.
    const limit = await chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "delegateClaimLimit", args: [e.account, e.signer] });
    const ended = limit.until !== 0n && limit.until <= now;
    if (!limit.active && (limit.until === 0n || ended)) return { reason: "delegate_not_active" };
    if (ended) return { reason: "delegate_expired", detail: `claims ended at ${limit.until}` };
    if (e.cumulative > limit.cap) return { reason: "claim_above_delegate_cap", detail: `cap ${limit.cap}, claim ${e.cumulative}` };
  }
  return undefined;
}
