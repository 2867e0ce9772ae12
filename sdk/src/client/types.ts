import type { Address, Hex } from "viem";

import type { SignInSigner } from "../apiTypedData.ts";
import type { VoucherSigner } from "../typedData.ts";
import type { SignedReceipt } from "./payment.ts";
import type { RetryOptions } from "./retry.ts";

/** Anything that signs vouchers and sign-ins: a viem `LocalAccount`, a smart wallet's owner, a remote signer. */
export type AgentTabClientSigner = VoucherSigner & SignInSigner;

/** How an {@link AgentTabClient} reaches the API and pays. */
export type AgentTabClientOptions = {
  /** The API's base URL, e.g. "https://api.agenttab.xyz". */
  apiUrl: string;
  signer: AgentTabClientSigner;
  /** The escrow account vouchers draw on: `signer.address` unless the signer is a delegate. */
  account?: Address;
  chainId: number;
  escrow: Address;
  /**
   * A hard cap, in USDC atomic units, on what this client will ever sign for: a voucher pays one
   * provider and is cumulative on that provider's track, so the cap bounds the sum, over the
   * providers it pays, of the highest voucher signed for each.
   */
  maxSpend?: bigint;
  /**
   * The most, in USDC atomic units, that the proxy's corrective 402 (`voucher_too_low`, or the
   * `wrong_provider` of a reroute) may say was charged on a provider's track beyond what this client
   * can account for there (its verified receipts and calls in flight):
   * every unit believed becomes headroom in the next voucher, so a larger claim is refused with
   * `ChargedTotalMismatchError` before signing. By default, the maximum price of the call being
   * made. Raise it when the key has paid before this client started (a restart) or also pays
   * through another client; `maxSpend` still caps the total.
   *
   * @example
   * // a restarted agent whose key has spent up to 2 USDC before: believe the proxy's total up to that
   * const client = new AgentTabClient({ apiUrl, signer, chainId, escrow, maxSpend: 5_000_000n, maxCatchUp: 2_000_000n });
   */
  maxCatchUp?: bigint;
  fetch?: typeof globalThis.fetch;
  /** A JSON-RPC URL of the chain: needed for permits, and for anything the signer sends itself (withdrawals, delegates, approve + deposit). */
  rpcUrl?: string;
  /** USDC on this chain (deposits); read from `GET /v1/network` when not given. */
  usdc?: Address;
  /** The reputation contract, whose EIP-712 domain receipts are signed under (`verifyReceipt`). */
  reputation?: Address;
  /** The key that signs the proxy's receipts (`verifyReceipt`). */
  receiptSigner?: Address;
  /** The API's relayer (null: none); read from `GET /v1/network` when not given. */
  relayer?: Address | null;
  /** Retries of refusals that happen before anything is done (429, 503 `index_stale`); 2 retries, 5 s apart at most, by default. */
  retry?: RetryOptions;
};

/** What {@link AgentTabClient.connect} needs: the API's URL and a signer; the rest comes from `GET /v1/network`. */
export type AgentTabConnectOptions = {
  apiUrl: string;
  signer: AgentTabClientSigner;
  rpcUrl?: string;
  /** The escrow account vouchers draw on: `signer.address` unless the signer is a delegate. */
  account?: Address;
  /** See {@link AgentTabClientOptions.maxSpend}. */
  maxSpend?: bigint;
  /**
   * See {@link AgentTabClientOptions.maxCatchUp}: the most a corrective 402 may claim beyond what
   * the client can account for; one call's maximum price by default.
   *
   * @example
   * const client = await AgentTabClient.connect({ apiUrl, signer, maxSpend: 5_000_000n, maxCatchUp: 1_000_000n });
   */
  maxCatchUp?: bigint;
  fetch?: typeof globalThis.fetch;
  retry?: RetryOptions;
};

/** Discovery filters (`GET /v1/services`); prices in USDC atomic units. */
export type DiscoverParameters = {
  category?: string;
  tags?: readonly string[];
  capability?: string;
  provider?: Address;
  maxPrice?: bigint;
  /** 0 to 1; excludes unrated services. */
  minReputation?: number;
  sort?: "reputation" | "price";
  limit?: number;
  cursor?: string;
};

