import type { Address, Hex } from "viem";

import { typedMessage } from "./eip712/typedMessage.ts";
import type { TypedDataSigner } from "./eip712/typedMessage.ts";
import { AgentTabError } from "./errors.ts";

/**
 * The EIP-712 domain name and version of requests signed for the AgentTab API (no passwords, no
 * API keys: a wallet signature authorizes the request).
 *
 * @example
 * const { name, version } = apiEip712; // "AgentTab API", "1"
 */
export const apiEip712 = { name: "AgentTab API", version: "1" } as const;

/**
 * The EIP-712 domain of signed API requests: bound to the escrow on one chain, so a request signed
 * for one deployment is worthless on another.
 *
 * @example
 * apiDomain({ chainId: 8453, escrow: "0x5FbDB2315678afecb367f032d93F642f64180aa3" });
 * // { name: "AgentTab API", version: "1", chainId: 8453, verifyingContract: "0x5FbDB…" }
 */
export function apiDomain({ chainId, escrow }: { chainId: number; escrow: Address }) {
  return { ...apiEip712, chainId, verifyingContract: escrow } as const;
}

/**
 * A provider's registration (or update) of a service it sells through the proxy.
 *
 * @example
 * hashTypedData({ domain: apiDomain({ chainId, escrow }), types: serviceRegistrationTypes, primaryType: "ServiceRegistration", message });
 */
