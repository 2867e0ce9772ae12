import { parseEventLogs } from "viem";
import type { Address } from "viem";

import { signServiceDelisting, signServiceRegistration } from "../apiTypedData.ts";
import type { ServiceRegistration } from "../apiTypedData.ts";
import { createChainAccess, requirePublicClient, sendContractWrite, transactionResult } from "../client/chain.ts";
import type { ChainAccess } from "../client/chain.ts";
import { NothingToWithdrawError } from "../client/chainErrors.ts";
import { apiUrlOf, getJson, postJson } from "../client/http.ts";
import { getApiNetwork } from "../client/network.ts";
import type { ApiNetwork } from "../client/network.ts";
import { defaultRetry } from "../client/retry.ts";
import type { RetryOptions } from "../client/retry.ts";
import { SignInSession } from "../client/session.ts";
import type { Service } from "../client/types.ts";
import { agentTabEscrowAbi } from "../generated/abis.ts";
import type {
  DelistedService,
  ProviderClientSigner,
  ProviderConnectOptions,
  ProviderEarnings,
  ProviderService,
  ProviderWithdrawParameters,
  ProviderWithdrawResult,
  RegisteredService,
} from "./types.ts";

/** How long a signed registration or delisting stays valid: long enough to reach the API, no longer. */
const REQUEST_VALIDITY_SECONDS = 300n;

/**
 * A provider's client of the AgentTab API: registers, updates and delists its services with
 * EIP-712 requests signed by its key, reads its earnings, and withdraws them on-chain.
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const provider = await ProviderClient.connect({ apiUrl: "https://api.agenttab.xyz", signer: privateKeyToAccount(key), rpcUrl: "https://mainnet.base.org" });
 * await provider.register({ serviceId: "weather-api", name: "Weather", category: "data", upstreamUrl: "https://weather.example.com/v1", pricing: "fixed", price: 2_500n });
 * const { withdrawable } = await provider.getEarnings();
 * if (withdrawable > 0n) await provider.withdraw();
 */
export class ProviderClient {
  readonly apiUrl: string;
  readonly signer: ProviderClientSigner;
  /** The provider's address: the signer's. */
  readonly address: Address;
  readonly network: ApiNetwork;
  readonly #fetch: typeof globalThis.fetch;
  readonly #retry: RetryOptions;
  readonly #access: ChainAccess;
  readonly #session: SignInSession;
  #lastNonce = 0n;

  constructor({ apiUrl, signer, network, rpcUrl, fetch, retry }: Omit<ProviderConnectOptions, "rpcUrl"> & { network: ApiNetwork; rpcUrl?: string | undefined }) {
    this.apiUrl = apiUrl;
    this.signer = signer;
    this.address = signer.address;
    this.network = network;
    this.#fetch = fetch ?? globalThis.fetch.bind(globalThis);
    this.#retry = { ...defaultRetry, ...retry };
    this.#access = createChainAccess({ rpcUrl, chainId: network.chainId, signer });
    this.#session = new SignInSession({ signer, chainId: network.chainId, escrow: network.escrow });
  }

  /**
   * A provider client configured from the API's `GET /v1/network`.
   *
   * @example
   * const provider = await ProviderClient.connect({ apiUrl: "http://127.0.0.1:8787", signer: privateKeyToAccount(key), rpcUrl: "http://127.0.0.1:8545" });
   */
  static async connect({ apiUrl, signer, rpcUrl, fetch, retry }: ProviderConnectOptions): Promise<ProviderClient> {
    const network = await getApiNetwork({ apiUrl, ...(fetch ? { fetch } : {}), ...(retry ? { retry } : {}) });
    return new ProviderClient({ apiUrl, signer, network, rpcUrl, ...(fetch ? { fetch } : {}), ...(retry ? { retry } : {}) });
  }

  /**
   * Lists a new service (or updates one of the provider's own: registration is an upsert). The
   * request is signed with a fresh nonce and a 5-minute deadline.
   *
   * @throws {ApiRequestError} `invalid_pricing`, `upstream_not_allowed`, `not_service_owner`, ….
   * @example
   * const listed = await provider.register({
   *   serviceId: "weather-api",
   *   name: "Weather",
   *   description: "Current weather by city",
   *   category: "data",
   *   tags: ["weather"],
   *   upstreamUrl: "https://weather.example.com/v1",
   *   pricing: "fixed",
   *   price: 2_500n,
   * });
   * console.log(listed.created, listed.nonce);
   */
  async register(service: ProviderService): Promise<RegisteredService> {
    return this.#upsert(service);
  }

  /**
   * Changes a listed service (price, description, upstream, …): the whole description is signed
   * again, as for `register`, and replaces the old one; a delisted service is listed again.
   *
   * @example
   * await provider.update({ ...service, price: 3_000n, maxPrice: 3_000n });
   */
  async update(service: ProviderService): Promise<RegisteredService> {
    return this.#upsert(service);
  }

  /**
   * Delists a service: it leaves discovery and takes no more calls (a later `update` relists it).
   *
   * @example
   * await provider.delist("weather-api");
   */
  async delist(serviceId: string): Promise<DelistedService> {
    const { chainId, escrow } = this.network;
    const nonce = this.#nextNonce();
    const deadline = nowSeconds() + REQUEST_VALIDITY_SECONDS;
    const signature = await signServiceDelisting(this.signer, { chainId, escrow, delisting: { serviceId, nonce, deadline } });
    const { body } = await postJson(
      this.#fetch,
      apiUrlOf(this.apiUrl, `/v1/services/${encodeURIComponent(serviceId)}`),
      { provider: this.address, nonce: nonce.toString(), deadline: deadline.toString(), signature },
      { method: "DELETE" },
    );
    const answer = body as { id: string; status: "delisted"; nonce: string };
    return { id: answer.id, status: answer.status, nonce: BigInt(answer.nonce) };
  }

