import { BaseError, ContractFunctionRevertedError } from "viem";
import type { Address } from "viem";

import { AgentTabError } from "../errors.ts";

/**
 * An on-chain action needs what the client was not given: an `rpcUrl`, or a signer that can send
 * transactions (a viem `LocalAccount`), or the API's network details.
 *
 * @example
 * if (error instanceof ChainAccessError) console.log(`configure: ${error.missing}`);
 */
export class ChainAccessError extends AgentTabError {
  override name = "ChainAccessError";
  /** What is missing: "rpcUrl", "walletSigner" or "network". */
  readonly missing: "rpcUrl" | "walletSigner" | "network";

  constructor({ missing, action }: { missing: "rpcUrl" | "walletSigner" | "network"; action: string }) {
    const why = {
      rpcUrl: "pass rpcUrl to the client",
      walletSigner: "the signer must be able to send transactions (a viem LocalAccount) and hold ETH for gas",
      network: "create the client with connect(), or pass usdc, reputation and receiptSigner",
    }[missing];
    super(`Cannot ${action}: ${why}.`);
    this.missing = missing;
  }
}

/**
 * A transaction was mined but the indexer (and so the API's balance) did not show it in time.
 *
 * @example
 * if (error instanceof IndexerTimeoutError) console.log(`still waiting for ${error.expected}`);
 */
export class IndexerTimeoutError extends AgentTabError {
  override name = "IndexerTimeoutError";
  readonly expected: bigint;
  readonly seen: bigint;

  constructor({ expected, seen, timeoutMs }: { expected: bigint; seen: bigint; timeoutMs: number }) {
    super(`The API did not show the deposit within ${timeoutMs} ms.`, { details: `deposited ${seen}, expected at least ${expected}` });
    this.expected = expected;
    this.seen = seen;
  }
}

/**
 * A contract call would revert (found by simulating it, so no gas was spent) or reverted. The
 * specific errors below extend it; `errorName` and `args` are the contract's custom error.
 *
 * @example
 * if (error instanceof ContractRevertedError) console.log(error.errorName, error.args);
 */
export class ContractRevertedError extends AgentTabError {
  override name = "ContractRevertedError";
  /** The custom error's name (e.g. "InsufficientBalance"), or undefined for a plain revert. */
  readonly errorName: string | undefined;
  readonly args: readonly unknown[];

  constructor({ errorName, args, shortMessage, cause }: { errorName: string | undefined; args: readonly unknown[]; shortMessage?: string; cause?: unknown }) {
    super(shortMessage ?? `The contract refused the call${errorName ? ` (${errorName})` : ""}.`, { cause });
    this.errorName = errorName;
    this.args = args;
  }
}

/**
 * `finalizeWithdrawal` before the withdrawal delay has run out.
 *
 * @example
 * if (error instanceof WithdrawalLockedError) console.log(`try again after ${new Date(Number(error.unlockAt) * 1000)}`);
 */
export class WithdrawalLockedError extends ContractRevertedError {
  override name = "WithdrawalLockedError";
  readonly account: Address;
  /** Unix seconds from which the withdrawal can be finalized. */
  readonly unlockAt: bigint;

  constructor({ account, unlockAt, cause }: { account: Address; unlockAt: bigint; cause?: unknown }) {
    super({ errorName: "WithdrawalLocked", args: [account, unlockAt], shortMessage: `The withdrawal is locked until ${unlockAt} (Unix seconds).`, cause });
    this.account = account;
    this.unlockAt = unlockAt;
  }
}

/**
 * `finalizeWithdrawal` or `cancelWithdrawal` with no withdrawal pending.
 *
 * @example
 * if (error instanceof NoPendingWithdrawalError) await client.requestWithdrawal(amount);
 */
export class NoPendingWithdrawalError extends ContractRevertedError {
  override name = "NoPendingWithdrawalError";
  readonly account: Address;

  constructor({ account, cause }: { account: Address; cause?: unknown }) {
    super({ errorName: "NoPendingWithdrawal", args: [account], shortMessage: "No withdrawal is pending for this account.", cause });
    this.account = account;
  }
}

/**
 * A withdrawal request above the escrow balance (`InsufficientBalance`).
 *
 * @example
 * if (error instanceof EscrowBalanceTooLowError) console.log(`balance ${error.balance}, asked ${error.needed}`);
 */
