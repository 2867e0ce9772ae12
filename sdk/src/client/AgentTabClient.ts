import type { PaymentRequirements } from "@x402/core/types";
import { isAddressEqual } from "viem";
import type { Address } from "viem";

import { signVoucher, verifyReceipt } from "../typedData.ts";
import { discoverBazaar } from "./bazaar.ts";
import type { DiscoverBazaarParameters, DiscoverBazaarReturnType } from "./bazaar.ts";
import { createChainAccess } from "./chain.ts";
import type { ChainAccess, TransactionResult } from "./chain.ts";
import { ChainAccessError, IndexerTimeoutError } from "./chainErrors.ts";
import { deposit } from "./deposit.ts";
import type { DepositParameters, DepositResult } from "./deposit.ts";
import { PriceExceedsMaxError, ReceiptRejectedError, UnexpectedResponseError, VoucherRequirementError, apiErrorFromResponse } from "./errors.ts";
import type { ReceiptRejection } from "./errors.ts";
import * as escrowActions from "./escrowActions.ts";
import type { AuthorizeDelegateParameters, DelegateResult, WithdrawalFinalizeResult, WithdrawalRequestResult } from "./escrowActions.ts";
import { apiUrlOf, getJson, isoTime, readBody } from "./http.ts";
import { getApiNetwork } from "./network.ts";
import type { ApiNetwork } from "./network.ts";
import { receiptFromPaymentResponse, voucherOffer, voucherPaymentHeader, voucherRequirement } from "./payment.ts";
import type { SignedReceipt, VoucherOffer } from "./payment.ts";
import { defaultRetry, isRefusedBeforeWork, refusedBeforeWork, retryDelayMs, sendWithRetry } from "./retry.ts";
import type { RetryOptions } from "./retry.ts";
import { SignInSession } from "./session.ts";
import { SpendBudget } from "./spendBudget.ts";
import type {
  AgentTabClientOptions,
  AgentTabConnectOptions,
  AgentTabClientSigner,
  Balance,
  CallParameters,
  CallResult,
  DiscoverParameters,
  ServicePage,
  SpendingReport,
  SpendingReportParameters,
  TransactionPage,
  TransactionsParameters,
} from "./types.ts";
import { VoucherBook } from "./voucherBook.ts";

/**
 * An agent's client of the AgentTab API: discovers services, pays for calls with cumulative
 * vouchers (x402 `agenttab-voucher`), and reads its own balance, transactions and spending.
 *
 * A voucher names the provider it pays (the 402's `payTo`), so the client keeps one voucher track
 * per provider, each cumulative on its own; `maxSpend` bounds the sum of what it signs over all of
 * them. Voucher state lives in memory: concurrent calls sign non-overlapping cumulative totals, and
 * a fresh client (after a restart) catches up from the proxy's corrective 402 on its first call.
 * When the proxy's quality gate serves a call from a backup run by another provider, its 402
 * `wrong_provider` names that provider, and the client signs once more, for it; the next call
 * signs for the service's own provider first again, so that the gate can probe (and restore) it.
 *
 * It checks what the proxy tells it. What it was charged (`knownCharged`) comes from receipts
 * only, and only from those signed by the API's receipt signer (`GET /v1/network`), naming this
 * signer as payer and the provider the voucher paid, for no more than the price it signed for; any
 * other receipt throws {@link ReceiptRejectedError}. A corrective 402 that claims more was charged
 * on a track is believed up to `maxCatchUp` (one call's maximum price by default), else
 * `ChargedTotalMismatchError`. A price above the call's `maxAmount` (without one: above the price
 * this client first saw for that service) is refused before signing ({@link PriceExceedsMaxError}),
 * and so is a 402 for another escrow or chain ({@link VoucherRequirementError}).
 *
 * On-chain, it deposits (gasless through the API's relayer when it has one), withdraws, and
 * manages delegates; `connect` configures it from the API's URL alone.
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const client = await AgentTabClient.connect({ apiUrl: "https://api.agenttab.xyz", signer: privateKeyToAccount(key), maxSpend: 5_000_000n });
 * await client.deposit(10_000_000n); // gasless: the agent needs no ETH
 * // or, knowing the deployment:
 * const configured = new AgentTabClient({
 *   apiUrl: "https://api.agenttab.xyz",
 *   signer: privateKeyToAccount(key),
 *   chainId: 8453,
 *   escrow: deployment.escrow,
 *   maxSpend: 5_000_000n, // never sign for more than 5 USDC in total
 * });
 * const { items } = await client.discover({ category: "data", sort: "price" });
 * const { data, amount, receipt } = await client.call(items[0].id, { path: "/weather?city=paris", maxAmount: 10_000n });
 */
