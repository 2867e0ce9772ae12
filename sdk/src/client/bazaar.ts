import { apiUrlOf, getJson } from "./http.ts";
import type { RetryOptions } from "./retry.ts";

/** An offer of a discovered resource: an x402 v2 `PaymentRequirements` (amounts in atomic units). */
export type BazaarPaymentRequirements = {
  scheme: string;
  network: string;
  asset: string;
  amount: string;
  payTo: string;
  maxTimeoutSeconds: number;
  extra?: Record<string, unknown>;
};

/**
 * A resource listed by an x402 Bazaar discovery endpoint: where it is, how to pay for it
 * (`accepts`), and what the endpoint says about it. AgentTab's own endpoint adds `metadata`
 * (reputation, paid calls) and the `bazaar` extension under `extensions`.
 */
export type BazaarResource = {
  resource: string;
  type: string;
  x402Version: number;
  accepts: BazaarPaymentRequirements[];
  /** ISO 8601 (AgentTab, the Bazaar client) or Unix seconds (the x402 v2 specification's example). */
  lastUpdated: string | number;
  description?: string;
  mimeType?: string;
  serviceName?: string;
  tags?: string[];
  extensions?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
};

/** Filters of the x402 discovery API; each narrows to resources with one matching offer or extension. */
export type BazaarFilters = {
  /** Resource type, e.g. "http". */
  type?: string;
  /** Payee of an offer. */
  payTo?: string;
  /** Scheme of an offer, e.g. "exact" or "agenttab-voucher". */
  scheme?: string;
  /** CAIP-2 network of an offer, e.g. "eip155:8453". */
  network?: string;
  /** Extension keys the resource must carry, comma-separated, e.g. "bazaar". */
  extensions?: string;
};

/** Where a Bazaar is and how to reach it. */
export type BazaarEndpoint = {
  /** The discovery endpoint's base URL: `/discovery/resources` and `/discovery/search` are under it. */
  bazaarUrl: string;
  fetch?: typeof globalThis.fetch;
  retry?: RetryOptions;
};

export type ListBazaarResourcesParameters = BazaarEndpoint & BazaarFilters & { limit?: number; offset?: number };
export type ListBazaarResourcesReturnType = { x402Version: number; items: BazaarResource[]; pagination: { limit: number; offset: number; total: number } };

export type SearchBazaarResourcesParameters = BazaarEndpoint & BazaarFilters & { query: string; limit?: number; cursor?: string };
export type SearchBazaarResourcesReturnType = {
  x402Version: number;
  resources: BazaarResource[];
  /** The endpoint left matches out (AgentTab: more than it ranks). */
  partialResults: boolean;
  /** `cursor` is the next page's, null on the last; the whole field is null when the endpoint does not paginate. */
  pagination: { limit: number; cursor: string | null } | null;
};

/**
 * Lists resources from any x402 Bazaar discovery endpoint (`GET <bazaarUrl>/discovery/resources`),
 * AgentTab's own (its API URL) or another: plain HTTP, no x402 package needed.
 *
 * @throws {ApiRequestError} (or the SDK error its `code` names) when the endpoint refuses.
 * @example
 * const { items, pagination } = await listBazaarResources({ bazaarUrl: "https://api.agenttab.example", scheme: "exact", limit: 20 });
 */
export async function listBazaarResources({ bazaarUrl, fetch, retry, limit, offset, ...filters }: ListBazaarResourcesParameters): Promise<ListBazaarResourcesReturnType> {
  const url = apiUrlOf(bazaarUrl, "/discovery/resources", { ...filters, limit, offset });
  const body = (await getJson(fetch ?? globalThis.fetch, url, {}, { retry })) as Partial<ListBazaarResourcesReturnType>;
  const items = Array.isArray(body.items) ? body.items : [];
  return {
    x402Version: body.x402Version ?? 2,
    items,
    pagination: body.pagination ?? { limit: limit ?? items.length, offset: offset ?? 0, total: items.length },
  };
}

/**
 * Searches any x402 Bazaar discovery endpoint (`GET <bazaarUrl>/discovery/search?query=…`);
 * AgentTab's ranks by text relevance and reputation and pages with `cursor`.
 *
 * @throws {ApiRequestError} (or the SDK error its `code` names) when the endpoint refuses.
 * @example
 * const page = await searchBazaarResources({ bazaarUrl: "https://api.agenttab.example", query: "weather forecast", limit: 5 });
 * const next = page.pagination?.cursor ? await searchBazaarResources({ bazaarUrl, query: "weather forecast", cursor: page.pagination.cursor }) : undefined;
 */
export async function searchBazaarResources({ bazaarUrl, fetch, retry, query, limit, cursor, ...filters }: SearchBazaarResourcesParameters): Promise<SearchBazaarResourcesReturnType> {
  const url = apiUrlOf(bazaarUrl, "/discovery/search", { query, ...filters, limit, cursor });
  const body = (await getJson(fetch ?? globalThis.fetch, url, {}, { retry })) as Partial<SearchBazaarResourcesReturnType>;
  return {
    x402Version: body.x402Version ?? 2,
    resources: Array.isArray(body.resources) ? body.resources : [],
    partialResults: body.partialResults ?? false,
    pagination: body.pagination ?? null,
  };
}

export type DiscoverBazaarParameters = BazaarEndpoint &
  BazaarFilters & {
    /** Search text: searches (`/discovery/search`); without it, lists (`/discovery/resources`). */
    query?: string;
    limit?: number;
    /** `nextCursor` of the previous page. */
    cursor?: string;
  };
/** One page of discovered resources; pass `nextCursor` as `cursor` for the next (null: the last). */
export type DiscoverBazaarReturnType = { resources: BazaarResource[]; nextCursor: string | null };

/**
 * One page from any Bazaar discovery endpoint, searched or listed, with one kind of cursor: the
 * search's own, or (listing) the offset of the next page as a decimal string.
 *
 * @example
 * const page = await discoverBazaar({ bazaarUrl: "https://api.agenttab.example", query: "weather" });
 * const all = await discoverBazaar({ bazaarUrl: "https://api.agenttab.example", scheme: "exact", cursor: page.nextCursor ?? undefined });
 */
export async function discoverBazaar({ query, limit, cursor, ...rest }: DiscoverBazaarParameters): Promise<DiscoverBazaarReturnType> {
  if (query !== undefined) {
    const page = await searchBazaarResources({ ...rest, query, limit, cursor });
    return { resources: page.resources, nextCursor: page.pagination?.cursor ?? null };
  }
  const offset = cursor === undefined ? 0 : Number(cursor);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`A listing's cursor is the offset of its next page, a whole number: not "${cursor}"`);
  const page = await listBazaarResources({ ...rest, limit, offset });
  const next = page.pagination.offset + page.items.length;
  return { resources: page.items, nextCursor: page.items.length > 0 && next < page.pagination.total ? String(next) : null };
}
