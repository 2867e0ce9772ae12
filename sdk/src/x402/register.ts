import type { x402Client } from "@x402/core/client";
import type { Network } from "@x402/core/types";

import { AgentTabVoucherScheme } from "./voucherScheme.ts";
import type { AgentTabVoucherSchemeOptions } from "./voucherScheme.ts";

/** What {@link registerAgentTabScheme} takes: the scheme's options, and where to register it. */
export type RegisterAgentTabSchemeParameters = AgentTabVoucherSchemeOptions & {
  /** The networks (CAIP-2, patterns allowed) to register for; every EVM chain (`eip155:*`) by default. */
  networks?: Network[] | undefined;
};

/**
 * Registers AgentTab's `agenttab-voucher` scheme on a stock x402 v2 client (`@x402/core`), like
 * `@x402/evm`'s `registerExactEvmScheme` does for `exact`. Returns the scheme, which tracks the
 * charged total (`knownCharged`) and whose `onPaymentRequired` hook must be registered on the
 * `x402HTTPClient` the transport uses: it signs only for requests to `apiOrigins`.
 *
 * @example
 * import { x402Client, x402HTTPClient } from "@x402/core/client";
 * import { wrapFetchWithPayment } from "@x402/fetch";
 * import { privateKeyToAccount } from "viem/accounts";
 *
 * const client = new x402Client();
 * const scheme = registerAgentTabScheme(client, { signer: privateKeyToAccount(key), maxSpend: 5_000_000n, apiOrigins: ["https://api.agenttab.example"] });
 * // The scheme signs only for 402s from `apiOrigins`, which it learns from this hook.
 * const paidFetch = wrapFetchWithPayment(fetch, new x402HTTPClient(client).onPaymentRequired(scheme.onPaymentRequired));
 * const res = await paidFetch("https://api.agenttab.example/v1/proxy/weather-api/forecast?city=paris");
 */
export function registerAgentTabScheme(client: x402Client, { networks, ...options }: RegisterAgentTabSchemeParameters): AgentTabVoucherScheme {
  const scheme = new AgentTabVoucherScheme(options);
  for (const network of networks && networks.length > 0 ? networks : (["eip155:*"] as const)) client.register(network, scheme);
  return scheme;
}