  /**
   * The provider's listed services (active ones; delisted services leave discovery), every page.
   *
   * @example
   * for (const service of await provider.listServices()) console.log(service.id, service.price, service.reputation.score);
   */
  async listServices(): Promise<Service[]> {
    const services: Service[] = [];
    let cursor: string | undefined;
    do {
      const url = apiUrlOf(this.apiUrl, "/v1/services", { provider: this.address, sort: "price", limit: 100, cursor });
      const page = (await getJson(this.#fetch, url, {}, { retry: this.#retry })) as { items: Record<string, unknown>[]; nextCursor: string | null };
      for (const item of page.items) services.push({ ...item, price: BigInt(item.price as string), maxPrice: BigInt(item.maxPrice as string) } as Service);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return services;
  }

  /**
   * The provider's earnings (signed in as the provider): pending (charged, not yet settled),
   * settled, withdrawable on-chain and withdrawn.
   *
   * @example
   * const { pending, withdrawable } = await provider.getEarnings();
   */
  async getEarnings(): Promise<ProviderEarnings> {
    const url = apiUrlOf(this.apiUrl, `/v1/providers/${this.address}/earnings`);
    const body = (await getJson(this.#fetch, url, { authorization: await this.#session.authorization() }, { retry: this.#retry })) as Record<string, unknown>;
    return {
      provider: body.provider as Address,
      pending: BigInt(body.pending as string),
      pendingCalls: body.pendingCalls as number,
      settled: BigInt(body.settled as string),
      withdrawable: BigInt(body.withdrawable as string),
      withdrawn: BigInt(body.withdrawn as string),
    };
  }

  /**
   * Withdraws earnings on-chain (`withdrawEarnings`) from the provider's own key, which pays the
   * gas: everything withdrawable by default (read from the chain, not the index), to the provider
   * itself unless `to` is given.
   *
   * @throws {NothingToWithdrawError} when nothing is withdrawable; {InsufficientEarningsError} above it;
   *   {ChainAccessError} without `rpcUrl` or a signer that can send transactions.
   * @example
   * const { amount, hash } = await provider.withdraw({ to: coldWallet });
   */
  async withdraw({ amount, to }: ProviderWithdrawParameters = {}): Promise<ProviderWithdrawResult> {
    const { escrow } = this.network;
    const publicClient = requirePublicClient(this.#access, "withdraw earnings");
    const recipient = to ?? this.address;
    const withdrawable = await publicClient.readContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [this.address] });
    const value = amount ?? withdrawable;
    if (value === 0n && withdrawable === 0n) throw new NothingToWithdrawError({ provider: this.address });
    const { receipt } = await sendContractWrite(
      this.#access,
      { address: escrow, abi: agentTabEscrowAbi, functionName: "withdrawEarnings", args: [recipient, value] },
      "withdraw earnings",
    );
    const [event] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "EarningsWithdrawn", logs: receipt.logs });
    return { ...transactionResult(receipt), amount: value, to: recipient, remaining: event?.args.balance ?? withdrawable - value };
  }

  async #upsert(service: ProviderService): Promise<RegisteredService> {
    const { chainId, escrow } = this.network;
    // Field by field: the API takes exactly the signed fields, nothing else the caller's object may carry.
    const registration: ServiceRegistration = {
      serviceId: service.serviceId,
      name: service.name,
      description: service.description ?? "",
      category: service.category,
      tags: service.tags ?? [],
      capabilities: service.capabilities ?? [],
      upstreamUrl: service.upstreamUrl,
      pricing: service.pricing,
      price: service.price,
      maxPrice: service.maxPrice ?? service.price,
      usageHeader: service.usageHeader ?? "",
      exampleInput: service.exampleInput ?? "",
      exampleOutput: service.exampleOutput ?? "",
      nonce: this.#nextNonce(),
      deadline: nowSeconds() + REQUEST_VALIDITY_SECONDS,
    };
    const signature = await signServiceRegistration(this.signer, { chainId, escrow, registration });
    const { status, body } = await postJson(this.#fetch, apiUrlOf(this.apiUrl, "/v1/services"), {
      ...registration,
      tags: [...registration.tags],
      capabilities: [...registration.capabilities],
      price: registration.price.toString(),
      maxPrice: registration.maxPrice.toString(),
      nonce: registration.nonce.toString(),
      deadline: registration.deadline.toString(),
      ...(service.discovery === undefined ? {} : { discovery: service.discovery }),
      provider: this.address,
      signature,
    });
    const answer = body as Record<string, unknown>;
    return {
      ...answer,
      price: BigInt(answer.price as string),
      maxPrice: BigInt(answer.maxPrice as string),
      nonce: BigInt(answer.nonce as string),
      created: status === 201,
    } as RegisteredService;
  }

  /** Microseconds since the epoch, always above the last: a fresh client's nonce beats an older client's. */
  #nextNonce(): bigint {
    const candidate = BigInt(Date.now()) * 1_000n;
    this.#lastNonce = candidate > this.#lastNonce ? candidate : this.#lastNonce + 1n;
    return this.#lastNonce;
  }
}

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));
