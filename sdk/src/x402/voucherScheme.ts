import type { PaymentRequiredHook } from "@x402/core/client";
import type {
  DefaultAsset,
  PaymentRequired,
  PaymentPayloadResult,
  PaymentRequirements,
  SchemeClientHooks,
  SchemeNetworkClient,
} from "@x402/core/types";
import { getAddress } from "viem";
import type { Address } from "viem";

import { VoucherRequirementError } from "../client/errors.ts";
import { VOUCHER_SCHEME, voucherOffer } from "../client/payment.ts";
import type { VoucherOffer } from "../client/payment.ts";
import { SpendBudget } from "../client/spendBudget.ts";
import { VoucherBook } from "../client/voucherBook.ts";
import type { VoucherTicket } from "../client/voucherBook.ts";
import { AgentTabError } from "../errors.ts";
import { caip2ToChainId, getNetwork } from "../networks.ts";
import { signVoucher } from "../typedData.ts";
import type { VoucherSigner } from "../typedData.ts";

export { VoucherRequirementError };

/** What the AgentTab voucher scheme plug-in is built with. */
export type AgentTabVoucherSchemeOptions = {
  /** Signs the vouchers: a viem account, a smart wallet or a remote signer (`address` + `signTypedData`). */
  signer: VoucherSigner;
  /** The escrow account the vouchers draw on: the signer's own unless it is a delegate. */
  account?: Address | undefined;
  /**
   * The most the plug-in will ever sign for per escrow (USDC atomic units): the sum, over the
   * providers paid, of the highest voucher signed for each.
   */
  maxSpend?: bigint | undefined;
  /** Pays only this escrow; any other requirement is refused before signing (recommended). */
  escrow?: Address | undefined;
  /**
   * The AgentTab API(s) this plug-in pays, as origins or URLs (`https://api.agenttab.example`). A 402
   * whose resource is on any other origin is refused before signing: a voucher is a bearer
   * credential on the escrow, and any site could otherwise ask for one.
   */
  apiOrigins: readonly string[];
  /**
   * The most a 402's `extra.charged` may raise the charged total this instance knows of, in one
   * step (USDC atomic units; 1 USDC by default). The charged total is what the server says, and
   * every unit of it becomes headroom in the signed voucher, so a larger jump is refused before
   * signing. After a restart with more than this charged, raise it (or set `maxSpend` tightly).
   */
  maxCatchUp?: bigint | undefined;
};

/** {@link AgentTabVoucherSchemeOptions.maxCatchUp}'s default: 1 USDC. */
export const DEFAULT_MAX_CATCH_UP = 1_000_000n;

/**
 * AgentTab's cumulative escrow vouchers as an x402 v2 client scheme (`agenttab-voucher`), for a
 * stock `@x402/core` client and so `@x402/fetch`'s `wrapFetchWithPayment`. A voucher pays the
 * provider the 402's `payTo` names, so the scheme keeps one track per (network, escrow, provider).
 * Each payment signs `charged so far + calls in flight + this call's maximum` on its track: the
 * charged total comes from the proxy's `extra.charged` (at most `maxCatchUp` above what it knew)
 * and from receipts, and concurrent calls through one instance cover each other. After a restart
 * the first voucher is too low; the proxy's corrective 402 carries the charged total and the
 * scheme's `onPaymentResponse` hook asks the transport to retry once with a voucher that covers
 * it. When a quality gate routes the call to a backup run by another provider, the 402
 * `wrong_provider` names it, and the transport's one retry signs for that provider instead (within
 * x402's per-payment spend cap). Never signs past `maxSpend`, summed over an escrow's providers. Signs only for 402s that answered a
 * request to one of `apiOrigins`: x402 shows the requested URL only to the HTTP client's
 * `onPaymentRequired` hook, so register {@link AgentTabVoucherScheme.onPaymentRequired} there
 * (without it, nothing is signed); the scheme's `onBeforePaymentCreation` hook checks it.
 *
 * The escrow holds USDC only, so the scheme reports known USDC as a default asset for x402's spend
 * controls. On a local chain (its FiatToken has no well-known address), allow that asset with
 * `client.setSpendControls({ allowedAssets: [{ network, asset: usdc }] })`.
 *
 * @example
 * import { x402Client, x402HTTPClient } from "@x402/core/client";
 * import { wrapFetchWithPayment } from "@x402/fetch";
 *
 * const scheme = new AgentTabVoucherScheme({ signer: agent, maxSpend: 5_000_000n, escrow: deployment.escrow, apiOrigins: [apiUrl] });
 * const client = new x402Client().register("eip155:*", scheme);
 * const paidFetch = wrapFetchWithPayment(fetch, new x402HTTPClient(client).onPaymentRequired(scheme.onPaymentRequired));
 * const res = await paidFetch(`${apiUrl}/v1/proxy/weather-api/forecast?city=paris`);
 * scheme.knownCharged(deployment.escrow); // what the proxy has charged so far
 */
