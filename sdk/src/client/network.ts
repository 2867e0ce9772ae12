import type { Address } from "viem";

import { apiUrlOf, getJson } from "./http.ts";
import type { RetryOptions } from "./retry.ts";

/** What `GET /v1/network` says: the chain, the contracts, the receipt signer and the relayer. */
export type ApiNetwork = {
  chainId: number;
  /** CAIP-2, e.g. "eip155:8453". */
  network: string;
  escrow: Address;
  reputation: Address;
  usdc: Address;
  /** The key that signs the proxy's receipts. */
  receiptSigner: Address;
  feeBps: number;
  /** Seconds an agent withdrawal waits before it can be finalized. */
  withdrawalDelay: number;
  /** The API's transaction sender (gasless deposits), or null when it relays nothing. */
  relayer: Address | null;
};

/**
 * Reads `GET /v1/network`: everything a client needs to pay through this API, from its URL alone.
 *
 * @example
 * const { chainId, escrow, relayer } = await getApiNetwork({ apiUrl: "https://api.agenttab.xyz" });
 */
export async function getApiNetwork({ apiUrl, fetch, retry }: { apiUrl: string; fetch?: typeof globalThis.fetch; retry?: RetryOptions }): Promise<ApiNetwork> {
  const fetchImpl = fetch ?? globalThis.fetch.bind(globalThis);
  return (await getJson(fetchImpl, apiUrlOf(apiUrl, "/v1/network"), {}, { retry: retry ?? {} })) as ApiNetwork;
}
