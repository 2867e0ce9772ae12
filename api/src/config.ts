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
} as const satisfies ApiConfigOverrides;

/** Lowercase, for ledger keys: the same rule the indexer's views follow. */
export { addressKey } from "@agenttab/indexer/read";
