import type { FastifySchemaValidationError, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { PaymentRequirements } from "@x402/core/types";
import { Type } from "typebox";

import { listActiveServices, getActiveServices, paidCallCounts, searchServices } from "../discovery/repository.ts";
import type { ListedServiceRow } from "../discovery/repository.ts";
import {
  compareSearchResults,
  decodeSearchCursor,
  discoveryItem,
  encodeSearchCursor,
  matchesFilters,
  RESOURCE_TYPE,
  resourceUrl,
  searchScore,
} from "../discovery/resources.ts";
import type { DiscoveryFilters, DiscoveryItem } from "../discovery/resources.ts";
import { listingOfRow } from "../discovery/listing.ts";
import { ApiError } from "../errors.ts";
import { publicOrigin } from "../lib/publicOrigin.ts";
import type { PaidService } from "../paidCall/services.ts";
import { paidServiceOfRow } from "../paidCall/services.ts";
import { ErrorResponse } from "../services/schemas.ts";
import { readServiceReputations, reputationOf } from "../services/reputation.ts";
import type { ServiceReputations } from "../services/reputation.ts";

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;
// Search ranks at most this many text matches by reputation; more matches set `partialResults`.
const MAX_SEARCH_MATCHES = 500;

const FilterFields = {
  type: Type.Optional(Type.String({ maxLength: 64 })),
  payTo: Type.Optional(Type.String({ maxLength: 128 })),
  scheme: Type.Optional(Type.String({ maxLength: 64 })),
  network: Type.Optional(Type.String({ maxLength: 64 })),
  extensions: Type.Optional(Type.String({ maxLength: 256 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT })),
};
const ListResourcesQuery = Type.Object({ ...FilterFields, offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })) });
const SearchResourcesQuery = Type.Object({
  query: Type.String({ minLength: 1, maxLength: 256 }),
  ...FilterFields,
  cursor: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,512}$" })),
});

const Item = Type.Object({
  resource: Type.String(),
  type: Type.String(),
  x402Version: Type.Integer(),
  accepts: Type.Array(Type.Unknown()),
  lastUpdated: Type.String(),
  description: Type.Optional(Type.String()),
  mimeType: Type.Optional(Type.String()),
  serviceName: Type.Optional(Type.String()),
  tags: Type.Optional(Type.Array(Type.String())),
  extensions: Type.Unknown(),
  metadata: Type.Unknown(),
});
const ResourceList = Type.Object({
  x402Version: Type.Literal(2),
  items: Type.Array(Item),
  pagination: Type.Object({ limit: Type.Integer(), offset: Type.Integer(), total: Type.Integer() }),
});
const SearchResults = Type.Object({
  x402Version: Type.Literal(2),
  resources: Type.Array(Item),
  partialResults: Type.Boolean(),
  pagination: Type.Object({ limit: Type.Integer(), cursor: Type.Union([Type.String(), Type.Null()]) }),
});
const WellKnown = Type.Object({ version: Type.Literal(1), resources: Type.Array(Type.String()), instructions: Type.String() });

const fieldCodes: Record<string, string> = {
  limit: "invalid_limit",
  offset: "invalid_offset",
  cursor: "invalid_cursor",
  query: "invalid_query",
};

function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const [first] = errors;
  // A missing property is named in params, not in the path.
  const field = first?.instancePath.split("/")[1] || ((first?.params as { missingProperty?: string } | undefined)?.missingProperty ?? "");
  return new ApiError({ status: 400, code: fieldCodes[field] ?? "invalid_request", message: `${dataVar}${first?.instancePath ?? ""} ${first?.message ?? "is invalid"}` });
}

const errorResponses = { 400: ErrorResponse, 503: ErrorResponse };

/**
 * x402 discovery of the listed services, for any client built on stock x402 tooling:
 *
 *   GET /discovery/resources  the x402 discovery API (filters, offset pages)
 *   GET /discovery/search     full-text search ranked by relevance and reputation (cursor pages)
 *   GET /.well-known/x402     the well-known manifest: every resource's URL
 *
 * Each resource offers exactly what its paid call's 402 offers (`offers`, the proxy's payment
 * methods) and carries the same `bazaar` extension, with AgentTab's reputation and paid-call counts
 * as `metadata`.
 */
