import type { FastifyInstance } from "fastify";
import type { Address } from "viem";

import { listingOfRow } from "../discovery/listing.ts";
import type { ListingColumns, ServiceListing } from "../discovery/listing.ts";
import { ApiError } from "../errors.ts";
import { assertUpstreamHostAllowed } from "../forwarding/target.ts";
import { TtlCache } from "../lib/ttlCache.ts";
import type { ServicePricing } from "../payments/pricing.ts";
import { localAddresses } from "../services/upstreamUrl.ts";

/** A service as a paid call needs it: who is paid, how much, where the call goes, and how its 402 presents it. */
export type PaidService = ServicePricing & {
  id: string;
  provider: Address;
  name: string;
  upstreamUrl: string;
  /** Its 402s' `resource` fields and `bazaar` extension. */
  listing: ServiceListing;
};

/** The services paid calls are made to, by id: `get(id)`. */
export type PaidServices = { get(serviceId: string): Promise<PaidService> };

// A delisting or a price change takes effect within this time on every instance.
const SERVICE_CACHE_MS = 1_000;
const SERVICE_CACHE_SIZE = 10_000;

/**
 * Service rows, cached per instance for a second: a paid call need not read the catalogue every
 * time. An unknown or delisted service, or one whose upstream the proxy does not call, is refused
 * here, before any 402 or reservation.
 *
 * @throws {ApiError} 404 `service_not_found`; 410 `service_delisted`; 502 `upstream_not_allowed`.
 * @example
 * const services = paidServices(app);
 * const service = await services.get("weather-api");
 */
export function paidServices(app: FastifyInstance): PaidServices {
  const selfAddresses = app.config.allowPrivateUpstreams ? undefined : localAddresses();
  const cache = new TtlCache<string, PaidService>({ ttlMs: SERVICE_CACHE_MS, maxSize: SERVICE_CACHE_SIZE });
  return {
    get: (serviceId) => cache.get(serviceId) ?? cache.set(serviceId, loadService(app, serviceId, selfAddresses)),
  };
}

/** The `services` columns a paid service is made of. */
export type PaidServiceRow = ListingColumns & {
  id: string;
  provider: Address;
  upstream_url: string;
  pricing: "fixed" | "metered";
  price: string;
  max_price: string;
  usage_header: string | null;
};

/**
 * A `services` row as a paid call (and its 402's offers) sees it.
 *
 * @example
 * const [row] = await sql<PaidServiceRow[]>`SELECT * FROM services WHERE id = ${id}`;
 * const offers = offersOf(paidServiceOfRow(row));
 */
export function paidServiceOfRow(row: PaidServiceRow): PaidService {
  return {
    id: row.id,
    provider: row.provider,
    name: row.name,
    upstreamUrl: row.upstream_url,
    pricing: row.pricing,
    price: BigInt(row.price),
    maxPrice: BigInt(row.max_price),
    usageHeader: row.usage_header,
    listing: listingOfRow(row),
  };
}

async function loadService(app: FastifyInstance, serviceId: string, selfAddresses: ReadonlySet<string> | undefined): Promise<PaidService> {
  const [row] = await app.sql<(PaidServiceRow & { status: string })[]>`
    SELECT id, provider, name, description, tags, upstream_url, pricing, price, max_price, usage_header, status,
           http_method, body_type, example_input, example_output, input_description, output_description
    FROM services WHERE id = ${serviceId}`;
  if (!row) throw new ApiError({ status: 404, code: "service_not_found", message: `No service "${serviceId}"` });
  if (row.status !== "active") throw new ApiError({ status: 410, code: "service_delisted", message: `Service "${serviceId}" has been delisted` });
  // A service registered while private upstreams were allowed is not called once they are not
  // (forwarding checks it again).
  if (selfAddresses) assertUpstreamHostAllowed(new URL(row.upstream_url), selfAddresses);
  return paidServiceOfRow(row);
}
