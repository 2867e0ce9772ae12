/** How a service charges, as stored. */
export type ServicePricing = {
  pricing: "fixed" | "metered";
  /** Per call (fixed) or per unit (metered). */
  price: bigint;
  /** The most one call can cost. */
  maxPrice: bigint;
  /** Metered: the upstream response header that carries the units used. */
  usageHeader: string | null;
};

/**
 * What a call actually costs: the fixed price, or units × unit price from the upstream's usage
 * header capped at the per-call maximum. A metered upstream that reports no valid usage is charged
 * nothing: the agent never pays for what the provider did not account for.
 *
 * @example
 * priceOf({ pricing: "metered", price: 10n, maxPrice: 1_000n, usageHeader: "x-usage-units" }, (name) => "42"); // 420n
 */
export function priceOf(service: ServicePricing, header: (name: string) => string | undefined): bigint {
  if (service.pricing === "fixed") return service.price;
  const raw = service.usageHeader ? header(service.usageHeader) : undefined;
  if (raw === undefined || !/^(0|[1-9][0-9]{0,30})$/.test(raw.trim())) return 0n;
  const cost = BigInt(raw.trim()) * service.price;
  return cost > service.maxPrice ? service.maxPrice : cost;
}

/** The platform's share of `amount` at `feeBps`, rounded down (so batch fees stay within the rate). */
export function feeOf(amount: bigint, feeBps: number): bigint {
  return (amount * BigInt(feeBps)) / 10_000n;
}