const discovery: FastifyPluginAsyncTypebox<{ offers: (service: PaidService) => PaymentRequirements[] }> = async (app, { offers }) => {
  const originOf = (request: FastifyRequest) => publicOrigin(app.config, request);

  /** The resources of these rows that pass the filters, with their offers. */
  const candidates = (rows: readonly ListedServiceRow[], filters: DiscoveryFilters) =>
    rows
      .map((row) => ({ row, accepts: offers(paidServiceOfRow(row)), extensions: listingOfRow(row).extensions }))
      .filter((candidate) => matchesFilters({ type: RESOURCE_TYPE, ...candidate }, filters));

  /** Discovery items of these candidates, in their order, with reputations and paid-call counts. */
  const itemsOf = async (
    request: FastifyRequest,
    page: readonly { row: ListedServiceRow; accepts: PaymentRequirements[] }[],
    known?: ServiceReputations,
  ): Promise<DiscoveryItem[]> => {
    const rows = page.map(({ row }) => row);
    const [reputations, counts] = await Promise.all([known ?? readServiceReputations(app, rows), paidCallCounts(app.sql, rows.map((row) => row.id))]);
    const origin = originOf(request);
    return page.map(({ row, accepts }) => discoveryItem({ origin, row, accepts, reputation: reputationOf(reputations, row), paidCalls: counts.get(row.id) }));
  };

  app.get(
    "/discovery/resources",
    {
      schema: {
        summary: "x402 discovery: the listed services with their payment requirements",
        tags: ["discovery"],
        querystring: ListResourcesQuery,
        response: { 200: ResourceList, ...errorResponses },
      },
      schemaErrorFormatter,
    },
    async (request) => {
      const { limit = DEFAULT_LIMIT, offset = 0, ...filters } = request.query;
      const matching = candidates(await listActiveServices(app.sql), filters);
      const items = await itemsOf(request, matching.slice(offset, offset + limit));
      return { x402Version: 2 as const, items, pagination: { limit, offset, total: matching.length } };
    },
  );

  app.get(
    "/discovery/search",
    {
      schema: {
        summary: "x402 discovery: search names, descriptions, tags and capabilities",
        tags: ["discovery"],
        querystring: SearchResourcesQuery,
        response: { 200: SearchResults, ...errorResponses },
      },
      schemaErrorFormatter,
    },
    async (request) => {
      const { query, limit = DEFAULT_LIMIT, cursor, ...filters } = request.query;
      const search = { query, filters };
      const after = cursor === undefined ? undefined : decodeSearchCursor(search, cursor);
      const { matches, matched } = await searchServices(app.sql, { query, limit: MAX_SEARCH_MATCHES });
      const relevance = new Map(matches.map((match) => [match.id, match.relevance]));
      const found = candidates(await getActiveServices(app.sql, matches.map((match) => match.id)), filters);
      const reputations = await readServiceReputations(app, found.map(({ row }) => row));
      const ranked = found
        .map((candidate) => ({ ...candidate, score: searchScore(relevance.get(candidate.row.id) ?? 0, reputationOf(reputations, candidate.row)?.score ?? null), id: candidate.row.id }))
        .sort(compareSearchResults)
        .filter((candidate) => after === undefined || compareSearchResults(candidate, after) > 0);
      const page = ranked.slice(0, limit);
      const last = page.at(-1);
      return {
        x402Version: 2 as const,
        resources: await itemsOf(request, page, reputations),
        partialResults: matched > matches.length,
        pagination: { limit, cursor: ranked.length > limit && last ? encodeSearchCursor(search, last) : null },
      };
    },
  );

  app.get(
    "/.well-known/x402",
    { schema: { summary: "The x402 well-known discovery manifest", tags: ["discovery"], response: { 200: WellKnown, ...errorResponses } } },
    async (request) => {
      const origin = originOf(request);
      const rows = await listActiveServices(app.sql);
      return {
        version: 1 as const,
        resources: rows.map((row) => resourceUrl(origin, row)),
        instructions:
          `Paid APIs behind the AgentTab proxy, priced in USDC. Each resource answers an unpaid call with an x402 v2 402 ` +
          `(PAYMENT-REQUIRED) offering the agenttab-voucher scheme (pay from an AgentTab escrow deposit) and, where the API ` +
          `offers it, exact (EIP-3009, fixed-price services). ${origin}/discovery/resources lists them with their payment requirements, bazaar ` +
          `extension and reputation; ${origin}/discovery/search?query=… searches them.`,
      };
    },
  );
};

export default discovery;
