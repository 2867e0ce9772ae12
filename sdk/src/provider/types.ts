import type { Address } from "viem";

import type { ServiceRegistration, ServiceRegistrationSigner, ServiceDelistingSigner, SignInSigner } from "../apiTypedData.ts";
import type { TransactionResult } from "../client/chain.ts";
import type { RetryOptions } from "../client/retry.ts";
import type { Service } from "../client/types.ts";

/** Anything that signs a provider's registrations, delistings and sign-ins: a viem `LocalAccount`, a remote signer. */
export type ProviderClientSigner = ServiceRegistrationSigner & ServiceDelistingSigner & SignInSigner;

/** What {@link ProviderClient.connect} needs: the API's URL and the provider's key; `rpcUrl` for withdrawals. */
export type ProviderConnectOptions = {
  apiUrl: string;
  signer: ProviderClientSigner;
  /** A JSON-RPC URL of the chain: needed to withdraw earnings (the signer sends and pays the gas). */
  rpcUrl?: string;
  fetch?: typeof globalThis.fetch;
  retry?: RetryOptions;
};

/**
 * A service as its provider describes it: the `ServiceRegistration` message without the nonce and
 * deadline, which the client sets. Omitted text fields are signed as "" and lists as [];
 * `maxPrice` defaults to `price` (right for a fixed price). `discovery` (not signed) says how the
 * service is called, for x402 clients' discovery.
 */
export type ProviderService = Omit<
  ServiceRegistration,
  "nonce" | "deadline" | "description" | "tags" | "capabilities" | "maxPrice" | "usageHeader" | "exampleInput" | "exampleOutput"
> &
  Partial<Pick<ServiceRegistration, "description" | "tags" | "capabilities" | "maxPrice" | "usageHeader" | "exampleInput" | "exampleOutput">> & {
    discovery?: ServiceDiscoveryFields;
  };

/**
 * How a service is called, as x402 discovery shows it (the `bazaar` extension of its 402s and its
 * listing at `GET /discovery/resources`). Descriptive only, so not part of the signed registration:
 * it neither routes nor prices a call. The example input is the signed `exampleInput`: query
 * parameters for GET, HEAD and DELETE (a JSON object of strings, numbers or booleans), the body otherwise.
 */
export type ServiceDiscoveryFields = {
  /** The method of an example call; POST when there is an example input, else GET. */
  httpMethod?: "GET" | "HEAD" | "DELETE" | "POST" | "PUT" | "PATCH";
  /** How a POST, PUT or PATCH sends its input; json by default. */
  bodyType?: "json" | "form-data" | "text";
  /** The path under the service's proxy URL that discovery lists, e.g. "/forecast"; "/" by default. */
  resourcePath?: string;
  /** What the input means (at most 2,000 characters). */
  inputDescription?: string;
  /** What the output means (at most 2,000 characters). */
  outputDescription?: string;
};

/** A service as the API registered it: listed, with the nonce it stored; `created` is false for an update. */
export type RegisteredService = Omit<Service, "reputation"> & { status: "active"; nonce: bigint; created: boolean };

/** A delisted service. */
export type DelistedService = { id: string; status: "delisted"; nonce: bigint };

/** A provider's earnings, in USDC atomic units (`GET /v1/providers/:address/earnings`). */
export type ProviderEarnings = {
  provider: Address;
  /** Charged to agents, net of the fee, not yet settled on-chain. */
  pending: bigint;
  pendingCalls: number;
  /** Credited by settlements, in total. */
  settled: bigint;
  /** On-chain, ready to withdraw (as indexed). */
  withdrawable: bigint;
  withdrawn: bigint;
};

/** Options of `ProviderClient.withdraw`. */
export type ProviderWithdrawParameters = {
  /** USDC atomic units; everything withdrawable on-chain by default. */
  amount?: bigint;
  /** Where the USDC goes; the provider's own address by default. */
  to?: Address;
};

/** A mined earnings withdrawal. */
export type ProviderWithdrawResult = TransactionResult & { amount: bigint; to: Address; remaining: bigint };
