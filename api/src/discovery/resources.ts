import { createHash } from "node:crypto";

import type { PaymentRequirements } from "@x402/core/types";
import { getAddress } from "viem";

import type { ServiceReputation } from "@agenttab/indexer/read";

import { ApiError } from "../errors.ts";
import { listingOfRow } from "./listing.ts";
import type { ListedServiceRow, PaidCallCounts } from "./repository.ts";

/** The only resource type AgentTab lists: HTTP endpoints under `/v1/proxy/<id>/`. */
export const RESOURCE_TYPE = "http";

/**
 * One discovered resource, as the x402 discovery API lists it (`items[]` of GET
 * /discovery/resources, `resources[]` of GET /discovery/search): the spec's `resource`, `type`,
 * `x402Version`, `accepts`, `lastUpdated` and `metadata`, with the Bazaar client's `description`,
 * `mimeType`, `serviceName`, `tags` and `extensions` (the `bazaar` extension).
 */
export type DiscoveryItem = {
  resource: string;
  type: typeof RESOURCE_TYPE;
  x402Version: 2;
  accepts: PaymentRequirements[];
  /** ISO 8601: when the provider last registered or changed the service. */
  lastUpdated: string;
  description?: string;
  mimeType?: string;
  serviceName?: string;
  tags?: string[];
  extensions: Record<string, unknown>;
  metadata: DiscoveryMetadata;
};

/** What AgentTab knows about a listed service besides how to pay for it: who runs it and how it has done. */
export type DiscoveryMetadata = {
  serviceId: string;
  name: string;
  category: string;
  capabilities: string[];
  provider: string;
  pricing: "fixed" | "metered";
  /** USDC atomic units, decimal: per call (fixed) or per unit (metered). */
  price: string;
  /** USDC atomic units, decimal: the most one call may cost. */
  maxPrice: string;
  /** The on-chain reputation (AgentTabReputation and the settlements, through the indexer). */
  reputation: {
    /** 0–1; null when unrated (no settled calls and no feedback yet). */
    score: number | null;
    /** Receipt-backed feedback left for this service. */
    feedbackCount: number;
    /** Calls the provider served, over all its services, as the weekly settlements reported them on-chain. */
    providerCallsServed: number;
    /** Calls the provider's upstreams failed (counted failures only), as the settlements reported them. */
    providerCallsFailed: number;
  };
  /** This service's paid calls, from the ledger. */
  paidCalls: PaidCallCounts;
};

/** Filters of the x402 discovery API, each matched against the resource's `accepts[]` or extensions. */
export type DiscoveryFilters = {
  type?: string | undefined;
  payTo?: string | undefined;
  scheme?: string | undefined;
  network?: string | undefined;
  /** Comma-separated extension keys, every one of which the resource must carry. */
  extensions?: string | undefined;
};

/**
 * Whether a resource passes the filters: its type; one offer with the scheme, network and payee
 * asked for (all in the same offer); and every extension asked for.
 *
 * @example
 * matchesFilters({ type: "http", accepts, extensions: { bazaar } }, { scheme: "exact" });
 */
export function matchesFilters(
  resource: { type: string; accepts: readonly PaymentRequirements[]; extensions: Record<string, unknown> },
  { type, payTo, scheme, network, extensions }: DiscoveryFilters,
): boolean {
  if (type !== undefined && type !== resource.type) return false;
  if (payTo !== undefined || scheme !== undefined || network !== undefined) {
    const payee = payTo?.toLowerCase();
    const offered = resource.accepts.some(
      (offer) =>
        (scheme === undefined || offer.scheme === scheme) &&
        (network === undefined || offer.network === network) &&
        (payee === undefined || offer.payTo.toLowerCase() === payee),
    );
    if (!offered) return false;
  }
  if (extensions !== undefined) {
    const keys = extensions.split(",").map((key) => key.trim()).filter((key) => key !== "");
    if (!keys.every((key) => key in resource.extensions)) return false;
  }
  return true;
}

/**
 * The discovered resource of a listed service. `origin` is the API's public origin: the resource
 * is `${origin}/v1/proxy/<id><resourcePath>`, which a stock x402 client can call.
 *
 * @example
 * const item = discoveryItem({ origin: "https://api.agenttab.example", row, accepts: offersOf(service), reputation, paidCalls });
 */
