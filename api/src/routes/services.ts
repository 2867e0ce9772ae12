import type { FastifySchemaValidationError } from "fastify";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { getAddress, isAddressEqual, maxUint256, recoverTypedDataAddress } from "viem";
import type { Address, Hex } from "viem";

import { serviceDelistingTypedData, serviceRegistrationTypedData } from "@agenttab/sdk";
import type { ServiceRegistration } from "@agenttab/sdk";

import { addressKey } from "../config.ts";
import { checkServiceDiscovery, methodOf } from "../discovery/bazaar.ts";
import { listingOfRow } from "../discovery/listing.ts";
import { ApiError } from "../errors.ts";
import { proxiedTarget } from "../forwarding/path.ts";
import { decodeCursor, encodeCursor, paginate } from "../services/discovery.ts";
import type { SortKey } from "../services/discovery.ts";
import { readServiceReputations, reputationOf } from "../services/reputation.ts";
import type { ServiceReputations } from "../services/reputation.ts";
import { delistService, getService, getServices, listCandidates, upsertService } from "../services/repository.ts";
import type { ServiceRow, WriteRefusal } from "../services/repository.ts";
import {
  DelistedService,
  DelistServiceBody,
  ErrorResponse,
  ListServicesQuery,
  RegisteredService,
  RegisterServiceBody,
  ServiceList,
  ServiceParams,
  ServiceView,
} from "../services/schemas.ts";
import { checkUpstreamUrl, localAddresses, parseUpstreamUrl } from "../services/upstreamUrl.ts";

/** Prices fit in 128 bits, so sums over a week of calls can never overflow a uint256. */
export const MAX_PRICE = 2n ** 128n - 1n;
/** A signed request is good for at most this long, so a leaked one soon becomes useless. */
export const MAX_DEADLINE_SECONDS = 86_400n;
const DEFAULT_PAGE_SIZE = 20;

// Schema failures on these fields get their own code; everything else is `invalid_request`.
const fieldCodes: Record<string, string> = {
  price: "invalid_amount",
  maxPrice: "invalid_amount",
  max_price: "invalid_amount",
  upstreamUrl: "invalid_upstream_url",
  serviceId: "invalid_service_id",
  signature: "invalid_signature",
  cursor: "invalid_cursor",
  discovery: "invalid_discovery",
  httpMethod: "invalid_http_method",
  bodyType: "invalid_body_type",
  resourcePath: "invalid_resource_path",
  inputDescription: "invalid_description",
  outputDescription: "invalid_description",
};

function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const [first] = errors;
  const segments = first?.instancePath.split("/") ?? [];
  // A discovery field is named by its own segment: /discovery/httpMethod → httpMethod.
  const field = (segments[1] === "discovery" ? (segments[2] ?? segments[1]) : segments[1]) ?? "";
  const where = `${dataVar}${first?.instancePath ?? ""}`;
  return new ApiError({ status: 400, code: fieldCodes[field] ?? "invalid_request", message: `${where} ${first?.message ?? "is invalid"}` });
}

const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  410: ErrorResponse,
  503: ErrorResponse,
};

/**
 * Providers' service registry and discovery. Writes are EIP-712 requests signed by the provider's
 * wallet (`ServiceRegistration`, `ServiceDelisting` in sdk/src/apiTypedData.ts), each with a nonce
 * above the service's last one and a deadline at most a day ahead; reads are public and never show
 * a service's upstream URL.
 *
 *   POST   /v1/services             register (201) or update (200)
 *   DELETE /v1/services/:serviceId  delist (kept, hidden from discovery, 410 on lookup)
 *   GET    /v1/services/:serviceId  one listed service with its reputation
 *   GET    /v1/services             discovery: filters, sort by reputation or price, cursor pages
 */
