import { BaseError, ContractFunctionRevertedError } from "viem";
import type { Address } from "viem";

import { agentTabEscrowAbi } from "../../sdk/src/index.ts";
import { payoutsOf, settleArgs } from "./build.ts";
import type { SettleChain } from "./chain.ts";
import type { Entry, Excluded } from "./types.ts";

/** Errors that name the claim at fault, by the position of `account` and `signer` in their args. */
const CLAIM_ERRORS: Record<string, { account: number; signer?: number }> = {
  InvalidVoucherSignature: { account: 0, signer: 1 },
  ClaimAboveVoucher: { account: 0, signer: 1 },
  ClaimBelowClaimed: { account: 0, signer: 1 },
  ClaimAboveDelegateCap: { account: 0, signer: 1 },
  DelegateNotActive: { account: 0, signer: 1 },
  DelegateExpired: { account: 0, signer: 1 },
  InsufficientBalance: { account: 0 },
};

/** The settle call reverts for a reason no single entry explains (a pause, an unbalanced batch…). */
export class BatchRejectedError extends Error {
  override name = "BatchRejectedError";
}

/**
 * Simulates `settle` for the entries (as an estimate of its gas, which runs the whole call). When
 * it reverts with an error naming a claim, that claim (or, for a short balance, every claim on the
 * account) is dropped, the payouts are recomputed, and the simulation runs again. Returns the
 * entries the chain accepts, those dropped with the decoded reason, and the gas estimate.
 */
export async function simulateEntries(
  chain: SettleChain,
  entries: Entry[],
): Promise<{ entries: Entry[]; excluded: Excluded[]; gas: bigint }> {
  const excluded: Excluded[] = [];
  let current = entries;
  for (;;) {
    if (current.length === 0) return { entries: current, excluded, gas: 0n };
    const { payouts, fee } = payoutsOf(current);
    // A probe id that no real batch uses; the contract's id check comes first and is a read.
    const args = settleArgs({ batchId: `0x${"ee".repeat(32)}`, entries: current, payouts, fee });
    try {
      const gas = await chain.publicClient.estimateContractGas({
        address: chain.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settle",
        args,
        account: chain.walletClient.account,
      });
      return { entries: current, excluded, gas };
    } catch (error) {
      const revert = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : null;
      const data = revert instanceof ContractFunctionRevertedError ? revert.data : undefined;
      const positions = data?.errorName ? CLAIM_ERRORS[data.errorName] : undefined;
      if (!data || !positions) {
        throw new BatchRejectedError(`settle simulation reverted: ${data?.errorName ?? (error as Error).message.split("\n")[0]}`, { cause: error });
      }
      const values = (data.args ?? []) as readonly unknown[];
      const account = String(values[positions.account]).toLowerCase() as Address;
      const signer = positions.signer === undefined ? undefined : (String(values[positions.signer]).toLowerCase() as Address);
      const detail = `${data.errorName}(${values.map(String).join(", ")})`;
      const hit = (e: Entry) => e.account.toLowerCase() === account && (signer === undefined || e.signer.toLowerCase() === signer);
      const dropped = current.filter(hit);
      if (dropped.length === 0) throw new BatchRejectedError(`settle simulation reverted with ${detail}, which names no entry of the batch`);
      for (const e of dropped) excluded.push({ account: e.account, signer: e.signer, reason: data.errorName, detail });
      current = current.filter((e) => !hit(e));
    }
  }
}