export function discoveryItem({
  origin,
  row,
  accepts,
  reputation,
  paidCalls,
}: {
  origin: string;
  row: ListedServiceRow;
  accepts: PaymentRequirements[];
  reputation: ServiceReputation | undefined;
  paidCalls: PaidCallCounts | undefined;
}): DiscoveryItem {
  const listing = listingOfRow(row);
  return {
    resource: resourceUrl(origin, row),
    type: RESOURCE_TYPE,
    x402Version: 2,
    accepts,
    lastUpdated: row.updated_at.toISOString(),
    ...listing.resource,
    extensions: listing.extensions,
    metadata: {
      serviceId: row.id,
      name: row.name,
      category: row.category,
      capabilities: row.capabilities,
      provider: getAddress(row.provider),
      pricing: row.pricing,
      price: row.price,
      maxPrice: row.max_price,
      reputation: {
        score: reputation?.score ?? null,
        feedbackCount: Number(reputation?.feedbackCount ?? 0n),
        providerCallsServed: Number(reputation?.callsServed ?? 0n),
        providerCallsFailed: Number(reputation?.callsFailed ?? 0n),
      },
      paidCalls: paidCalls ?? { paid: 0, settled: 0 },
    },
  };
}

/** Where a listed service is called: its resource path under the proxy. */
export function resourceUrl(origin: string, row: { id: string; resource_path: string }): string {
  return `${origin}/v1/proxy/${row.id}${row.resource_path}`;
}

/**
 * How search ranks a match: its text relevance (0–1), weighed by reputation. An unrated service
 * counts as 0.5, so that a new service is neither buried nor put above well-rated ones:
 * `relevance × (0.5 + 0.5 × (score ?? 0.5))`.
 *
 * @example
 * searchScore(0.4, 0.9); // 0.38
 */
export function searchScore(relevance: number, reputation: number | null): number {
  return relevance * (0.5 + 0.5 * (reputation ?? 0.5));
}

/** Where a search page ends: the last item's score and id, for the query and filters it belongs to. */
export type SearchPosition = { score: number; id: string };

/** Search results in rank order: score descending, then id. Total, so a page boundary is one key. */
export function compareSearchResults(a: SearchPosition, b: SearchPosition): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * An opaque search cursor: base64url JSON of the last item's position and a digest of the query
 * and filters, so that a cursor is refused for another search.
 *
 * @example
 * const cursor = encodeSearchCursor({ query: "weather", filters: {} }, { score: 0.3, id: "weather-api" });
 */
export function encodeSearchCursor(search: { query: string; filters: DiscoveryFilters }, position: SearchPosition): string {
  return Buffer.from(JSON.stringify({ q: searchDigest(search), s: position.score, id: position.id })).toString("base64url");
}

/**
 * Reads a cursor made by {@link encodeSearchCursor} for the same search; 400 `invalid_cursor` otherwise.
 *
 * @throws {ApiError} 400 `invalid_cursor`.
 */
export function decodeSearchCursor(search: { query: string; filters: DiscoveryFilters }, cursor: string): SearchPosition {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor("it is not one this API issued");
  }
  const { q, s, id } = (typeof payload === "object" && payload !== null ? payload : {}) as Record<string, unknown>;
  if (typeof q !== "string" || typeof s !== "number" || !Number.isFinite(s) || typeof id !== "string") throw invalidCursor("it is not one this API issued");
  if (q !== searchDigest(search)) throw invalidCursor("it belongs to another query or other filters");
  return { score: s, id };
}

function searchDigest({ query, filters }: { query: string; filters: DiscoveryFilters }): string {
  const { type, payTo, scheme, network, extensions } = filters;
  return createHash("sha256")
    .update(JSON.stringify([query, type ?? null, payTo?.toLowerCase() ?? null, scheme ?? null, network ?? null, extensions ?? null]))
    .digest("base64url")
    .slice(0, 16);
}

function invalidCursor(why: string): ApiError {
  return new ApiError({ status: 400, code: "invalid_cursor", message: `Invalid cursor: ${why}. Start again without one.` });
}