export class AgentTabClient {
  readonly apiUrl: string;
  readonly signer: AgentTabClientSigner;
  /** The escrow account vouchers draw on. */
  readonly account: Address;
  readonly chainId: number;
  readonly escrow: Address;
  readonly maxSpend: bigint | undefined;
  /** The most a corrective 402 may claim above what the client can account for; undefined: the call's maximum price. */
  readonly maxCatchUp: bigint | undefined;
  readonly rpcUrl: string | undefined;
  readonly #fetch: typeof globalThis.fetch;
  readonly #retry: RetryOptions;
  readonly #access: ChainAccess;
  /** USDC on this chain, when known (always after `connect`; otherwise read from `GET /v1/network` when needed). */
  readonly usdc: Address | undefined;
  /** The reputation contract receipts are signed for, when known. */
  readonly reputation: Address | undefined;
  /** The key that signs the proxy's receipts, when known. */
  readonly receiptSigner: Address | undefined;
  /** The API's relayer (null: it relays nothing), when known. */
  readonly relayer: Address | null | undefined;
  #network: Promise<ApiNetwork> | undefined;
  /** One voucher book per provider track (keyed by the provider's lowercase address), all within one budget. */
  readonly #books = new Map<string, VoucherBook>();
  readonly #budget: SpendBudget;
  readonly #session: SignInSession;
  /**
   * Per service: the last voucher requirement seen, to pay without a first unpaid round trip, and
   * the first price seen, the most a call without `maxAmount` agrees to pay.
   */
  readonly #quotes = new Map<string, { requirements: PaymentRequirements; firstPrice: bigint }>();

  constructor({ apiUrl, signer, account, chainId, escrow, maxSpend, maxCatchUp, fetch, rpcUrl, usdc, reputation, receiptSigner, relayer, retry }: AgentTabClientOptions) {
    this.apiUrl = apiUrl;
    this.rpcUrl = rpcUrl;
    this.#retry = { ...defaultRetry, ...retry };
    this.#access = createChainAccess({ rpcUrl, chainId, signer });
    this.usdc = usdc;
    this.reputation = reputation;
    this.receiptSigner = receiptSigner;
    this.relayer = relayer;
    this.signer = signer;
    this.account = account ?? signer.address;
    this.chainId = chainId;
    this.escrow = escrow;
    this.maxSpend = maxSpend;
    this.maxCatchUp = maxCatchUp;
    this.#fetch = fetch ?? globalThis.fetch.bind(globalThis);
    this.#budget = new SpendBudget({ maxSpend });
    this.#session = new SignInSession({ signer, chainId, escrow });
  }

  /**
   * A client configured from the API's `GET /v1/network` (chain, escrow, USDC, reputation
   * contract, receipt signer, relayer), so the API's URL and a signer are all it needs.
   *
   * @example
   * import { privateKeyToAccount } from "viem/accounts";
   * const client = await AgentTabClient.connect({
   *   apiUrl: "https://api.agenttab.xyz",
   *   signer: privateKeyToAccount(key),
   *   rpcUrl: "https://mainnet.base.org", // only for what the agent sends itself
   *   maxSpend: 5_000_000n,
   * });
   */
  static async connect({ apiUrl, signer, rpcUrl, account, maxSpend, maxCatchUp, fetch, retry }: AgentTabConnectOptions): Promise<AgentTabClient> {
    const network = await getApiNetwork({ apiUrl, ...(fetch ? { fetch } : {}), ...(retry ? { retry } : {}) });
    const { chainId, escrow, usdc, reputation, receiptSigner, relayer } = network;
    return new AgentTabClient({ apiUrl, signer, account, chainId, escrow, maxSpend, maxCatchUp, fetch, rpcUrl, usdc, reputation, receiptSigner, relayer, retry });
  }

