import { AgentTabError } from "../errors.ts";
import type { SignedReceipt } from "./payment.ts";
import type { CallResult } from "./types.ts";

/** The JSON body of every API error: `{ code, message, reason?, details? }`. */
export type ApiErrorBody = {
  code: string;
  message: string;
  reason?: string;
  details?: Record<string, unknown>;
};

/**
 * The API refused a request: its HTTP `status` and stable `code` (see api/README.md, "Error
 * codes"). The more specific errors below extend it.
 *
 * @example
 * try {
 *   await client.call("weather-api");
 * } catch (error) {
 *   if (error instanceof ApiRequestError) console.log(error.status, error.code);
 * }
 */
export class ApiRequestError extends AgentTabError {
  override name = "ApiRequestError";
  readonly status: number;
  readonly code: string;
  /** The API's own explanation (its `message`), e.g. why an upstream URL was refused. */
  readonly apiMessage: string;
  readonly details: Record<string, unknown> | undefined;

  constructor({ status, body, shortMessage }: { status: number; body: ApiErrorBody; shortMessage?: string }) {
    super(shortMessage ?? `The API answered ${status} ${body.code}.`, { details: body.message });
    this.status = status;
    this.code = body.code;
    this.apiMessage = typeof body.message === "string" ? body.message : "";
    this.details = body.details;
  }
}

/**
 * The escrow account's available balance does not cover the call's maximum price (402
 * `insufficient_funds`): deposit more, or wait for pending withdrawals and calls.
 *
 * @example
 * if (error instanceof InsufficientBalanceError) console.log(error.available, error.required);
 */
export class InsufficientBalanceError extends ApiRequestError {
  override name = "InsufficientBalanceError";
  /** What new calls may spend, when the API said. */
  readonly available: bigint | undefined;
  /** The call's maximum price, when the API said. */
  readonly required: bigint | undefined;

  constructor({ status, body }: { status: number; body: ApiErrorBody }) {
    super({ status, body, shortMessage: "The escrow balance does not cover this call." });
    this.available = optionalBigInt(body.details?.available);
    this.required = optionalBigInt(body.details?.required);
  }
}

/**
 * The service may cost more than the call's `maxAmount` (402 `price_exceeds_max`, or found by the
 * client before signing): nothing was signed or charged.
 *
 * @example
 * if (error instanceof PriceExceedsMaxError) console.log(`costs up to ${error.price}, limit ${error.max}`);
 */
export class PriceExceedsMaxError extends ApiRequestError {
  override name = "PriceExceedsMaxError";
  readonly price: bigint | undefined;
  readonly max: bigint | undefined;

  constructor({ status, body }: { status: number; body: ApiErrorBody }) {
    super({ status, body, shortMessage: "The service's price is above this call's maxAmount." });
    this.price = optionalBigInt(body.details?.price);
    this.max = optionalBigInt(body.details?.max);
  }
}

/**
 * No such service, or it was delisted (404 `service_not_found` / 410 `service_delisted`).
 *
 * @example
 * if (error instanceof ServiceNotFoundError) await client.discover({ category: "data" });
 */
export class ServiceNotFoundError extends ApiRequestError {
  override name = "ServiceNotFoundError";

  constructor({ status, body }: { status: number; body: ApiErrorBody }) {
    super({ status, body, shortMessage: status === 410 ? "The service was delisted." : "No such service." });
  }
}

/**
 * USDC's issuer has blacklisted the account (403 `account_blacklisted`): FiatToken refuses its
 * transfers, so it can neither deposit nor pay with an x402 `exact` authorization. Nothing was sent.
 *
 * @example
 * if (error instanceof AccountBlacklistedError) console.log(`${error.account} cannot move USDC`);
 */
export class AccountBlacklistedError extends ApiRequestError {
  override name = "AccountBlacklistedError";
  /** The blacklisted address, when the API said. */
  readonly account: string | undefined;

  constructor({ status, body }: { status: number; body: ApiErrorBody }) {
    super({ status, body, shortMessage: "USDC's issuer has blacklisted this account: the token refuses its transfers." });
    this.account = typeof body.details?.account === "string" ? body.details.account : undefined;
  }
}

/**
 * Too many calls to this service from this account (429 `rate_limited`); retry after
 * `retryAfterSeconds`.
 *
 * @example
 * if (error instanceof RateLimitedError) await new Promise((r) => setTimeout(r, (error.retryAfterSeconds ?? 1) * 1000));
 */
export class RateLimitedError extends ApiRequestError {
  override name = "RateLimitedError";
  /** From the `Retry-After` header, when sent. */
  readonly retryAfterSeconds: number | undefined;

