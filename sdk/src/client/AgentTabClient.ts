import type { PaymentRequirements } from "@x402/core/types";
import type { Address } from "viem";

import { signVoucher } from "../typedData.ts";
import { PriceExceedsMaxError, UnexpectedResponseError, apiErrorFromResponse } from "./errors.ts";
import { apiUrlOf, getJson, isoTime, readBody } from "./http.ts";
import { receiptFromPaymentResponse, voucherPaymentHeader, voucherRequirement } from "./payment.ts";
import { SignInSession } from "./session.ts";
import type {
  AgentTabClientOptions,
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
 * Voucher state lives in memory: concurrent calls sign non-overlapping cumulative totals, and a
 * fresh client (after a restart) catches up from the proxy's corrective 402 on its first call.
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const client = new AgentTabClient({
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
  readonly #fetch: typeof globalThis.fetch;
  readonly #vouchers: VoucherBook;
  readonly #session: SignInSession;
  /** The last voucher requirement seen per service, to pay without a first unpaid round trip. */
  readonly #requirements = new Map<string, PaymentRequirements>();

  constructor({ apiUrl, signer, account, chainId, escrow, maxSpend, fetch }: AgentTabClientOptions) {
    this.apiUrl = apiUrl;
    this.signer = signer;
    this.account = account ?? signer.address;
    this.chainId = chainId;
    this.escrow = escrow;
    this.maxSpend = maxSpend;
    this.#fetch = fetch ?? globalThis.fetch.bind(globalThis);
    this.#vouchers = new VoucherBook({
      maxSpend,
      sign: (maxCumulative) => signVoucher(signer, { chainId, escrow, account: this.account, maxCumulative }),
    });
    this.#session = new SignInSession({ signer, chainId, escrow });
  }

  /**
   * The charged total this client knows of (from receipts and corrective 402s), in USDC atomic units.
   *
   * @example
   * console.log(`spent ${client.knownCharged} so far`);
   */
  get knownCharged(): bigint {
    return this.#vouchers.charged;
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
    const page = (await getJson(this.#fetch, url, {})) as { items: Record<string, unknown>[]; nextCursor: string | null };
    return {
      items: page.items.map((item) => ({ ...item, price: BigInt(item.price as string), maxPrice: BigInt(item.maxPrice as string) }) as ServicePage["items"][number]),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * Calls a service through the paying proxy: asks its price (or reuses the last one seen), signs a
   * voucher covering it, and returns the response with what it cost and the proxy's signed receipt.
   *
   * @throws {SpendLimitError} before signing, when the voucher would exceed `maxSpend`.
   * @throws {PriceExceedsMaxError} when the service may cost more than `maxAmount`.
   * @throws {InsufficientBalanceError}, {ServiceNotFoundError}, {RateLimitedError},
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
    const send = (payment: string | undefined) =>
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

    let requirements = this.#requirements.get(serviceId);
    if (requirements === undefined) {
      const response = await send(undefined);
      requirements = await this.#requirementsFrom(response);
      this.#requirements.set(serviceId, requirements);
    }
    for (let attempt = 0; ; attempt += 1) {
      const amount = BigInt(requirements.amount);
      if (maxAmount !== undefined && amount > maxAmount) {
        throw new PriceExceedsMaxError({
          status: 402,
          body: { code: "price_exceeds_max", message: `This call may cost up to ${amount}, above maxAmount ${maxAmount}`, details: { price: amount.toString(), max: maxAmount.toString() } },
        });
      }
      const ticket = await this.#vouchers.sign(amount);
      let chargedCumulative: bigint | undefined;
      try {
        const payment = voucherPaymentHeader({ requirements, account: this.account, signer: this.signer.address, maxCumulative: ticket.maxCumulative, signature: ticket.signature });
        const started = performance.now();
        const response = await send(payment);
        const data = await readBody(response);
        const latencyMs = Math.round(performance.now() - started);
        const receipt = receiptFromPaymentResponse(response.headers.get("payment-response"));
        if (receipt !== undefined) {
          chargedCumulative = receipt.cumulative;
          return {
            status: response.status,
            data: data as data,
            headers: response.headers,
            amount: BigInt(response.headers.get("x-acf-amount") ?? receipt.amount),
            latencyMs,
            receipt,
            requestId: response.headers.get("x-acf-request-id") ?? receipt.requestId,
          };
        }
        const corrective = response.status === 402 ? voucherRequirement(response.headers.get("payment-required")) : undefined;
        if (corrective) this.#requirements.set(serviceId, corrective.requirements);
        if (corrective?.error === "voucher_too_low" && corrective.charged !== undefined && attempt === 0) {
          // A restarted client, or another client on the same key: catch up and pay again, once.
          this.#vouchers.observeCharged(corrective.charged);
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
   * The account's charged calls, newest first, a page at a time.
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
   * What the account spent over a window (a period ending now, or from/to), in total and by service.
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

  async #read(path: string, query: Record<string, string | number | undefined> = {}): Promise<unknown> {
    return getJson(this.#fetch, apiUrlOf(this.apiUrl, path, query), { authorization: await this.#session.authorization() });
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

function encodeBody(body: unknown): { body?: BodyInit; contentType?: string } {
  if (body === undefined) return {};
  if (typeof body === "string") return { body };
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return { body: body as BodyInit };
  return { body: JSON.stringify(body), contentType: "application/json" };
}
