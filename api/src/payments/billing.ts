import type { Address } from "viem";

/**
 * The billing headers of a paid response, the same for both schemes: what was charged, in which
 * currency, to whose credit, how long the upstream took, and the request's id.
 *
 * @example
 * reply.headers(billingHeaders({ amount: 10_000n, provider, latencyMs: 42, requestId }));
 */
export function billingHeaders({ amount, provider, latencyMs, requestId }: { amount: bigint; provider: Address; latencyMs: number; requestId: string }): Record<string, string> {
  return {
    "x-acf-amount": amount.toString(),
    "x-acf-currency": "USDC",
    "x-acf-provider": provider,
    "x-acf-latency-ms": String(latencyMs),
    "x-acf-request-id": requestId,
  };
}