  constructor({ status, body, retryAfterSeconds }: { status: number; body: ApiErrorBody; retryAfterSeconds: number | undefined }) {
    super({ status, body, shortMessage: "Rate limited by the API." });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The service failed, was unreachable or timed out (502 / 504): the proxy released the
 * reservation, so nothing was charged.
 *
 * @example
 * if (error instanceof UpstreamFailedError) console.log(`not charged: ${error.code}`);
 */
export class UpstreamFailedError extends ApiRequestError {
  override name = "UpstreamFailedError";
  /** The upstream's HTTP status, when it answered. */
  readonly upstreamStatus: number | undefined;

  constructor({ status, body }: { status: number; body: ApiErrorBody }) {
    super({ status, body, shortMessage: "The service failed; nothing was charged." });
    const upstreamStatus = body.details?.upstreamStatus;
    this.upstreamStatus = typeof upstreamStatus === "number" ? upstreamStatus : undefined;
  }
}

/**
 * Paying for a call would take what the client has signed for past its `maxSpend`: the sum, over
 * the escrow's provider tracks, of the highest voucher signed on each (a voucher pays one provider,
 * so each track is a separate claim on the deposit). Thrown before anything is signed.
 *
 * @example
 * const client = new AgentTabClient({ ...options, maxSpend: 1_000_000n });
 * try {
 *   await client.call("weather-api");
 * } catch (error) {
 *   if (error instanceof SpendLimitError) console.log(error.maxSpend, error.wouldSign, error.signedElsewhere);
 * }
 */
export class SpendLimitError extends AgentTabError {
  override name = "SpendLimitError";
  readonly maxSpend: bigint;
  /** The cumulative total the voucher would have carried on its provider's track. */
  readonly wouldSign: bigint;
  /** What is already signed for on the escrow's other provider tracks (their highest vouchers, summed). */
  readonly signedElsewhere: bigint;

  constructor({ maxSpend, wouldSign, signedElsewhere = 0n }: { maxSpend: bigint; wouldSign: bigint; signedElsewhere?: bigint }) {
    super("This call would exceed the client's maxSpend.", {
      details:
        signedElsewhere === 0n
          ? `a voucher for ${wouldSign} is above maxSpend ${maxSpend}`
          : `a voucher for ${wouldSign} on this provider's track, with ${signedElsewhere} signed for other providers, is above maxSpend ${maxSpend}`,
    });
    this.maxSpend = maxSpend;
    this.wouldSign = wouldSign;
    this.signedElsewhere = signedElsewhere;
  }
}

/**
 * A payment requirement the SDK will not sign for: not an `agenttab-voucher` offer it understands
 * (a `payTo` that is not the provider `extra.provider` names, no `extra.escrow`), one for another
 * escrow or chain than the signer's, one from an origin outside the x402 plug-in's `apiOrigins`,
 * or one whose `extra.charged` jumps above the known total by more than `maxCatchUp`.
 *
 * @example
 * if (error instanceof VoucherRequirementError) console.log(error.shortMessage);
 */
export class VoucherRequirementError extends AgentTabError {
  override name = "VoucherRequirementError";

  constructor({ reason }: { reason: string }) {
    super("The payment requirement cannot be paid with an AgentTab voucher.", { details: reason });
  }
}

/**
 * The proxy's corrective 402 (`voucher_too_low`) says this signer was charged more than the client
 * can account for: above what its verified receipts and its calls in flight explain by more than
 * `maxCatchUp`. Thrown before anything is signed; the client keeps refusing (without signing) while
 * that claim stands, since every unit of it would become headroom in the next voucher. A key that
 * also pays through another client, or paid before this one started, needs a larger `maxCatchUp`.
 *
 * @example
 * try {
 *   await client.call("weather-api");
 * } catch (error) {
 *   if (error instanceof ChargedTotalMismatchError) console.log(`proxy says ${error.claimedCharged}, receipts say ${error.knownCharged}`);
 * }
 */
export class ChargedTotalMismatchError extends AgentTabError {
  override name = "ChargedTotalMismatchError";
  /** The charged total the client's verified receipts show. */
  readonly knownCharged: bigint;
  /** The maxima of the client's calls in flight, which the proxy may already count. */
  readonly inFlight: bigint;
  /** What the proxy says is charged and in flight on this (account, signer, provider) track (`extra.charged`). */
  readonly claimedCharged: bigint;
  /** The most the client would have believed above `knownCharged + inFlight`. */
  readonly maxCatchUp: bigint;

  constructor({ knownCharged, inFlight, claimedCharged, maxCatchUp }: { knownCharged: bigint; inFlight: bigint; claimedCharged: bigint; maxCatchUp: bigint }) {
    super("The proxy says more was charged than this client can account for.", {
      details: `the proxy claims ${claimedCharged} charged or in flight; verified receipts show ${knownCharged} and calls in flight ${inFlight}, and at most ${maxCatchUp} more is believed (maxCatchUp)`,
    });
    this.knownCharged = knownCharged;
    this.inFlight = inFlight;
    this.claimedCharged = claimedCharged;
    this.maxCatchUp = maxCatchUp;
  }
}

/**
 * Why a receipt was not believed: its signature does not recover to the API's receipt signer
 * (`invalid_signature`), it names another payer than this client's signer (`wrong_payer`) or
 * another provider than the voucher paid (`wrong_provider`), or it charges more than the price the
 * client signed for (`amount_above_price`).
 */
export type ReceiptRejection = "invalid_signature" | "wrong_payer" | "wrong_provider" | "amount_above_price";

/**
 * A paid call came back with a receipt the client does not believe (see {@link ReceiptRejection}).
 * The call did reach the service and may have been charged: `result` holds its response as the
 * proxy returned it. The client's record of what it was charged (`knownCharged`) does not move.
 *
 * @example
 * try {
 *   await client.call("weather-api");
 * } catch (error) {
 *   if (error instanceof ReceiptRejectedError) console.log(error.reason, error.result.status, error.receipt.amount);
 * }
 */
export class ReceiptRejectedError extends AgentTabError {
  override name = "ReceiptRejectedError";
  readonly reason: ReceiptRejection;
  readonly receipt: SignedReceipt;
  /** The call's response; its `receipt` and `amount` are the proxy's unproven word. */
  readonly result: CallResult;

  constructor({ reason, result, detail }: { reason: ReceiptRejection; result: CallResult; detail: string }) {
    super("The proxy's receipt for this call was not believed; it may still have been charged.", { details: `${reason}: ${detail}` });
    this.reason = reason;
    this.receipt = result.receipt;
    this.result = result;
  }
}

/**
 * The API's answer is not what the wire promises (a 402 without a usable `agenttab-voucher`
 * requirement, a paid response without a receipt, a body that is not JSON).
 *
 * @example
 * if (error instanceof UnexpectedResponseError) console.log(error.status);
 */
export class UnexpectedResponseError extends AgentTabError {
  override name = "UnexpectedResponseError";
  readonly status: number;

  constructor({ status, reason }: { status: number; reason: string }) {
    super("Unexpected response from the AgentTab API.", { details: `${status}: ${reason}` });
    this.status = status;
  }
}

/**
 * The SDK error for an API error response, chosen by the body's `code`.
 *
 * @example
 * if (!res.ok) throw apiErrorFromResponse({ status: res.status, body: await res.json(), retryAfter: res.headers.get("retry-after") });
 */
export function apiErrorFromResponse({ status, body, retryAfter }: { status: number; body: unknown; retryAfter?: string | null }): ApiRequestError {
  const parsed = asErrorBody(status, body);
  switch (parsed.code) {
    case "insufficient_funds":
      return new InsufficientBalanceError({ status, body: parsed });
    case "price_exceeds_max":
      return new PriceExceedsMaxError({ status, body: parsed });
    case "account_blacklisted":
      return new AccountBlacklistedError({ status, body: parsed });
    case "service_not_found":
    case "service_delisted":
      return new ServiceNotFoundError({ status, body: parsed });
    case "rate_limited": {
      const seconds = retryAfter == null ? Number.NaN : Number(retryAfter);
      return new RateLimitedError({ status, body: parsed, retryAfterSeconds: Number.isFinite(seconds) ? seconds : undefined });
    }
    case "upstream_failed":
    case "upstream_unreachable":
    case "upstream_timeout":
      return new UpstreamFailedError({ status, body: parsed });
    default:
      return new ApiRequestError({ status, body: parsed });
  }
}

function asErrorBody(status: number, body: unknown): ApiErrorBody {
  if (typeof body === "object" && body !== null && typeof (body as ApiErrorBody).code === "string") {
    const { code, message, reason, details } = body as ApiErrorBody;
    return {
      code,
      message: typeof message === "string" ? message : code,
      ...(typeof reason === "string" ? { reason } : {}),
      ...(typeof details === "object" && details !== null ? { details } : {}),
    };
  }
  return { code: `http_${status}`, message: typeof body === "string" ? body.slice(0, 500) : `HTTP ${status}` };
}

function optionalBigInt(value: unknown): bigint | undefined {
  return typeof value === "string" && /^[0-9]+$/.test(value) ? BigInt(value) : undefined;
}