const services: FastifyPluginAsyncTypebox = async (app) => {
  const { chainId, escrow } = app.config.deployment;
  const selfAddresses = new Set([...localAddresses(), app.config.host]);

  app.post(
    "/v1/services",
    {
      schema: {
        summary: "Register or update a service (signed by its provider)",
        tags: ["services"],
        body: RegisterServiceBody,
        response: { 200: RegisteredService, 201: RegisteredService, ...errorResponses },
      },
      schemaErrorFormatter,
    },
    async (request, reply) => {
      const body = request.body;
      const price = amount(body.price, "price");
      const maxPrice = amount(body.maxPrice, "maxPrice");
      const usageHeader = body.usageHeader ?? "";
      checkPricing({ pricing: body.pricing, price, maxPrice, usageHeader });
      const exampleInput = exampleJson(body.exampleInput ?? "", "exampleInput");
      const exampleOutput = exampleJson(body.exampleOutput ?? "", "exampleOutput");
      const discovery = {
        httpMethod: body.discovery?.httpMethod ?? null,
        bodyType: body.discovery?.bodyType ?? null,
        resourcePath: checkResourcePath(body.discovery?.resourcePath ?? "/"),
        inputDescription: body.discovery?.inputDescription ?? "",
        outputDescription: body.discovery?.outputDescription ?? "",
      };
      checkServiceDiscovery({
        ...discovery,
        exampleInput: exampleInput === null ? null : JSON.parse(exampleInput),
        exampleOutput: exampleOutput === null ? null : JSON.parse(exampleOutput),
      });
      const nonce = uint256(body.nonce);
      const deadline = checkDeadline(body.deadline);
      parseUpstreamUrl(body.upstreamUrl);

      const registration: ServiceRegistration = {
        serviceId: body.serviceId,
        name: body.name,
        description: body.description ?? "",
        category: body.category,
        tags: body.tags ?? [],
        capabilities: body.capabilities ?? [],
        upstreamUrl: body.upstreamUrl,
        pricing: body.pricing,
        price,
        maxPrice,
        usageHeader,
        exampleInput: body.exampleInput ?? "",
        exampleOutput: body.exampleOutput ?? "",
        nonce,
        deadline,
      };
      const provider = getAddress(body.provider);
      const signature = body.signature as Hex;
      await checkSigner(provider, () => recoverTypedDataAddress({ ...serviceRegistrationTypedData({ chainId, escrow, registration }), signature }));
      // After the signature, so an unsigned request cannot make the API resolve names for it.
      await checkUpstreamUrl(body.upstreamUrl, { allowPrivate: app.config.allowPrivateUpstreams, selfAddresses });

      const result = await upsertService(app.sql, {
        id: registration.serviceId,
        provider: addressKey(provider),
        name: registration.name,
        description: registration.description,
        category: registration.category,
        tags: registration.tags,
        capabilities: registration.capabilities,
        upstreamUrl: registration.upstreamUrl,
        pricing: registration.pricing,
        price,
        maxPrice,
        usageHeader: usageHeader === "" ? null : usageHeader,
        exampleInput,
        exampleOutput,
        ...discovery,
        nonce,
      });
      if ("refused" in result) throw refusalError(registration.serviceId, result);
      return reply.status(result.inserted ? 201 : 200).send({ ...serviceFields(result.row), status: "active", nonce: result.row.nonce });
    },
  );

  app.delete(
    "/v1/services/:serviceId",
    {
      schema: {
        summary: "Delist a service (signed by its provider)",
        tags: ["services"],
        params: ServiceParams,
        body: DelistServiceBody,
        response: { 200: DelistedService, ...errorResponses },
      },
      schemaErrorFormatter,
    },
    async (request) => {
      const { serviceId } = request.params;
      const nonce = uint256(request.body.nonce);
      const deadline = checkDeadline(request.body.deadline);
      const provider = getAddress(request.body.provider);
      const signature = request.body.signature as Hex;
      await checkSigner(provider, () =>
        recoverTypedDataAddress({ ...serviceDelistingTypedData({ chainId, escrow, delisting: { serviceId, nonce, deadline } }), signature }),
      );
      const result = await delistService(app.sql, { id: serviceId, provider: addressKey(provider), nonce });
      if ("refused" in result) throw refusalError(serviceId, result);
      return { id: result.row.id, status: "delisted" as const, nonce: result.row.nonce };
    },
  );

  app.get(
    "/v1/services/:serviceId",
    {
      schema: { summary: "One listed service with its reputation", tags: ["services"], params: ServiceParams, response: { 200: ServiceView, ...errorResponses } },
      schemaErrorFormatter,
    },
    async (request) => {
      const row = await getService(app.sql, request.params.serviceId);
      if (!row) throw notFound(request.params.serviceId);
      if (row.status === "delisted") {
        throw new ApiError({ status: 410, code: "service_delisted", message: `The service "${row.id}" was delisted by its provider.` });
      }
      const reputations = await readServiceReputations(app, [row]);
      return serviceView(row, reputations);
    },
  );

  app.get(
    "/v1/services",
    {
      schema: { summary: "Discover services", tags: ["services"], querystring: ListServicesQuery, response: { 200: ServiceList, ...errorResponses } },
      schemaErrorFormatter,
    },
    async (request) => {
      const query = request.query;
      const sort = query.sort ?? "reputation";
      const limit = query.limit ?? DEFAULT_PAGE_SIZE;
      const after = query.cursor === undefined ? undefined : decodeCursor(sort, query.cursor);
      const candidates = await listCandidates(app.sql, {
        category: query.category,
        tags: query.tags?.split(","),
        capability: query.capability,
        provider: query.provider === undefined ? undefined : addressKey(query.provider),
        maxPrice: query.max_price === undefined ? undefined : amount(query.max_price, "max_price"),
      });
      const reputations = await readServiceReputations(app, candidates);
      const keyed: SortKey[] = [];
      for (const candidate of candidates) {
        const score = reputationOf(reputations, candidate)?.score ?? null;
        if (query.min_reputation !== undefined && (score === null || score < query.min_reputation)) continue;
        keyed.push({ id: candidate.id, score, maxPrice: BigInt(candidate.max_price) });
      }
      const { page, more } = paginate(keyed, { sort, limit, after });
      const rows = new Map((await getServices(app.sql, page.map((p) => p.id))).map((row) => [row.id, row]));
      const items = [];
      for (const key of page) {
        const row = rows.get(key.id);
        // A service delisted between the two reads is simply left out of this page.
        if (row && row.status === "active") items.push(serviceView(row, reputations));
      }
      const last = page.at(-1);
      return { items, nextCursor: more && last ? encodeCursor(sort, last) : null };
    },
  );

  /** The signature must recover to the claimed provider (ECDSA; ERC-1271 smart wallets are not supported yet). */
  async function checkSigner(provider: Address, recover: () => Promise<Address>) {
    const recovered = await recover().catch(() => undefined);
    if (recovered === undefined || !isAddressEqual(recovered, provider)) {
      throw new ApiError({
        status: 401,
        code: "invalid_signature",
        message: `The signature does not recover to provider ${provider}: sign exactly these fields under the AgentTab API domain of chain ${chainId}, escrow ${escrow}.`,
      });
    }
  }
};

