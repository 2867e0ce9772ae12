import { BaseError as ViemBaseError, ContractFunctionRevertedError, HttpRequestError, InsufficientFundsError, TimeoutError } from "viem";

import {
  ChainAccessError,
  ContractRevertedError,
  DelegateNotActiveError,
  EscrowBalanceTooLowError,
  IndexerTimeoutError,
  InsufficientEarningsError,
  NoPendingWithdrawalError,
  NothingToWithdrawError,
} from "../client/chainErrors.ts";
import { ApiRequestError, ChargedTotalMismatchError, ReceiptRejectedError, SpendLimitError, UnexpectedResponseError } from "../client/errors.ts";
import { AgentTabError } from "../errors.ts";

/**
 * What `agenttab` exits with, so scripts can branch on the kind of failure.
 *
 * @example
 * if (result.status === ExitCode.paymentRefused) console.log("top up the escrow first");
 */
export const ExitCode = {
  /** Done. */
  ok: 0,
  /** A failure nothing below describes (a bug, an unexpected answer). */
  unexpected: 1,
  /** Bad usage or configuration: unknown flag, bad amount or address, no key, bad keystore, a 400 from the API. */
  usage: 2,
  /** Payment refused: insufficient balance, price above --max, spend cap, charged total not believed, voucher or delegate refused, not authorized. */
  paymentRefused: 3,
  /** No such service, account or record. */
  notFound: 4,
  /** The API or the chain is unreachable, rate limited, stale, or the upstream failed (nothing charged). */
  unavailable: 5,
  /** The chain refused a transaction (it reverted, or its simulation did). */
  chainRefused: 6,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit-code table printed at the end of `agenttab --help`.
 *
 * @example
 * program.addHelpText("after", EXIT_CODES_HELP);
 */
export const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  unexpected failure
  2  usage or configuration error (bad flag, amount, address, key or keystore; API said 400)
  3  payment refused (insufficient balance, price above --max, spend cap, charged total not believed, voucher/delegate refused, 401/403, nothing to withdraw)
  4  not found (unknown or delisted service, no such record)
  5  unavailable (API or chain unreachable, rate limited, index stale, upstream failed: nothing charged)
  6  the chain refused the transaction (reverted)`;

/**
 * A usage or configuration mistake found by the CLI itself (exit code 2).
 *
 * @example
 * throw new CliUsageError("--cap is required");
 */
export class CliUsageError extends AgentTabError {
  override name = "CliUsageError";
  readonly code: string;

  constructor(shortMessage: string, { code = "usage" }: { code?: string } = {}) {
    super(shortMessage);
    this.code = code;
  }
}

/** How a failure is reported: the exit code, a stable name and snake_case code, one line of text. */
export type Failure = { exitCode: ExitCodeValue; name: string; code: string; message: string };

const PAYMENT_REFUSED_STATUSES = new Set([401, 402, 403]);

/**
 * Classifies any thrown value into an exit code and a one-line message (never a stack trace).
 *
 * @example
 * const { exitCode, code, message } = failureOf(error);
 * process.stderr.write(`agenttab: ${code}: ${message}\n`);
 * process.exitCode = exitCode;
 */
export function failureOf(error: unknown): Failure {
  if (error instanceof CliUsageError) return { exitCode: ExitCode.usage, name: error.name, code: error.code, message: error.shortMessage };
  if (error instanceof ApiRequestError) {
    // The API's own words say what to fix ("resolves to 127.0.0.1, which the proxy does not call").
    const said = error.apiMessage.trim();
    const message = [error.shortMessage, said && !error.shortMessage.includes(said) ? said : "", apiDetail(error)].filter((part) => part !== "").join(" ");
    return { exitCode: exitCodeOfStatus(error.status), name: error.name, code: error.code, message };
  }
  if (error instanceof SpendLimitError) {
    return { exitCode: ExitCode.paymentRefused, name: error.name, code: "spend_limit", message: `${error.shortMessage} (would sign ${error.wouldSign}, limit ${error.maxSpend} atomic units)` };
  }
  if (error instanceof ChargedTotalMismatchError) {
    const message = `${error.shortMessage} (the proxy claims ${error.claimedCharged}, receipts show ${error.knownCharged}, in flight ${error.inFlight}, believed up to ${error.maxCatchUp} more, atomic units)`;
    return { exitCode: ExitCode.paymentRefused, name: error.name, code: "charged_total_mismatch", message };
  }
  if (error instanceof ReceiptRejectedError) return { exitCode: ExitCode.unexpected, name: error.name, code: "receipt_rejected", message: error.message.replace(/\s+/g, " ") };
  if (error instanceof ChainAccessError) {
    const message = error.missing === "rpcUrl" ? `${error.shortMessage.replace(/pass rpcUrl to the client/, "set --rpc URL or AGENTTAB_RPC_URL")}` : error.shortMessage;
    return { exitCode: ExitCode.usage, name: error.name, code: `missing_${snakeCase(error.missing)}`, message };
  }
  if (error instanceof ContractRevertedError) {
    const exitCode =
      error instanceof EscrowBalanceTooLowError || error instanceof InsufficientEarningsError
        ? ExitCode.paymentRefused
        : error instanceof NoPendingWithdrawalError || error instanceof DelegateNotActiveError
          ? ExitCode.notFound
          : ExitCode.chainRefused;
    return { exitCode, name: error.name, code: snakeCase(error.errorName ?? "reverted"), message: error.shortMessage };
  }
  if (error instanceof IndexerTimeoutError) return { exitCode: ExitCode.unavailable, name: error.name, code: "indexer_timeout", message: error.shortMessage };
  if (error instanceof NothingToWithdrawError) return { exitCode: ExitCode.paymentRefused, name: error.name, code: "nothing_to_withdraw", message: error.shortMessage };
  if (error instanceof UnexpectedResponseError) return { exitCode: ExitCode.unexpected, name: error.name, code: "unexpected_response", message: error.message.replace(/\s+/g, " ") };
  if (error instanceof ViemBaseError) return viemFailure(error);
  if (error instanceof AgentTabError) {
    const code = snakeCase(error.name.replace(/Error$/, ""));
    const exitCode = /revert/i.test(error.name) ? ExitCode.chainRefused : /notfound/i.test(error.name) ? ExitCode.notFound : ExitCode.unexpected;
    return { exitCode, name: error.name, code, message: error.message.replace(/\s+/g, " ") };
  }
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { exitCode: ExitCode.unavailable, name: "ApiUnreachableError", code: "api_unreachable", message: `Cannot reach the AgentTab API (${cause?.code ?? cause?.message ?? error.message}).` };
  }
  const message = error instanceof Error ? error.message.split("\n")[0] ?? error.name : String(error);
  return { exitCode: ExitCode.unexpected, name: error instanceof Error ? error.name : "Error", code: "unexpected", message };
}

function exitCodeOfStatus(status: number): ExitCodeValue {
  if (status === 404 || status === 410) return ExitCode.notFound;
  if (PAYMENT_REFUSED_STATUSES.has(status)) return ExitCode.paymentRefused;
  if (status === 429 || status >= 500) return ExitCode.unavailable;
  if (status >= 400) return ExitCode.usage;
  return ExitCode.unexpected;
}

/** The API's details in a few words: what the call needed, what was available. */
function apiDetail(error: ApiRequestError): string {
  const details = error.details ?? {};
  const parts = Object.entries(details)
    .filter(([, v]) => typeof v === "string" || typeof v === "number")
    .map(([k, v]) => `${k} ${String(v)}`);
  return parts.length > 0 ? `(${parts.join(", ")})` : "";
}

function viemFailure(error: ViemBaseError): Failure {
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError) {
    const reason = reverted.data?.errorName ?? reverted.reason ?? "reverted";
    const args = reverted.data?.args?.map((a) => String(a)).join(", ");
    return { exitCode: ExitCode.chainRefused, name: "ContractFunctionRevertedError", code: snakeCase(reason), message: `The chain refused the transaction: ${reason}${args ? `(${args})` : ""}.` };
  }
  if (error.walk((e) => e instanceof InsufficientFundsError)) {
    return { exitCode: ExitCode.paymentRefused, name: "InsufficientFundsError", code: "insufficient_gas_funds", message: "The account has too little ETH to pay for gas." };
  }
  if (error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError)) {
    return { exitCode: ExitCode.unavailable, name: error.name, code: "rpc_unreachable", message: `Cannot reach the chain's RPC: ${error.shortMessage}` };
  }
  return { exitCode: ExitCode.unexpected, name: error.name, code: snakeCase(error.name.replace(/Error$/, "")), message: error.shortMessage };
}

function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toLowerCase();
}
