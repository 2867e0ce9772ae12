import type { Hex } from "viem";

import type { Deployment } from "@agenttab/sdk";

/** Everything the API is configured with; `loadApiConfig` reads it from the environment. */
export type ApiConfig = {
  host: string;
  port: number;
  databaseUrl: string;
  /** The Ponder views schema the chain state is read from (SELECT only). */
  chainViewsSchema: string;
  rpcUrl: string;
  deployment: Deployment;
  /** The proxy's key: it signs receipts (an allowed receipt signer on the reputation contract). */
  receiptSignerKey: Hex;
  /** New spending is refused while the indexer lags the chain by more than this many blocks. */
  maxIndexerLagBlocks: bigint;
  /** How often the chain head is polled (off the request path). */
  chainHeadPollMs: number;
  /** New spending is refused once the chain head has not been seen (RPC unreachable) for this long. */
  maxChainHeadAgeMs?: number;
  /** Upstream timeout per call. */
  upstreamTimeoutMs: number;
  /** Largest request body forwarded upstream, in bytes. */
  maxBodyBytes: number;
  /** Per (agent, service) calls allowed per window. */
  rateLimit: { max: number; windowMs: number };
  /** A reservation not charged or released within this time no longer holds balance. */
  reservationTtlMs: number;
  /** Allow upstreams on loopback/private addresses (tests and local development only). */
  allowPrivateUpstreams: boolean;
  /**
   * The key the API sends transactions with, paying their gas: gasless deposits it relays, and
   * x402 `exact` payments it settles (that needs the escrow's settler role). Without one the API
   * offers neither.
   */
  relayerKey?: Hex;
  /** The smallest deposit the relayer submits (USDC atomic units), so nobody spends its gas on dust. */
  minRelayedDeposit: bigint;
  /**
   * x402 `exact` attempts allowed per window and service, counted before the attempt costs an RPC
   * call or leaves an `exact_payments` row: per payer (the authorization's `from`, once its ECDSA
   * signature proves it; a contract wallet's once the simulation has) and per client address
   * (`request.ip`; an IPv6 client by its /64). Over either → `429 rate_limited` with `Retry-After`.
   */
  exactRateLimit: { perPayer: number; perClient: number; windowMs: number };
  /**
   * Largest upstream response an `exact` payment pays for, in bytes: the whole response is read
   * before the payment settles, so that the payer gets all of it or pays nothing. A larger one is
   * refused (`502 upstream_response_too_large`), not settled.
   */
  maxExactResponseBytes: number;
  /**
   * The API's public origin (e.g. `https://api.agenttab.example`), which discovery's resource URLs
   * start with. Unset: the origin each discovery request was addressed to (its protocol and Host).
   */
  publicUrl?: string;
};

export type ApiConfigOverrides = Partial<Omit<ApiConfig, "deployment" | "databaseUrl" | "rpcUrl" | "receiptSignerKey">>;

/** The defaults every deployment starts from. */
export const defaultApiConfig = {
  host: "127.0.0.1",
  port: 8787,
  chainViewsSchema: "agenttab_chain",
  maxIndexerLagBlocks: 5n,
  chainHeadPollMs: 500,
  maxChainHeadAgeMs: 30_000,
  upstreamTimeoutMs: 15_000,
  maxBodyBytes: 1_048_576,
  rateLimit: { max: 600, windowMs: 60_000 },
  reservationTtlMs: 120_000,
  allowPrivateUpstreams: false,
  minRelayedDeposit: 1_000_000n,
  exactRateLimit: { perPayer: 60, perClient: 120, windowMs: 60_000 },
  maxExactResponseBytes: 10_485_760,
} as const satisfies ApiConfigOverrides;

/** Lowercase, for ledger keys: the same rule the indexer's views follow. */
export { addressKey } from "@agenttab/indexer/read";