  /**
   * The charged total this client knows of, in USDC atomic units, over all the providers it paid:
   * on each provider's track, the highest `cumulative` of the receipts it verified (never a
   * corrective 402's unproven claim).
   *
   * @example
   * console.log(`spent ${client.knownCharged} so far`);
   */
  get knownCharged(): bigint {
    let total = 0n;
    for (const book of this.#books.values()) total += book.charged;
    return total;
  }

  /**
   * The charged total this client knows of on one provider's track (from verified receipts).
   *
   * @example
   * const { receipt } = await client.call("weather-api");
   * client.knownChargedBy(receipt.provider) === receipt.cumulative; // true
   */
  knownChargedBy(provider: Address): bigint {
    return this.#books.get(provider.toLowerCase())?.charged ?? 0n;
  }

  /**
   * The most the escrow may claim on what this client has signed, in USDC atomic units: the sum,
   * over provider tracks, of the highest voucher signed on each. Never above `maxSpend`.
   *
   * @example
   * console.log(`signed for ${client.signedTotal} of ${client.maxSpend}`);
   */
  get signedTotal(): bigint {
    return this.#budget.signed;
  }

  /**
   * Lists services (`GET /v1/services`): filters, sorted by reputation (default) or price, a page
   * at a time.
   *
   * @example
   * const page = await client.discover({ category: "data", tags: ["weather"], maxPrice: 10_000n, minReputation: 0.8, limit: 10 });
   * const next = page.nextCursor ? await client.discover({ category: "data", cursor: page.nextCursor }) : undefined;
   */
  async discover({ category, tags, capability, provider, maxPrice, minReputation, sort, limit, cursor }: DiscoverParameters = {}): Promise<ServicePage> {
    const url = apiUrlOf(this.apiUrl, "/v1/services", {
      category,
      tags: tags && tags.length > 0 ? tags.join(",") : undefined,
      capability,
      provider,
      max_price: maxPrice?.toString(),
      min_reputation: minReputation,
      sort,
      limit,
      cursor,
    });
    const page = (await getJson(this.#fetch, url, {}, { retry: this.#retry })) as { items: Record<string, unknown>[]; nextCursor: string | null };
    return {
      items: page.items.map((item) => ({ ...item, price: BigInt(item.price as string), maxPrice: BigInt(item.maxPrice as string) }) as ServicePage["items"][number]),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * Discovers paid resources through an x402 Bazaar discovery endpoint: AgentTab's own
   * (`/discovery/…` on this client's API, by default) or any other (`bazaarUrl`), searched with
   * `query` or listed. Each resource carries its x402 payment requirements (`accepts`).
   *
   * @example
   * const page = await client.discoverBazaar({ query: "weather forecast", limit: 5 });
   * const elsewhere = await client.discoverBazaar({ bazaarUrl: "https://bazaar.example/x402", scheme: "exact" });
   */
  async discoverBazaar(parameters: Omit<DiscoverBazaarParameters, "bazaarUrl" | "fetch" | "retry"> & { bazaarUrl?: string } = {}): Promise<DiscoverBazaarReturnType> {
    return discoverBazaar({ ...parameters, bazaarUrl: parameters.bazaarUrl ?? this.apiUrl, fetch: this.#fetch, retry: this.#retry });
  }

  /**
   * Calls a service through the paying proxy: asks its price (or reuses the last one seen), signs a
   * voucher covering it, and returns the response with what it cost and the proxy's signed receipt.
   *
   * @throws {SpendLimitError} before signing, when the voucher would exceed `maxSpend`.
   * @throws {PriceExceedsMaxError} before signing, when the service may cost more than `maxAmount`
   *   (without one: more than the price this client first saw for the service).
   * @throws {ChargedTotalMismatchError} before signing, when the proxy claims more was charged than
   *   the client can account for, by more than `maxCatchUp`.
   * @throws {VoucherRequirementError} before signing, when the 402 asks for a voucher on another
   *   escrow or chain, or is not an offer the client understands.
   * A 402 `wrong_provider` (a quality gate routed the call to a backup run by another provider) is
   * answered once with a voucher for the provider it names; a second one is thrown as an
   * {@link ApiRequestError} with that code.
   * @throws {ReceiptRejectedError} when the call came back with a receipt the client does not believe
   *   (its `result` holds the response).
   * A refusal made before anything was forwarded (429 `rate_limited`, 503 `index_stale`) is retried
   * per the client's `retry` policy, honouring `Retry-After`; an upstream failure never is.
   *
   * @throws {InsufficientBalanceError}, {ServiceNotFoundError}, {RateLimitedError} (retries used up),
   *   {UpstreamFailedError} (not charged), or {ApiRequestError} for any other refusal.
   * @example
   * const result = await client.call("weather-api", {
   *   path: "/forecast",
   *   method: "POST",
   *   body: { city: "Lisbon" },
   *   maxAmount: 5_000n,
   * });
   * console.log(result.status, result.data, result.amount, result.receipt.cumulative);
   */
  async call<data = unknown>(serviceId: string, { path = "/", method = "GET", body, headers = {}, maxAmount }: CallParameters = {}): Promise<CallResult<data>> {
    const url = apiUrlOf(this.apiUrl, `/v1/proxy/${encodeURIComponent(serviceId)}${path.startsWith("/") ? path : `/${path}`}`);
    const encoded = encodeBody(body);
    const sendOnce = (payment: string | undefined) =>
      this.#fetch(url, {
        method,
        headers: {
          ...(encoded.contentType ? { "content-type": encoded.contentType } : {}),
          ...headers,
          ...(maxAmount === undefined ? {} : { "x-payment-max-amount": maxAmount.toString() }),
          ...(payment === undefined ? {} : { "payment-signature": payment }),
        },
        ...(encoded.body === undefined ? {} : { body: encoded.body }),
      });
    const attempts = this.#retry.attempts ?? defaultRetry.attempts;
    const maxDelayMs = this.#retry.maxDelayMs ?? defaultRetry.maxDelayMs;

    // Known before anything is signed: how to tell the proxy's receipts from forgeries.
    const receiptKeys = await this.#receiptKeys();
    const quote = this.#quotes.get(serviceId);
    // A price kept from an earlier call, above what this one agrees to, may be stale: ask again (unpaid).
    let requirements = quote && BigInt(quote.requirements.amount) <= (maxAmount ?? quote.firstPrice) ? quote.requirements : undefined;
    if (requirements === undefined) {
      const response = await sendWithRetry(() => sendOnce(undefined), { retry: this.#retry, shouldRetry: isRefusedBeforeWork });
      requirements = await this.#requirementsFrom(response);
      // Checked before it is kept: a refused offer is asked for again next time.
      this.#offerOf(requirements);
    }
    const firstPrice = quote?.firstPrice ?? BigInt(requirements.amount);
    this.#quotes.set(serviceId, { requirements, firstPrice });
    const agreedPrice = maxAmount ?? firstPrice;
    let caughtUp = false;
    let rerouted = false;
    for (let retries = 0; ; ) {
      const offer = this.#offerOf(requirements);
      const { amount, provider } = offer;
      if (amount > agreedPrice) {
        const limit = maxAmount === undefined ? `the ${firstPrice} this client first saw for "${serviceId}" (pass maxAmount to accept more)` : `maxAmount ${maxAmount}`;
        throw new PriceExceedsMaxError({
          status: 402,
          body: { code: "price_exceeds_max", message: `This call may cost up to ${amount}, above ${limit}`, details: { price: amount.toString(), max: agreedPrice.toString() } },
        });
      }
      const ticket = await this.#bookFor(provider).sign(amount, { maxCatchUp: this.maxCatchUp ?? amount });
      let chargedCumulative: bigint | undefined;
      try {
        const payment = voucherPaymentHeader({ requirements, account: this.account, signer: this.signer.address, provider, maxCumulative: ticket.maxCumulative, signature: ticket.signature });
        const started = performance.now();
        const response = await sendOnce(payment);
        const data = await readBody(response);
        const latencyMs = Math.round(performance.now() - started);
        const receipt = receiptFromPaymentResponse(response.headers.get("payment-response"));
        if (receipt !== undefined) {
          const result: CallResult<data> = {
            status: response.status,
            data: data as data,
            headers: response.headers,
            amount: receipt.amount,
            latencyMs,
            receipt,
            requestId: response.headers.get("x-acf-request-id") ?? receipt.requestId,
          };
          const rejection = await this.#receiptRejection(receipt, { price: amount, provider, ...receiptKeys });
          if (rejection !== undefined) throw new ReceiptRejectedError({ ...rejection, result });
          // The receipt's `cumulative` is the total charged on this provider's track.
          chargedCumulative = receipt.cumulative;
          return result;
        }
        // Refused before anything was forwarded (429, 503 `index_stale`): wait and pay again. Never
        // after an upstream failure. The voucher is freed while waiting and the next one signed from
        // what is known then, through the same book, so never past maxSpend.
        const delay =
          retries < attempts && refusedBeforeWork(response.status, data)
            ? retryDelayMs({ retry: retries, retryAfter: response.headers.get("retry-after"), maxDelayMs })
            : undefined;
        if (delay !== undefined) {
          retries += 1;
          ticket.settle();
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
        const corrective = response.status === 402 ? this.#correctiveOffer(response.headers.get("payment-required")) : undefined;
        // The service's quote keeps naming its own provider, even while a gate reroutes its calls:
        // only a voucher for the primary's provider may take the gate's probe slot, so a client that
        // signed for the backup's from then on would keep the primary from ever being restored.
        if (corrective?.offer && corrective.error !== "wrong_provider") this.#quotes.set(serviceId, { requirements: corrective.requirements, firstPrice });
        // The quality gate routed the call to a backup run by another provider: sign once more, for
        // the provider the 402 names (its price is checked against the agreed one like any other).
        // Its `charged` is that provider's track, believed within maxCatchUp like a catch-up.
        if (corrective?.error === "wrong_provider" && !rerouted) {
          const offer = corrective.checked();
          if (offer.provider !== provider) {
            rerouted = true;
            if (offer.charged !== undefined) this.#bookFor(offer.provider).observeClaim(offer.charged);
            requirements = corrective.requirements;
            continue;
          }
        }
        if (corrective?.error === "voucher_too_low" && corrective.charged !== undefined && !caughtUp) {
          caughtUp = true;
          // A restarted client, or another client on the same key: catch up and pay again, once,
          // if the claim is within maxCatchUp (checked when signing).
          this.#bookFor(corrective.checked().provider).observeClaim(corrective.charged);
          requirements = corrective.requirements;
          continue;
        }
        if (response.ok) throw new UnexpectedResponseError({ status: response.status, reason: "a paid response without a receipt in PAYMENT-RESPONSE" });
        throw apiErrorFromResponse({ status: response.status, body: data, retryAfter: response.headers.get("retry-after") });
      } finally {
        ticket.settle(chargedCumulative);
      }
    }
  }

  /** The voucher track of one provider, created on first use; all tracks share the client's budget. */
  #bookFor(provider: Address): VoucherBook {
    const key = provider.toLowerCase();
    let book = this.#books.get(key);
    if (book === undefined) {
      book = new VoucherBook({
        budget: this.#budget,
        sign: (maxCumulative) => signVoucher(this.signer, { chainId: this.chainId, escrow: this.escrow, account: this.account, provider, maxCumulative }),
      });
      this.#books.set(key, book);
    }
    return book;
  }

  /**
   * A paid call's 402 requirement, with its offer checked (`offer`, undefined when refused);
   * `checked()` returns the offer or throws why it was refused, for when the client would act on it.
   */
  #correctiveOffer(header: string | null) {
    const corrective = voucherRequirement(header);
    if (corrective === undefined) return undefined;
    let offer: VoucherOffer | undefined;
    let refusal: unknown;
    try {
      offer = this.#offerOf(corrective.requirements);
    } catch (error) {
      refusal = error;
    }
    return {
      ...corrective,
      offer,
      checked: (): VoucherOffer => {
        if (offer === undefined) throw refusal;
        return offer;
      },
    };
  }

  /** A 402's voucher offer, checked: it must draw on this client's escrow, on its chain. */
  #offerOf(requirements: PaymentRequirements): VoucherOffer {
    const offer = voucherOffer(requirements);
    if (offer.chainId !== this.chainId || !isAddressEqual(offer.escrow, this.escrow)) {
      throw new VoucherRequirementError({
        reason: `the proxy asks for a voucher on escrow ${offer.escrow} (chain ${offer.chainId}); this client pays escrow ${this.escrow} on chain ${this.chainId}`,
      });
    }
    return offer;
  }

  /**
   * The escrow account's balance, in USDC atomic units: on-chain, unsettled, reserved, available.
   *
   * @example
   * const { available } = await client.getBalance();
   */
  async getBalance(): Promise<Balance> {
    const body = (await this.#read(`/v1/agents/${this.account}/balance`)) as Record<string, unknown>;
    return {
      account: body.account as Address,
      deposited: BigInt(body.deposited as string),
      balance: BigInt(body.balance as string),
      withdrawing: BigInt(body.withdrawing as string),
      withdrawalUnlockAt: body.withdrawalUnlockAt as string | null,
      unsettled: BigInt(body.unsettled as string),
      reserved: BigInt(body.reserved as string),
      pending: BigInt(body.pending as string),
      available: BigInt(body.available as string),
    };
  }

  /**
   * The account's paid calls, newest first, a page at a time: voucher charges and the stock x402
   * `exact` payments it settled (`scheme` tells them apart; an exact one carries its `transaction`).
   *
   * @example
   * const page = await client.getTransactions({ limit: 50, serviceId: "weather-api", from: new Date(Date.now() - 86_400_000) });
   */
  async getTransactions({ limit, serviceId, from, to, cursor }: TransactionsParameters = {}): Promise<TransactionPage> {
    const body = (await this.#read(`/v1/agents/${this.account}/transactions`, { limit, service_id: serviceId, from: isoTime(from), to: isoTime(to), cursor })) as {
      items: Record<string, unknown>[];
      nextCursor: string | null;
    };
    return {
      items: body.items.map(
        (item) =>
          ({ ...item, amount: BigInt(item.amount as string), fee: BigInt(item.fee as string), cumulative: BigInt(item.cumulative as string) }) as TransactionPage["items"][number],
      ),
      nextCursor: body.nextCursor,
    };
  }

  /**
   * What the account spent over a window (a period ending now, or from/to), in total and by service:
   * voucher charges and settled `exact` payments alike.
   *
   * @example
   * const week = await client.getSpendingReport({ period: "week" });
   * const january = await client.getSpendingReport({ from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z" });
   */
  async getSpendingReport(parameters: SpendingReportParameters = {}): Promise<SpendingReport> {
    const query = "period" in parameters ? { period: parameters.period } : { from: isoTime(parameters.from), to: isoTime(parameters.to) };
    const body = (await this.#read(`/v1/agents/${this.account}/spending`, query)) as Record<string, unknown> & { byService: Record<string, unknown>[] };
    const totals = (row: Record<string, unknown>) => ({ total: BigInt(row.total as string), calls: row.calls as number, averagePerCall: BigInt(row.averagePerCall as string) });
    return {
      account: body.account as Address,
      from: body.from as string,
      to: body.to as string,
      ...totals(body),
      byService: body.byService.map((row) => ({ serviceId: row.serviceId as string, ...totals(row) })),
    };
  }

  /**
   * Deposits `amount` (USDC atomic units) into the escrow account. By default ("auto"), gasless: the
   * signer signs a USDC `ReceiveWithAuthorization` and the API's relayer submits it, so the agent
   * needs no ETH at all; without a relayer (or below its minimum), approve + deposit from the
   * signer's own wallet (needs `rpcUrl` and a `LocalAccount` with ETH). "permit" signs an EIP-2612
   * permit instead (needs `rpcUrl` to read the USDC nonce).
   *
   * @throws {ApiRequestError} when the API refuses a relayed deposit (`invalid_signature`,
   *   `amount_below_minimum`, `authorization_rejected` with the decoded reason, `relayer_unavailable`).
   * @throws {ChainAccessError} when the method needs an `rpcUrl` or a wallet the client lacks.
   * @example
   * const { hash, relayed } = await client.deposit(10_000_000n, {
   *   onStatus: (s) => console.log(s.step),
   *   waitForIndexer: true, // resolve once the API's balance shows it
   * });
   */
  async deposit(amount: bigint, { waitForIndexer, ...parameters }: DepositParameters = {}): Promise<DepositResult> {
    const needsRelayer = parameters.method === undefined || parameters.method === "auto" || parameters.method === "permit";
    const usdc = this.usdc ?? (await this.#readNetwork()).usdc;
    const relayer = needsRelayer ? (this.relayer !== undefined ? this.relayer : (await this.#readNetwork()).relayer) : null;
    const before = waitForIndexer ? (await this.getBalance()).deposited : 0n;
    const result = await deposit(
      { apiUrl: this.apiUrl, fetch: this.#fetch, signer: this.signer, account: this.account, chainId: this.chainId, escrow: this.escrow, usdc, relayer, access: this.#access },
      amount,
      parameters,
    );
    if (waitForIndexer) {
      const timeoutMs = typeof waitForIndexer === "object" ? (waitForIndexer.timeoutMs ?? 60_000) : 60_000;
      const deposited = await this.#waitForDeposited(before + amount, timeoutMs);
      parameters.onStatus?.({ step: "indexed", deposited });
    }
    return result;
  }

  /**
   * Asks to withdraw `amount` from the escrow account, from the signer's own wallet (it pays the
   * gas). While pending, the proxy counts it as spent; finalize it after `unlockAt`.
   *
   * @throws {EscrowBalanceTooLowError} above the on-chain balance; {ChainAccessError} without `rpcUrl` or a wallet.
   * @example
   * const { unlockAt } = await client.requestWithdrawal(5_000_000n);
   * console.log(`finalize after ${new Date(Number(unlockAt) * 1000).toISOString()}`);
   */
  async requestWithdrawal(amount: bigint): Promise<WithdrawalRequestResult> {
    return escrowActions.requestWithdrawal(this.#ownEscrow("request a withdrawal"), amount);
  }

  /**
   * Cancels the pending withdrawal.
   *
   * @throws {NoPendingWithdrawalError} when none is pending.
   * @example
   * await client.cancelWithdrawal();
   */
  async cancelWithdrawal(): Promise<TransactionResult> {
    return escrowActions.cancelWithdrawal(this.#ownEscrow("cancel a withdrawal"));
  }

  /**
   * Finalizes the pending withdrawal once the delay has run out; returns the amount paid out to the
   * signer's wallet (less than requested if settlements claimed some meanwhile).
   *
   * @throws {WithdrawalLockedError} before `unlockAt`; {NoPendingWithdrawalError} when none is pending.
   * @example
   * const { amount } = await client.finalizeWithdrawal();
   */
  async finalizeWithdrawal(): Promise<WithdrawalFinalizeResult> {
    return escrowActions.finalizeWithdrawal(this.#ownEscrow("finalize a withdrawal"));
  }

  /**
   * Lets another key spend from this account: it signs vouchers up to `cap` in total, until
   * `expiresAt`. Its client uses `account` = this account and `signer` = its own key, and can read
   * this account's balance, transactions and spending.
   *
   * @example
   * await client.authorizeDelegate(member.address, { cap: 2_000_000n, expiresAt: new Date(Date.now() + 86_400_000) });
   * const memberClient = await AgentTabClient.connect({ apiUrl, signer: member, account: client.account });
   */
  async authorizeDelegate(delegate: Address, parameters: AuthorizeDelegateParameters): Promise<DelegateResult> {
    return escrowActions.authorizeDelegate(this.#ownEscrow("authorize a delegate"), delegate, parameters);
  }

  /**
   * Revokes a delegate: the proxy refuses its payments and reads once the indexer has seen it.
   *
   * @throws {DelegateNotActiveError} when it is not an active delegate.
   * @example
   * await client.revokeDelegate(member.address);
   */
  async revokeDelegate(delegate: Address): Promise<TransactionResult> {
    return escrowActions.revokeDelegate(this.#ownEscrow("revoke a delegate"), delegate);
  }

  /**
   * Whether a receipt (as `call` returns it) was signed by this API's receipt signer under the
   * reputation contract's domain: the proof of what a call cost. Never throws on a bad receipt.
   *
   * @example
   * const { receipt } = await client.call("weather-api");
   * if (!(await client.verifyReceipt(receipt))) throw new Error("forged receipt");
   */
  async verifyReceipt(receipt: SignedReceipt): Promise<boolean> {
    const { reputation, receiptSigner } = await this.#receiptKeys();
    const { signature, ...message } = receipt;
    return verifyReceipt({ chainId: this.chainId, reputation, receipt: message, signature, signer: receiptSigner });
  }

  /** Who signs receipts, and under which domain: as configured, else from `GET /v1/network`. */
  async #receiptKeys(): Promise<ReceiptKeys> {
    if (this.reputation !== undefined && this.receiptSigner !== undefined) return { reputation: this.reputation, receiptSigner: this.receiptSigner };
    const network = await this.#readNetwork();
    return { reputation: this.reputation ?? network.reputation, receiptSigner: this.receiptSigner ?? network.receiptSigner };
  }

  /**
   * Why a paid call's receipt is not believed, or undefined when it is: it must be signed by the
   * receipt signer, name this client's signer as payer and the provider the voucher paid, and
   * charge at most the price signed for.
   */
  async #receiptRejection(
    receipt: SignedReceipt,
    { price, provider, reputation, receiptSigner }: ReceiptKeys & { price: bigint; provider: Address },
  ): Promise<{ reason: ReceiptRejection; detail: string } | undefined> {
    const { signature, ...message } = receipt;
    if (!(await verifyReceipt({ chainId: this.chainId, reputation, receipt: message, signature, signer: receiptSigner }))) {
      return { reason: "invalid_signature", detail: `its signature does not recover to the receipt signer ${receiptSigner}` };
    }
    if (!isAddressEqual(receipt.payer, this.signer.address)) return { reason: "wrong_payer", detail: `it names ${receipt.payer} as payer, not ${this.signer.address}` };
    if (!isAddressEqual(receipt.provider, provider)) return { reason: "wrong_provider", detail: `it names ${receipt.provider} as provider, not ${provider}, whom the voucher paid` };
    if (receipt.amount > price) return { reason: "amount_above_price", detail: `it charges ${receipt.amount}, above the ${price} signed for` };
    return undefined;
  }

  /** `GET /v1/network`, read once; it must describe this client's chain and escrow. */
  #readNetwork(): Promise<ApiNetwork> {
    this.#network ??= getApiNetwork({ apiUrl: this.apiUrl, fetch: this.#fetch, retry: this.#retry }).then((network) => {
      if (network.chainId !== this.chainId || !isAddressEqual(network.escrow, this.escrow)) {
        throw new ChainAccessError({ missing: "network", action: `use ${this.apiUrl}: it serves chain ${network.chainId}, escrow ${network.escrow}` });
      }
      return network;
    });
    this.#network.catch(() => {
      this.#network = undefined;
    });
    return this.#network;
  }

  /** The signer's own escrow account: withdrawals and delegations act on `msg.sender`. */
  #ownEscrow(action: string): escrowActions.EscrowTarget {
    if (!isAddressEqual(this.account, this.signer.address)) {
      throw new ChainAccessError({ missing: "walletSigner", action: `${action} for ${this.account} with a delegate's key (only the account's own key can)` });
    }
    return { access: this.#access, escrow: this.escrow };
  }

  async #waitForDeposited(deposited: bigint, timeoutMs: number): Promise<bigint> {
    const started = Date.now();
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      const balance = await this.getBalance();
      if (balance.deposited >= deposited) return balance.deposited;
      if (Date.now() - started > timeoutMs) {
        throw new IndexerTimeoutError({ expected: deposited, seen: balance.deposited, timeoutMs });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async #read(path: string, query: Record<string, string | number | undefined> = {}): Promise<unknown> {
    return getJson(this.#fetch, apiUrlOf(this.apiUrl, path, query), { authorization: await this.#session.authorization() }, { retry: this.#retry });
  }

  /** The voucher requirement of an unpaid call's 402, or the error the response stands for. */
  async #requirementsFrom(response: Response): Promise<PaymentRequirements> {
    const body = await readBody(response);
    if (response.status === 402) {
      const required = voucherRequirement(response.headers.get("payment-required"));
      if (required) return required.requirements;
    }
    if (response.ok) {
      throw new UnexpectedResponseError({ status: response.status, reason: "expected a 402 with an agenttab-voucher requirement in PAYMENT-REQUIRED" });
    }
    throw apiErrorFromResponse({ status: response.status, body, retryAfter: response.headers.get("retry-after") });
  }
}

type ReceiptKeys = { reputation: Address; receiptSigner: Address };

function encodeBody(body: unknown): { body?: BodyInit; contentType?: string } {
  if (body === undefined) return {};
  if (typeof body === "string") return { body };
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return { body: body as BodyInit };
  return { body: JSON.stringify(body), contentType: "application/json" };
}