export class AgentTabVoucherScheme implements SchemeNetworkClient {
  readonly scheme = VOUCHER_SCHEME;
  readonly schemeHooks: SchemeClientHooks;
  readonly #signer: VoucherSigner;
  readonly #account: Address;
  readonly #maxSpend: bigint | undefined;
  readonly #escrow: Address | undefined;
  readonly #apiOrigins: ReadonlySet<string>;
  readonly #maxCatchUp: bigint;
  // Requirements whose 402 came from one of `apiOrigins` (the very objects x402 then passes to
  // `createPaymentPayload`), so that nothing else is signed for.
  readonly #vetted = new WeakSet<PaymentRequirements>();
  // The URL each 402 answered, from the HTTP client's `onPaymentRequired` hook.
  readonly #requestUrls = new WeakMap<PaymentRequired, string>();

  /**
   * `x402HTTPClient`'s `onPaymentRequired` hook: tells the scheme which URL a 402 answered, so that
   * it signs only for `apiOrigins`. Without it the scheme signs nothing.
   *
   * @example
   * const paidFetch = wrapFetchWithPayment(fetch, new x402HTTPClient(client).onPaymentRequired(scheme.onPaymentRequired));
   */
  readonly onPaymentRequired: PaymentRequiredHook = async ({ paymentRequired, requestUrl }) => {
    this.#requestUrls.set(paymentRequired, requestUrl);
  };
  // One book per (chain, escrow, provider) track; the tracks of one escrow share its budget.
  readonly #books = new Map<string, VoucherBook>();
  readonly #budgets = new Map<string, SpendBudget>();
  // Calls in flight, by the payload object the transport hands back to the response hook (two
  // vouchers for the same total have the same signature, so the signature is no key).
  readonly #tickets = new Map<object, { ticket: VoucherTicket; book: VoucherBook; network: string; offer: VoucherOffer; timer: ReturnType<typeof setTimeout> }>();
  // A 402 `wrong_provider` names the provider serving the call; the transport's retry passes the
  // first 402's requirements again, so the next payment for them signs for this offer instead.
  readonly #reroutes = new WeakMap<PaymentRequirements, PaymentRequirements>();

