import { parseEventLogs } from "viem";
import type { Address } from "viem";

import { agentTabEscrowAbi } from "../generated/abis.ts";
import { sendContractWrite, transactionResult } from "./chain.ts";
import type { ChainAccess, TransactionResult } from "./chain.ts";

/** Where escrow actions go: the chain access of the account's own key, and the escrow. */
export type EscrowTarget = { access: ChainAccess; escrow: Address };

/** A requested withdrawal: how much, and from when (Unix seconds) it can be finalized. */
export type WithdrawalRequestResult = TransactionResult & { amount: bigint; unlockAt: bigint };

/** A finalized withdrawal: what left the escrow for the account's wallet. */
export type WithdrawalFinalizeResult = TransactionResult & { amount: bigint };

/** A delegation as set on-chain. */
export type DelegateResult = TransactionResult & { delegate: Address; cap: bigint; expiresAt: bigint };

/** Options of `authorizeDelegate`. */
export type AuthorizeDelegateParameters = {
  /** The most the delegate may ever have claimed in total, in USDC atomic units (below 2^96). */
  cap: bigint;
  /** When the delegation ends: Unix seconds or a `Date`; never by default. */
  expiresAt?: bigint | Date;
};

/**
 * Asks to withdraw `amount` from the escrow account; it can be finalized after the withdrawal delay.
 *
 * @throws {EscrowBalanceTooLowError} above the balance; {ChainAccessError} without a wallet.
 * @example
 * const { unlockAt } = await requestWithdrawal({ access, escrow }, 5_000_000n);
 */
export async function requestWithdrawal({ access, escrow }: EscrowTarget, amount: bigint): Promise<WithdrawalRequestResult> {
  const { receipt } = await sendContractWrite(access, { address: escrow, abi: agentTabEscrowAbi, functionName: "requestWithdrawal", args: [amount] }, "request a withdrawal");
  const [event] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "WithdrawalRequested", logs: receipt.logs });
  return { ...transactionResult(receipt), amount: event?.args.amount ?? amount, unlockAt: event?.args.unlockAt ?? 0n };
}

/**
 * Cancels the pending withdrawal.
 *
 * @throws {NoPendingWithdrawalError} when none is pending.
 * @example
 * await cancelWithdrawal({ access, escrow });
 */
export async function cancelWithdrawal({ access, escrow }: EscrowTarget): Promise<TransactionResult> {
  const { receipt } = await sendContractWrite(access, { address: escrow, abi: agentTabEscrowAbi, functionName: "cancelWithdrawal", args: [] }, "cancel a withdrawal");
  return transactionResult(receipt);
}

/**
 * Finalizes the pending withdrawal once unlocked: the USDC goes to the account's wallet.
 *
 * @throws {WithdrawalLockedError} before the unlock time; {NoPendingWithdrawalError} when none is pending.
 * @example
 * const { amount } = await finalizeWithdrawal({ access, escrow });
 */
export async function finalizeWithdrawal({ access, escrow }: EscrowTarget): Promise<WithdrawalFinalizeResult> {
  const { receipt } = await sendContractWrite(access, { address: escrow, abi: agentTabEscrowAbi, functionName: "finalizeWithdrawal", args: [] }, "finalize a withdrawal");
  const [event] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "WithdrawalFinalized", logs: receipt.logs });
  return { ...transactionResult(receipt), amount: event?.args.amount ?? 0n };
}

/**
 * Lets `delegate` sign vouchers on the account, up to `cap` in total, until `expiresAt`.
 *
 * @example
 * await authorizeDelegate({ access, escrow }, member.address, { cap: 2_000_000n, expiresAt: new Date(Date.now() + 7 * 86_400_000) });
 */
export async function authorizeDelegate({ access, escrow }: EscrowTarget, delegate: Address, { cap, expiresAt }: AuthorizeDelegateParameters): Promise<DelegateResult> {
  const expires = expiresAt instanceof Date ? BigInt(Math.floor(expiresAt.getTime() / 1000)) : (expiresAt ?? 0n);
  const { receipt } = await sendContractWrite(
    access,
    { address: escrow, abi: agentTabEscrowAbi, functionName: "authorizeDelegate", args: [delegate, cap, Number(expires)] },
    "authorize a delegate",
  );
  return { ...transactionResult(receipt), delegate, cap, expiresAt: expires };
}

/**
 * Revokes a delegate at once: the proxy refuses its vouchers and its sign-ins once indexed.
 *
 * @throws {DelegateNotActiveError} when it is not active.
 * @example
 * await revokeDelegate({ access, escrow }, member.address);
 */
export async function revokeDelegate({ access, escrow }: EscrowTarget, delegate: Address): Promise<TransactionResult> {
  const { receipt } = await sendContractWrite(access, { address: escrow, abi: agentTabEscrowAbi, functionName: "revokeDelegate", args: [delegate] }, "revoke a delegate");
  return transactionResult(receipt);
}