export default services;

function serviceFields(row: ServiceRow) {
  return {
    id: row.id,
    provider: getAddress(row.provider),
    name: row.name,
    description: row.description,
    category: row.category,
    tags: row.tags,
    capabilities: row.capabilities,
    pricing: row.pricing,
    price: row.price,
    maxPrice: row.max_price,
    usageHeader: row.usage_header,
    exampleInput: row.example_input ?? null,
    exampleOutput: row.example_output ?? null,
    discovery: {
      httpMethod: methodOf({ httpMethod: row.http_method, exampleInput: row.example_input ?? null }),
      bodyType: row.body_type,
      resourcePath: row.resource_path,
      inputDescription: row.input_description,
      outputDescription: row.output_description,
      bazaar: listingOfRow(row).extensions.bazaar,
    },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function serviceView(row: ServiceRow, reputations: ServiceReputations) {
  const reputation = reputationOf(reputations, row);
  return {
    ...serviceFields(row),
    reputation: {
      score: reputation?.score ?? null,
      callsServed: Number(reputation?.callsServed ?? 0n),
      callsFailed: Number(reputation?.callsFailed ?? 0n),
      feedbackCount: Number(reputation?.feedbackCount ?? 0n),
    },
  };
}

function amount(value: string, field: string): bigint {
  const parsed = /^(0|[1-9][0-9]*)$/.test(value) ? BigInt(value) : undefined;
  if (parsed === undefined || parsed > MAX_PRICE) {
    throw new ApiError({
      status: 400,
      code: "invalid_amount",
      message: `${field} must be USDC atomic units as a decimal string from 0 to 2^128 - 1.`,
    });
  }
  return parsed;
}

function uint256(value: string): bigint {
  const parsed = BigInt(value);
  if (parsed > maxUint256) throw new ApiError({ status: 400, code: "invalid_nonce", message: "nonce must fit in a uint256." });
  return parsed;
}

function checkPricing({ pricing, price, maxPrice, usageHeader }: { pricing: "fixed" | "metered"; price: bigint; maxPrice: bigint; usageHeader: string }) {
  const refuse = (message: string) => new ApiError({ status: 400, code: "invalid_pricing", message });
  if (pricing === "fixed") {
    if (maxPrice !== price) throw refuse("A fixed price needs maxPrice equal to price.");
    if (usageHeader !== "") throw refuse("A fixed price takes no usageHeader.");
  } else {
    if (maxPrice < price) throw refuse("A metered price needs maxPrice (per call) at least price (per unit).");
    if (usageHeader === "") throw refuse("A metered price needs usageHeader: the upstream response header that reports the units used.");
  }
}

/** The example as JSON text for storage, or null when absent; must parse. */
function exampleJson(text: string, field: string): string | null {
  if (text === "") return null;
  try {
    JSON.parse(text);
  } catch {
    throw new ApiError({ status: 400, code: "invalid_example", message: `${field} must be JSON text (or empty).` });
  }
  return text;
}

/** A resource path the proxy would forward as it is (its own rules, `api/src/forwarding/path.ts`). */
function checkResourcePath(path: string): string {
  try {
    proxiedTarget(`/v1/proxy/service${path}`, 3);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    throw new ApiError({ status: 400, code: "invalid_resource_path", message: `discovery.resourcePath: ${error.message}` });
  }
  return path;
}

function checkDeadline(value: string): bigint {
  const deadline = BigInt(value);
  const now = BigInt(Math.floor(Date.now() / 1000));
  if (deadline < now) throw new ApiError({ status: 400, code: "deadline_expired", message: `The request's deadline ${deadline} has passed.` });
  if (deadline > now + MAX_DEADLINE_SECONDS) {
    throw new ApiError({ status: 400, code: "deadline_too_far", message: `The deadline may be at most ${MAX_DEADLINE_SECONDS} seconds ahead.` });
  }
  return deadline;
}

function notFound(serviceId: string): ApiError {
  return new ApiError({ status: 404, code: "service_not_found", message: `No service "${serviceId}".` });
}

function refusalError(serviceId: string, refusal: WriteRefusal): ApiError {
  switch (refusal.refused) {
    case "not_found":
      return notFound(serviceId);
    case "not_owner":
      return new ApiError({ status: 403, code: "not_service_owner", message: `The service "${serviceId}" belongs to another provider.` });
    case "stale_nonce":
      return new ApiError({
        status: 409,
        code: "stale_nonce",
        message: `The nonce must be greater than ${refusal.storedNonce}, the service's last accepted one.`,
      });
  }
}
