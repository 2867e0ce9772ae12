import { BaseError, ContractFunctionRevertedError } from "viem";

import type { Entry } from "@agenttab/ledger/settlement";

import { agentTabEscrowAbi } from "@agenttab/sdk";
import { payoutsOf, settleArgs } from "./build.ts";
import type { SettleChain } from "./chain.ts";
import type { Excluded } from "./types.ts";

/**
 * Errors that name the claims at fault: by the position of `account` (and `signer`) in their args.
 * `perTrack` errors concern one (account, signer, provider) track, which the error does not name:
 * when the signer has several tracks in the batch, each is simulated alone to find the one at fault.
 * The others concern every claim of the signer (a delegate's state) or of the account (its balance).
 */
const CLAIM_ERRORS: Record<string, { account: number; signer?: number; perTrack?: boolean }> = {
  InvalidVoucherSignature: { account: 0, signer: 1, perTrack: true },
  ClaimAboveVoucher: { account: 0, signer: 1, perTrack: true },
  ClaimBelowClaimed: { account: 0, signer: 1, perTrack: true },
  ClaimAboveDelegateCap: { account: 0, signer: 1 },
  DelegateNotActive: { account: 0, signer: 1 },
  DelegateExpired: { account: 0, signer: 1 },
  InsufficientBalance: { account: 0 },
};

/** The settle call reverts for a reason no single entry explains (a pause, an unbalanced batch…). */
export class BatchRejectedError extends Error {
  override name = "BatchRejectedError";
}

type Revert = { errorName: string; args: readonly unknown[] };

/** Estimates `settle`'s gas for the entries, or returns the decoded revert. */
async function estimate(chain: SettleChain, entries: Entry[]): Promise<{ gas: bigint } | { revert: Revert | undefined; error: unknown }> {
  // The fee rate does not change what `settle` is given: the escrow computes the fees.
  const { payouts } = payoutsOf(entries, 0);
  // A probe id that no real batch uses; the contract's id check comes first and is a read.
  const args = settleArgs({ batchId: `0x${"ee".repeat(32)}`, entries, payouts });
  try {
    return { gas: await chain.publicClient.estimateContractGas({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "settle", args, account: chain.walletClient.account }) };
  } catch (error) {
    const found = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : null;
    const data = found instanceof ContractFunctionRevertedError ? found.data : undefined;
    return { revert: data?.errorName ? { errorName: data.errorName, args: (data.args ?? []) as readonly unknown[] } : undefined, error };
  }
}

/**
 * Simulates `settle` for the entries (as an estimate of its gas, which runs the whole call). When
 * it reverts with an error naming a claim, the claims at fault are dropped (the track's; for a
 * delegate's state every claim of the delegate; for a short balance every claim on the account),
 * the provider reports are recomputed, and the simulation runs again. Returns the entries the chain
 * accepts, those dropped with the decoded reason, and the gas estimate.
 */
export async function simulateEntries(chain: SettleChain, entries: Entry[]): Promise<{ entries: Entry[]; excluded: Excluded[]; gas: bigint }> {
  const excluded: Excluded[] = [];
  let current = entries;
  for (;;) {
    if (current.length === 0) return { entries: current, excluded, gas: 0n };
    const outcome = await estimate(chain, current);
    if ("gas" in outcome) return { entries: current, excluded, gas: outcome.gas };
    const { revert } = outcome;
    const positions = revert ? CLAIM_ERRORS[revert.errorName] : undefined;
    if (!revert || !positions) {
      throw new BatchRejectedError(`settle simulation reverted: ${revert?.errorName ?? (outcome.error as Error).message.split("\n")[0]}`, { cause: outcome.error });
    }
    const named = (position: number | undefined) => (position === undefined ? undefined : String(revert.args[position]).toLowerCase());
    const account = named(positions.account);
    const signer = named(positions.signer);
    const detail = `${revert.errorName}(${revert.args.map(String).join(", ")})`;
    let dropped = current.filter((e) => e.account.toLowerCase() === account && (signer === undefined || e.signer.toLowerCase() === signer));
    if (dropped.length === 0) throw new BatchRejectedError(`settle simulation reverted with ${detail}, which names no entry of the batch`);
    if (positions.perTrack && dropped.length > 1) {
      const alone: Entry[] = [];
      for (const e of dropped) {
        const solo = await estimate(chain, [e]);
        if (!("gas" in solo) && solo.revert?.errorName === revert.errorName) alone.push(e);
      }
      // None fails alone: the claims fail together, and all of them wait.
      if (alone.length > 0) dropped = alone;
    }
    for (const e of dropped) excluded.push({ account: e.account, signer: e.signer, provider: e.provider, reason: revert.errorName, detail });
    const out = new Set(dropped);
    current = current.filter((e) => !out.has(e));
  }
}

/**
 * The most claims one `settle` carries. Since Osaka (EIP-7825) a transaction may use at most 2^24
 * gas (16,777,216); a track's first claim writes a new storage slot (about 30,000 gas, a delegate's
 * about 45,000), so a week with more tracks than this goes out in several batches. `--max-gas`
 * splits further by the estimate.
 */
export const MAX_CLAIMS_PER_BATCH = 300;

/**
 * The entries in parts of at most `maxClaims`, an account's entries kept in one part where they
 * fit (entries arrive ordered by account): a part's estimate never runs into the per-transaction
 * gas cap.
 */
export function partsOf(entries: Entry[], maxClaims = MAX_CLAIMS_PER_BATCH): Entry[][] {
  const chunks: Entry[][] = [];
  let current: Entry[] = [];
  for (const [i, entry] of entries.entries()) {
    const sameAccountNext = entries[i + 1]?.account === entry.account;
    current.push(entry);
    // Close a part at an account boundary once it is near full, or at the hard limit.
    if (current.length >= maxClaims || (!sameAccountNext && current.length >= maxClaims - 20)) {
      chunks.push(current);
      current = [];
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * {@link simulateEntries} on each of {@link partsOf} the entries. Returns each part's accepted
 * entries and gas, and every exclusion.
 */
export async function simulateInParts(
  chain: SettleChain,
  entries: Entry[],
  maxClaims = MAX_CLAIMS_PER_BATCH,
): Promise<{ parts: { entries: Entry[]; gas: bigint }[]; excluded: Excluded[] }> {
  const parts: { entries: Entry[]; gas: bigint }[] = [];
  const excluded: Excluded[] = [];
  for (const chunk of partsOf(entries, maxClaims)) {
    const s = await simulateEntries(chain, chunk);
    excluded.push(...s.excluded);
    parts.push({ entries: s.entries, gas: s.gas });
  }
  return { parts, excluded };
}