export class EscrowBalanceTooLowError extends ContractRevertedError {
  override name = "EscrowBalanceTooLowError";
  readonly balance: bigint;
  readonly needed: bigint;

  constructor({ account, balance, needed, cause }: { account: Address; balance: bigint; needed: bigint; cause?: unknown }) {
    super({ errorName: "InsufficientBalance", args: [account, balance, needed], shortMessage: `The escrow balance ${balance} is below ${needed}.`, cause });
    this.balance = balance;
    this.needed = needed;
  }
}

/**
 * A provider withdrawal above its on-chain earnings (`InsufficientEarnings`), or with none at all.
 *
 * @example
 * if (error instanceof InsufficientEarningsError) console.log(`withdrawable: ${error.balance}`);
 */
export class InsufficientEarningsError extends ContractRevertedError {
  override name = "InsufficientEarningsError";
  readonly balance: bigint;
  readonly amount: bigint;

  constructor({ provider, balance, amount, cause }: { provider: Address; balance: bigint; amount: bigint; cause?: unknown }) {
    super({ errorName: "InsufficientEarnings", args: [provider, balance, amount], shortMessage: `Withdrawable earnings ${balance} are below ${amount}.`, cause });
    this.balance = balance;
    this.amount = amount;
  }
}

/**
 * A provider has no on-chain earnings to withdraw (nothing settled yet, or all withdrawn).
 *
 * @example
 * if (error instanceof NothingToWithdrawError) console.log("wait for the weekly settlement");
 */
export class NothingToWithdrawError extends AgentTabError {
  override name = "NothingToWithdrawError";
  readonly provider: Address;

  constructor({ provider }: { provider: Address }) {
    super(`${provider} has no earnings to withdraw.`);
    this.provider = provider;
  }
}

/**
 * `revokeDelegate` on a delegate that is not active (never authorized, or already revoked).
 *
 * @example
 * if (error instanceof DelegateNotActiveError) console.log(`${error.delegate} was not active`);
 */
export class DelegateNotActiveError extends ContractRevertedError {
  override name = "DelegateNotActiveError";
  readonly delegate: Address;

  constructor({ account, delegate, cause }: { account: Address; delegate: Address; cause?: unknown }) {
    super({ errorName: "DelegateNotActive", args: [account, delegate], shortMessage: `${delegate} is not an active delegate.`, cause });
    this.delegate = delegate;
  }
}

/**
 * The SDK error for a failed contract call: the specific class for the escrow's custom errors the
 * SDK knows, a {@link ContractRevertedError} for any other revert, and the error itself otherwise
 * (a network failure, say).
 *
 * @example
 * try {
 *   await walletClient.writeContract(request);
 * } catch (error) {
 *   throw contractErrorFrom(error);
 * }
 */
export function contractErrorFrom(error: unknown): unknown {
  if (!(error instanceof BaseError)) return error;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError)) return error;
  // A revert string (USDC's FiatToken reverts with them) decodes as `Error(string)`: not a name.
  const named = reverted.data?.errorName !== "Error";
  const errorName = named ? reverted.data?.errorName : undefined;
  const args = named ? (reverted.data?.args ?? []) : [];
  const [a, b, c] = args as [unknown, unknown, unknown];
  switch (errorName) {
    case "WithdrawalLocked":
      return new WithdrawalLockedError({ account: a as Address, unlockAt: b as bigint, cause: error });
    case "NoPendingWithdrawal":
      return new NoPendingWithdrawalError({ account: a as Address, cause: error });
    case "InsufficientBalance":
      return new EscrowBalanceTooLowError({ account: a as Address, balance: b as bigint, needed: c as bigint, cause: error });
    case "InsufficientEarnings":
      return new InsufficientEarningsError({ provider: a as Address, balance: b as bigint, amount: c as bigint, cause: error });
    case "DelegateNotActive":
      return new DelegateNotActiveError({ account: a as Address, delegate: b as Address, cause: error });
    default:
      // USDC (FiatToken) names no custom error: "Blacklistable: account is blacklisted".
      if (errorName === undefined && /blacklisted/i.test(reverted.reason ?? "")) {
        return new ContractRevertedError({ errorName: "AccountBlacklisted", args, shortMessage: "USDC's issuer has blacklisted an address of this transfer: the token refuses it.", cause: error });
      }
      return new ContractRevertedError({ errorName: errorName ?? reverted.reason, args, cause: error });
  }
}