/** A listed service, as discovery shows it (never its upstream URL). */
export type Service = {
  id: string;
  provider: Address;
  name: string;
  description: string;
  category: string;
  tags: string[];
  capabilities: string[];
  pricing: "fixed" | "metered";
  price: bigint;
  maxPrice: bigint;
  usageHeader: string | null;
  /** The JSON the provider registered as an example request (any JSON value); null when none. */
  exampleInput: unknown;
  /** The JSON the provider registered as an example response (any JSON value); null when none. */
  exampleOutput: unknown;
  /**
   * How it is called, for x402 discovery: the method (resolved: POST with an example input, else
   * GET, unless declared), body type, resource path and descriptions its provider registered, and
   * the `bazaar` extension its 402s carry.
   */
  discovery: {
    httpMethod: string;
    bodyType: string | null;
    resourcePath: string;
    inputDescription: string;
    outputDescription: string;
    bazaar: unknown;
  };
  createdAt: string;
  updatedAt: string;
  reputation: { score: number | null; callsServed: number; callsFailed: number; feedbackCount: number };
};

/** One page of services; pass `nextCursor` as `cursor` for the next. */
export type ServicePage = { items: Service[]; nextCursor: string | null };

/** A paid call: where it goes under the service, and the most it may cost. */
export type CallParameters = {
  /** Appended to the service's upstream URL, query string included; "/" by default. */
  path?: string;
  /** "GET" by default. */
  method?: string;
  /** A string or bytes are sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Refuse (before signing) a service that may cost more than this, in USDC atomic units. Without
   * it, the price the client first saw for the service is the most a call to it may cost.
   */
  maxAmount?: bigint;
};

/** What a paid call returned. */
export type CallResult<data = unknown> = {
  /** The upstream's status (the call is charged whenever the upstream answered below 500). */
  status: number;
  /** The body: parsed JSON when it is JSON, text otherwise. */
  data: data;
  headers: Headers;
  /** What the call was charged: the verified receipt's `amount` (X-ACF-Amount says the same). */
  amount: bigint;
  /** From sending the paid request to reading the whole response, in ms. */
  latencyMs: number;
  /** The proxy's signed receipt, verified (see `ReceiptRejectedError`). */
  receipt: SignedReceipt;
  /** The proxy's id of the call (X-ACF-Request-Id). */
  requestId: string;
};

/** An escrow account's balance, in USDC atomic units (`GET /v1/agents/:address/balance`). */
export type Balance = {
  account: Address;
  deposited: bigint;
  balance: bigint;
  withdrawing: bigint;
  withdrawalUnlockAt: string | null;
  unsettled: bigint;
  reserved: bigint;
  pending: bigint;
  available: bigint;
};

/** Filters of `getTransactions`; times as `Date` or ISO 8601 text. */
export type TransactionsParameters = {
  limit?: number;
  serviceId?: string;
  from?: Date | string;
  to?: Date | string;
  cursor?: string;
};

/**
 * One paid call: a voucher charge against the escrow, or a stock x402 `exact` payment that settled.
 *
 * @example
 * const { items } = await client.getTransactions({ limit: 10 });
 * const onChain = items.filter((t) => t.scheme === "exact").map((t) => t.transaction);
 */
export type Transaction = {
  requestId: string;
  /** How it was paid: a cumulative voucher, or an `exact` (EIP-3009) payment settled on-chain per call. */
  scheme: "agenttab-voucher" | "exact";
  serviceId: string;
  provider: Address;
  /** The key that paid: a voucher's signer (the account or a delegate), or the exact payment's payer. */
  signer: Address;
  amount: bigint;
  fee: bigint;
  /** The signer's charged total after this call; for an exact payment, its own amount. */
  cumulative: bigint;
  method: string;
  path: string;
  /** Null only for an exact payment the API closed from the chain after a crash. */
  upstreamStatus: number | null;
  latencyMs: number | null;
  createdAt: string;
  /** The settlement batch that claimed a voucher charge; null while unsettled, and for exact payments. */
  settlementBatch: Hex | null;
  /** The exact payment's settlement transaction; null for voucher charges. */
  transaction: Hex | null;
};

/** One page of transactions, newest first. */
export type TransactionPage = { items: Transaction[]; nextCursor: string | null };

/** The window of `getSpendingReport`: a period ending now, or from/to (30 days up to now by default). */
export type SpendingReportParameters = { period: "day" | "week" | "month" } | { from?: Date | string; to?: Date | string };

/** Totals of spending. */
export type SpendingTotals = { total: bigint; calls: number; averagePerCall: bigint };

/** Spending over a window, and by service (biggest first). */
export type SpendingReport = SpendingTotals & {
  account: Address;
  from: string;
  to: string;
  byService: (SpendingTotals & { serviceId: string })[];
};