export const serviceRegistrationTypes = {
  ServiceRegistration: [
    { name: "serviceId", type: "string" },
    { name: "name", type: "string" },
    { name: "description", type: "string" },
    { name: "category", type: "string" },
    { name: "tags", type: "string[]" },
    { name: "capabilities", type: "string[]" },
    { name: "upstreamUrl", type: "string" },
    { name: "pricing", type: "string" },
    { name: "price", type: "uint256" },
    { name: "maxPrice", type: "uint256" },
    { name: "usageHeader", type: "string" },
    { name: "exampleInput", type: "string" },
    { name: "exampleOutput", type: "string" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

/** How a service charges: a fixed price per call, or a metered price per unit with a per-call maximum. */
export type ServicePricing = "fixed" | "metered";

/** What a provider says about a service; amounts in USDC atomic units. */
export type ServiceRegistration = {
  /** The service's slug, e.g. "weather-api": lowercase letters, digits and dashes, 3 to 64 long. */
  serviceId: string;
  name: string;
  description: string;
  category: string;
  tags: readonly string[];
  capabilities: readonly string[];
  /** Where the proxy forwards calls; never shown in discovery. */
  upstreamUrl: string;
  pricing: ServicePricing;
  /** Per call (fixed) or per unit of usage (metered). */
  price: bigint;
  /** The most one call may cost: equal to `price` when fixed. */
  maxPrice: bigint;
  /** Metered: the upstream response header that reports the units used; "" when fixed. */
  usageHeader: string;
  /** An example request body as JSON text; "" when none. */
  exampleInput: string;
  /** An example response body as JSON text; "" when none. */
  exampleOutput: string;
  /** Must exceed the nonce of the service's last accepted registration or delisting. */
  nonce: bigint;
  /** The last Unix second at which the API accepts the request (at most a day ahead). */
  deadline: bigint;
};

/** A service registration's typed data, as a signer receives it. */
export type ServiceRegistrationTypedData = {
  domain: ReturnType<typeof apiDomain>;
  types: typeof serviceRegistrationTypes;
  primaryType: "ServiceRegistration";
  message: ServiceRegistration;
};

/** Anything that can sign a service registration: the provider's key, its wallet (see {@link TypedDataSigner}). */
export type ServiceRegistrationSigner = TypedDataSigner<ServiceRegistrationTypedData>;

/** A registration and the deployment it is for. */
export type SignServiceRegistrationParameters = {
  chainId: number;
  escrow: Address;
  registration: ServiceRegistration;
};

const serviceRegistrationMessage = typedMessage<ServiceRegistration>()({
  domain: apiDomain,
  types: serviceRegistrationTypes,
  primaryType: "ServiceRegistration",
});

/**
 * The typed data of a service registration, for signing, hashing or recovering its signer.
 *
 * @example
 * await recoverTypedDataAddress({ ...serviceRegistrationTypedData({ chainId, escrow, registration }), signature });
 */
export function serviceRegistrationTypedData({ chainId, escrow, registration }: SignServiceRegistrationParameters): ServiceRegistrationTypedData {
  return serviceRegistrationMessage.typedData({ domain: { chainId, escrow }, message: registration });
}

/**
 * Signs a service registration as its provider; `POST /v1/services` takes the fields, the
 * provider's address and this signature.
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const provider = privateKeyToAccount(key);
 * const signature = await signServiceRegistration(provider, {
 *   chainId: 8453,
 *   escrow: deployment.escrow,
 *   registration: {
 *     serviceId: "weather-api",
 *     name: "Weather",
 *     description: "Current weather by city",
 *     category: "data",
 *     tags: ["weather"],
 *     capabilities: ["forecast"],
 *     upstreamUrl: "https://weather.example.com/v1",
 *     pricing: "fixed",
 *     price: 2_500n,
 *     maxPrice: 2_500n,
 *     usageHeader: "",
 *     exampleInput: JSON.stringify({ city: "Lisbon" }),
 *     exampleOutput: "",
 *     nonce: BigInt(Date.now()),
 *     deadline: BigInt(Math.floor(Date.now() / 1000) + 300),
 *   },
 * });
 */
export function signServiceRegistration(signer: ServiceRegistrationSigner, { chainId, escrow, registration }: SignServiceRegistrationParameters): Promise<Hex> {
  return serviceRegistrationMessage.sign(signer, { domain: { chainId, escrow }, message: registration });
}

/**
 * A provider's delisting of one of its services: it leaves discovery and takes no more calls.
 *
 * @example
 * hashTypedData({ domain: apiDomain({ chainId, escrow }), types: serviceDelistingTypes, primaryType: "ServiceDelisting", message });
 */
export const serviceDelistingTypes = {
  ServiceDelisting: [
    { name: "serviceId", type: "string" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

/** Which service to delist; `nonce` and `deadline` as in {@link ServiceRegistration}. */
export type ServiceDelisting = {
  serviceId: string;
  nonce: bigint;
  deadline: bigint;
};

/** A service delisting's typed data, as a signer receives it. */
export type ServiceDelistingTypedData = {
  domain: ReturnType<typeof apiDomain>;
  types: typeof serviceDelistingTypes;
  primaryType: "ServiceDelisting";
  message: ServiceDelisting;
};

/** Anything that can sign a service delisting (see {@link TypedDataSigner}). */
export type ServiceDelistingSigner = TypedDataSigner<ServiceDelistingTypedData>;

/** A delisting and the deployment it is for. */
export type SignServiceDelistingParameters = {
  chainId: number;
  escrow: Address;
  delisting: ServiceDelisting;
};

const serviceDelistingMessage = typedMessage<ServiceDelisting>()({ domain: apiDomain, types: serviceDelistingTypes, primaryType: "ServiceDelisting" });

/**
 * The typed data of a service delisting, for signing, hashing or recovering its signer.
 *
 * @example
 * await recoverTypedDataAddress({ ...serviceDelistingTypedData({ chainId, escrow, delisting }), signature });
 */
export function serviceDelistingTypedData({ chainId, escrow, delisting }: SignServiceDelistingParameters): ServiceDelistingTypedData {
  return serviceDelistingMessage.typedData({ domain: { chainId, escrow }, message: delisting });
}

/**
 * Signs a service delisting as its provider; `DELETE /v1/services/:serviceId` takes the provider's
 * address, the nonce, the deadline and this signature.
 *
 * @example
 * const signature = await signServiceDelisting(provider, {
 *   chainId: 8453,
 *   escrow: deployment.escrow,
 *   delisting: { serviceId: "weather-api", nonce: BigInt(Date.now()), deadline: BigInt(Math.floor(Date.now() / 1000) + 300) },
 * });
 */
export function signServiceDelisting(signer: ServiceDelistingSigner, { chainId, escrow, delisting }: SignServiceDelistingParameters): Promise<Hex> {
  return serviceDelistingMessage.sign(signer, { domain: { chainId, escrow }, message: delisting });
}

/**
 * The longest a sign-in may last, in seconds: the API refuses a token whose `expiresAt − issuedAt`
 * exceeds it, so a leaked token is worthless within a day.
 *
 * @example
 * await signIn(agent, { chainId, escrow, ttlSeconds: MAX_SIGN_IN_TTL_SECONDS });
 */
export const MAX_SIGN_IN_TTL_SECONDS = 86_400;

/**
 * The `Authorization` scheme of sign-in tokens: `Authorization: AgentTab <token>`.
 *
 * @example
 * headers.authorization = `${SIGN_IN_AUTHORIZATION_SCHEME} ${token}`;
 */
export const SIGN_IN_AUTHORIZATION_SCHEME = "AgentTab";

/**
 * A sign-in: "the holder of `account`'s key reads its own data until `expiresAt`". Stateless: any
 * API instance verifies it from the signature alone.
 *
 * @example
 * hashTypedData({ domain: apiDomain({ chainId, escrow }), types: signInTypes, primaryType: "SignIn", message });
 */
export const signInTypes = {
  SignIn: [
    { name: "account", type: "address" },
    { name: "issuedAt", type: "uint64" },
    { name: "expiresAt", type: "uint64" },
  ],
} as const;

/** Who signs in and for how long, in Unix seconds. */
export type SignIn = {
  /** The agent's escrow account or the provider's address: the key that signs. */
  account: Address;
  issuedAt: bigint;
  expiresAt: bigint;
};

/** A sign-in and its signature: what a token carries. */
export type SignedSignIn = SignIn & { signature: Hex };

/** A sign-in's typed data, as a signer receives it. */
export type SignInTypedData = {
  domain: ReturnType<typeof apiDomain>;
  types: typeof signInTypes;
  primaryType: "SignIn";
  message: SignIn;
};

/** Anything that can sign a sign-in: the account's key, a remote signer (see {@link TypedDataSigner}). */
export type SignInSigner = TypedDataSigner<SignInTypedData>;

const signInMessage = typedMessage<SignIn>()({ domain: apiDomain, types: signInTypes, primaryType: "SignIn" });

/**
 * The typed data of a sign-in, for signing, hashing or recovering its signer.
 *
 * @example
 * await recoverTypedDataAddress({ ...signInTypedData({ chainId, escrow, signIn }), signature });
 */
export function signInTypedData({ chainId, escrow, signIn }: { chainId: number; escrow: Address; signIn: SignIn }): SignInTypedData {
  return signInMessage.typedData({ domain: { chainId, escrow }, message: signIn });
}

/**
 * A sign-in lifetime the API would refuse: not positive, or longer than
 * {@link MAX_SIGN_IN_TTL_SECONDS}.
 *
 * @example
 * new SignInLifetimeError({ ttlSeconds: 90_000 });
 */
export class SignInLifetimeError extends AgentTabError {
  override name = "SignInLifetimeError";
  readonly ttlSeconds: number;

  constructor({ ttlSeconds }: { ttlSeconds: number }) {
    super(`A sign-in must last between 1 and ${MAX_SIGN_IN_TTL_SECONDS} seconds, not ${ttlSeconds}.`);
    this.ttlSeconds = ttlSeconds;
  }
}

/** Where a sign-in is valid and for how long. */
export type SignInParameters = {
  chainId: number;
  escrow: Address;
  /** How long the token lasts, in seconds: 1 to {@link MAX_SIGN_IN_TTL_SECONDS}; 1 hour by default. */
  ttlSeconds?: number;
  /** Unix seconds; the current time by default. */
  issuedAt?: bigint;
};

/**
 * Signs in as `signer.address` and returns the token the API takes in
 * `Authorization: AgentTab <token>` (see {@link authorizationHeader}) to let the key's holder read
 * its own balance, transactions, spending or earnings. Nothing is stored server-side.
 *
 * @throws {SignInLifetimeError} when `ttlSeconds` is not 1 to {@link MAX_SIGN_IN_TTL_SECONDS}.
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const agent = privateKeyToAccount(key);
 * const token = await signIn(agent, { chainId: 8453, escrow: deployment.escrow, ttlSeconds: 900 });
 * const res = await fetch(`${api}/v1/agents/${agent.address}/balance`, { headers: { authorization: authorizationHeader(token) } });
 */
export async function signIn(signer: SignInSigner, { chainId, escrow, ttlSeconds = 3_600, issuedAt }: SignInParameters): Promise<string> {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_SIGN_IN_TTL_SECONDS) throw new SignInLifetimeError({ ttlSeconds });
  // The local clock, not the chain's: the API checks a sign-in's window against its own clock, never the chain's.
  const start = issuedAt ?? BigInt(Math.floor(Date.now() / 1000));
  const message: SignIn = { account: signer.address, issuedAt: start, expiresAt: start + BigInt(ttlSeconds) };
  const signature = await signInMessage.sign(signer, { domain: { chainId, escrow }, message });
  return encodeSignInToken({ ...message, signature });
}

/**
 * The `Authorization` header value for a sign-in token.
 *
 * @example
 * authorizationHeader(token); // "AgentTab eyJhY2NvdW50Ijoi…"
 */
export function authorizationHeader(token: string): string {
  return `${SIGN_IN_AUTHORIZATION_SCHEME} ${token}`;
}

/**
 * A signed sign-in as a token: base64url (no padding) of the JSON
 * `{ account, issuedAt, expiresAt, signature }`, times as numbers.
 *
 * @example
 * encodeSignInToken({ account, issuedAt: 1_735_689_600n, expiresAt: 1_735_693_200n, signature });
 */
export function encodeSignInToken({ account, issuedAt, expiresAt, signature }: SignedSignIn): string {
  const json = JSON.stringify({ account, issuedAt: Number(issuedAt), expiresAt: Number(expiresAt), signature });
  // The JSON is ASCII (hex and digits), so btoa's Latin-1 input is exact.
  return btoa(json).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

const maxSignInTokenLength = 1_024;
const addressPattern = /^0x[0-9a-fA-F]{40}$/;
const signaturePattern = /^0x[0-9a-fA-F]{130}$/;
const isUnixSeconds = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * The sign-in a token carries, or undefined when it is not one (bad base64url, bad JSON, a field
 * missing, extra or of the wrong shape). Says nothing about the signature or the times: the API
 * checks those.
 *
 * @example
 * const signed = parseSignInToken(token);
 * if (signed) console.log(signed.account, new Date(Number(signed.expiresAt) * 1000));
 */
export function parseSignInToken(token: string): SignedSignIn | undefined {
  if (token.length === 0 || token.length > maxSignInTokenLength || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(atob(token.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { account, issuedAt, expiresAt, signature, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return undefined;
  if (typeof account !== "string" || !addressPattern.test(account)) return undefined;
  if (typeof signature !== "string" || !signaturePattern.test(signature)) return undefined;
  if (!isUnixSeconds(issuedAt) || !isUnixSeconds(expiresAt)) return undefined;
  return { account: account as Address, issuedAt: BigInt(issuedAt), expiresAt: BigInt(expiresAt), signature: signature as Hex };
}