  constructor({ signer, account, maxSpend, escrow, apiOrigins, maxCatchUp }: AgentTabVoucherSchemeOptions) {
    this.#signer = signer;
    this.#account = getAddress(account ?? signer.address);
    this.#maxSpend = maxSpend;
    this.#escrow = escrow === undefined ? undefined : getAddress(escrow);
    if (!Array.isArray(apiOrigins) || apiOrigins.length === 0) throw new AgentTabError("apiOrigins must name the AgentTab API(s) the plug-in pays.");
    this.#apiOrigins = new Set(apiOrigins.map((origin) => originOf(origin) ?? invalidOrigin(origin)));
    this.#maxCatchUp = maxCatchUp ?? DEFAULT_MAX_CATCH_UP;
    if (this.#maxCatchUp < 0n) throw new AgentTabError("maxCatchUp must not be negative.");
    this.schemeHooks = {
      onBeforePaymentCreation: async (context) => {
        const requirements = context.selectedRequirements;
        if (requirements.scheme !== VOUCHER_SCHEME) return;
        // The URL actually requested, as the transport saw it: the 402's own `resource.url` is
        // whatever the answering server wrote, so it proves nothing.
        const requestUrl = this.#requestUrls.get(context.paymentRequired);
        if (requestUrl === undefined) {
          throw new VoucherRequirementError({
            reason: "the request URL is unknown: wrap fetch with `new x402HTTPClient(client).onPaymentRequired(scheme.onPaymentRequired)`",
          });
        }
        const origin = originOf(requestUrl);
        if (origin === undefined || !this.#apiOrigins.has(origin)) {
          throw new VoucherRequirementError({ reason: `${requestUrl} is not on an AgentTab API this plug-in pays (${[...this.#apiOrigins].join(", ")})` });
        }
        this.#vetted.add(requirements);
      },
      onPaymentResponse: async (context) => {
        const entry = this.#tickets.get(context.paymentPayload.payload);
        if (!entry) return;
        // The receipt's `cumulative` is the total charged on the track the voucher paid.
        this.#settle(context.paymentPayload.payload, cumulativeOf(context.settleResponse?.extensions));
        const requirements = context.paymentRequired?.accepts.find((a) => a.scheme === VOUCHER_SCHEME);
        let offer: VoucherOffer;
        try {
          if (requirements === undefined || requirements.network !== entry.network) return;
          offer = voucherOffer(requirements);
        } catch {
          return;
        }
        if (offer.escrow !== entry.offer.escrow) return;
        const book = this.#bookFor(entry.network, offer);
        if (offer.charged !== undefined) {
          // A jump above maxCatchUp is not believed: no retry, the 402 goes back to the caller.
          if (offer.charged > book.charged + this.#maxCatchUp) return;
          book.observeCharged(offer.charged);
        }
        const error = context.paymentRequired?.error;
        // The voucher was below what the proxy had charged and holds in flight (another instance on
        // this key, a restart, or concurrent calls arriving out of order): the transport's one retry
        // signs from the corrected total.
        if (error === "voucher_too_low" && offer.charged !== undefined) return { recovered: true };
        // A quality gate routed the call to a backup run by another provider: the transport's one
        // retry signs for the provider the 402 names.
        if (error === "wrong_provider" && offer.provider !== entry.offer.provider) {
          this.#reroutes.set(context.requirements, requirements);
          return { recovered: true };
        }
        return;
      },
    };
  }

  /**
   * USDC where AgentTab knows its address (Base, Base Sepolia), for x402's spend controls.
   *
   * @example
   * scheme.findDefaultAsset("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "eip155:8453"); // { symbol: "USDC", decimals: 6, … }
   */
  findDefaultAsset = (asset: string, network: string): DefaultAsset | undefined => {
    const chainId = caip2ToChainId(network);
    const usdc = chainId === undefined ? undefined : getNetwork({ chainId })?.usdc;
    return usdc !== undefined && usdc.toLowerCase() === asset.toLowerCase() ? { asset: usdc, decimals: 6, symbol: "USDC" } : undefined;
  };

  /**
   * The charged total this instance knows of for an escrow (from receipts and corrective 402s),
   * summed over the providers it paid, or on one provider's track.
   *
   * @example
   * scheme.knownCharged(deployment.escrow); // 75_000n
   * scheme.knownCharged(deployment.escrow, { provider: weatherProvider }); // 50_000n
   */
  knownCharged(escrow: Address, { network, provider }: { network?: string; provider?: Address } = {}): bigint {
    let total = 0n;
    for (const [key, book] of this.#books) {
      const [bookNetwork, bookEscrow, bookProvider] = key.split("|");
      if (bookEscrow !== escrow.toLowerCase()) continue;
      if (network !== undefined && bookNetwork !== network) continue;
      if (provider !== undefined && bookProvider !== provider.toLowerCase()) continue;
      total += book.charged;
    }
    return total;
  }

  /**
   * Signs a voucher for this call (x402's `SchemeNetworkClient`). The call counts as in flight until
   * its response comes back through `onPaymentResponse`, or the requirement's `maxTimeoutSeconds`
   * has passed.
   *
   * @throws {VoucherRequirementError} for a requirement it cannot pay, or one whose 402 did not
   *   come through `onBeforePaymentCreation` from one of `apiOrigins`, or a reroute to a backup
   *   priced above x402's per-payment spend cap.
   * @throws {SpendLimitError} when the voucher would take the escrow's signed total past `maxSpend`.
   */
  async createPaymentPayload(
    x402Version: number,
    requirements: PaymentRequirements,
    context?: { maxAmountPerPayment?: string | undefined },
  ): Promise<PaymentPayloadResult> {
    if (!this.#vetted.has(requirements)) {
      throw new VoucherRequirementError({ reason: "the requirement's resource was not checked against apiOrigins: use the plug-in through an x402Client" });
    }
    this.#vetted.delete(requirements);
    const original = voucherOffer(requirements);
    const rerouted = this.#reroutes.get(requirements);
    this.#reroutes.delete(requirements);
    const offer = rerouted === undefined ? original : voucherOffer(rerouted);
    if (offer.escrow !== original.escrow) {
      throw new VoucherRequirementError({ reason: `the rerouted offer is for the escrow ${offer.escrow}, not ${original.escrow}` });
    }
    const cap = context?.maxAmountPerPayment;
    if (rerouted !== undefined && cap !== undefined && /^[0-9]+$/.test(cap) && offer.amount > BigInt(cap)) {
      throw new VoucherRequirementError({ reason: `the backup provider ${offer.provider} may charge ${offer.amount}, above the spend cap of ${cap} per payment` });
    }
    const { escrow, amount, charged } = offer;
    if (this.#escrow !== undefined && this.#escrow !== escrow) {
      throw new VoucherRequirementError({ reason: `the escrow ${escrow} is not the one this plug-in pays (${this.#escrow})` });
    }
    const book = this.#bookFor(requirements.network, offer);
    if (charged !== undefined) {
      if (charged > book.charged + this.#maxCatchUp) {
        throw new VoucherRequirementError({
          reason: `extra.charged ${charged} is more than maxCatchUp (${this.#maxCatchUp}) above the charged total known (${book.charged})`,
        });
      }
      book.observeCharged(charged);
    }
    const ticket = await book.sign(amount);
    const timeoutMs = Math.max(requirements.maxTimeoutSeconds, 1) * 1_000 + 5_000;
    const payload = {
      account: this.#account,
      signer: this.#signer.address,
      provider: offer.provider,
      maxCumulative: ticket.maxCumulative.toString(),
      signature: ticket.signature,
    };
    const timer = setTimeout(() => this.#settle(payload), timeoutMs);
    timer.unref?.();
    this.#tickets.set(payload, { ticket, book, network: requirements.network, offer, timer });
    return { x402Version, payload };
  }

  /** The track of (network, escrow, provider), created on first use within the escrow's budget. */
  #bookFor(network: string, { chainId, escrow, provider }: Pick<VoucherOffer, "chainId" | "escrow" | "provider">): VoucherBook {
    const escrowKey = `${network}|${escrow.toLowerCase()}`;
    const key = `${escrowKey}|${provider.toLowerCase()}`;
    let book = this.#books.get(key);
    if (!book) {
      let budget = this.#budgets.get(escrowKey);
      if (!budget) {
        budget = new SpendBudget({ maxSpend: this.#maxSpend });
        this.#budgets.set(escrowKey, budget);
      }
      book = new VoucherBook({
        budget,
        sign: (maxCumulative) => signVoucher(this.#signer, { chainId, escrow, account: this.#account, provider, maxCumulative }),
      });
      this.#books.set(key, book);
    }
    return book;
  }

  #settle(payload: object, chargedCumulative?: bigint): void {
    const entry = this.#tickets.get(payload);
    if (!entry) return;
    this.#tickets.delete(payload);
    clearTimeout(entry.timer);
    entry.ticket.settle(chargedCumulative);
  }
}

/** The origin (`scheme://host[:port]`) of a URL, or undefined when it is not an http(s) URL. */
function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

function invalidOrigin(origin: string): never {
  throw new AgentTabError(`apiOrigins: "${origin}" is not an http(s) URL.`);
}

function cumulativeOf(extensions: Record<string, unknown> | undefined): bigint | undefined {
  const cumulative = (extensions?.agenttab as { receipt?: { cumulative?: unknown } } | undefined)?.receipt?.cumulative;
  return typeof cumulative === "string" && /^(0|[1-9][0-9]{0,77})$/.test(cumulative) ? BigInt(cumulative) : undefined;
}
