import type { Sql } from "postgres";

import type { ServicePricing } from "@agenttab/sdk";

import type { BodyType, HttpMethod } from "../discovery/bazaar.ts";

/** A row of the `services` table, as postgres.js returns it (numeric as string, jsonb parsed). */
export type ServiceRow = {
  id: string;
  provider: string;
  name: string;
  description: string;
  category: string;
  tags: string[];
  capabilities: string[];
  upstream_url: string;
  pricing: ServicePricing;
  price: string;
  max_price: string;
  usage_header: string | null;
  example_input: unknown;
  example_output: unknown;
  http_method: HttpMethod | null;
  body_type: BodyType | null;
  resource_path: string;
  input_description: string;
  output_description: string;
  status: "active" | "delisted";
  nonce: string;
  created_at: Date;
  updated_at: Date;
};

/** A verified registration, ready to store: addresses lowercase, examples as JSON text or null. */
export type ServiceRecord = {
  id: string;
  provider: string;
  name: string;
  description: string;
  category: string;
  tags: readonly string[];
  capabilities: readonly string[];
  upstreamUrl: string;
  pricing: ServicePricing;
  price: bigint;
  maxPrice: bigint;
  usageHeader: string | null;
  exampleInput: string | null;
  exampleOutput: string | null;
  /** Discovery fields (not signed): null method or body type when undeclared. */
  httpMethod: HttpMethod | null;
  bodyType: BodyType | null;
  resourcePath: string;
  inputDescription: string;
  outputDescription: string;
  nonce: bigint;
};

/** Why a signed write was not applied: the service belongs to someone else, or the nonce is not new. */
export type WriteRefusal = { refused: "not_found" | "not_owner" | "stale_nonce"; owner?: string; storedNonce?: string };

const TEXT_OID = 25;

/**
 * Inserts a service, or updates (and relists) it when `provider` owns it and `nonce` exceeds the
 * stored one, in one statement so that concurrent writes cannot both win.
 *
 * @example
 * const result = await upsertService(sql, record);
 * if ("refused" in result) …; else if (result.inserted) … // 201
 */
export async function upsertService(sql: Sql, record: ServiceRecord): Promise<{ row: ServiceRow; inserted: boolean } | WriteRefusal> {
  // Examples travel as text (::text::jsonb) so that Postgres parses them: a jsonb-typed parameter
  // would be JSON-encoded a second time. xmax is 0 only on a freshly inserted row: 201, not 200.
  const rows = await sql<(ServiceRow & { inserted: boolean })[]>`
    INSERT INTO services (id, provider, name, description, category, tags, capabilities, upstream_url, pricing,
                          price, max_price, usage_header, example_input, example_output,
                          http_method, body_type, resource_path, input_description, output_description, status, nonce)
    VALUES (${record.id}, ${record.provider}, ${record.name}, ${record.description}, ${record.category},
            ${sql.array([...record.tags], TEXT_OID)}::text[], ${sql.array([...record.capabilities], TEXT_OID)}::text[],
            ${record.upstreamUrl}, ${record.pricing}, ${record.price.toString()}::numeric, ${record.maxPrice.toString()}::numeric,
            ${record.usageHeader}, ${record.exampleInput}::text::jsonb, ${record.exampleOutput}::text::jsonb,
            ${record.httpMethod}, ${record.bodyType}, ${record.resourcePath}, ${record.inputDescription}, ${record.outputDescription},
            'active', ${record.nonce.toString()}::numeric)
    ON CONFLICT (id) DO UPDATE SET
      name = EXCLUDED.name, description = EXCLUDED.description, category = EXCLUDED.category, tags = EXCLUDED.tags,
      capabilities = EXCLUDED.capabilities, upstream_url = EXCLUDED.upstream_url, pricing = EXCLUDED.pricing,
      price = EXCLUDED.price, max_price = EXCLUDED.max_price, usage_header = EXCLUDED.usage_header,
      example_input = EXCLUDED.example_input, example_output = EXCLUDED.example_output,
      http_method = EXCLUDED.http_method, body_type = EXCLUDED.body_type, resource_path = EXCLUDED.resource_path,
      input_description = EXCLUDED.input_description, output_description = EXCLUDED.output_description,
      status = 'active', nonce = EXCLUDED.nonce, updated_at = now()
    WHERE services.provider = EXCLUDED.provider AND services.nonce < EXCLUDED.nonce
    RETURNING *, (xmax = 0) AS inserted`;
  const row = rows[0];
  if (row) return { row, inserted: row.inserted };
  return refusal(sql, record.id, record.provider);
}

/**
 * Marks a service delisted when `provider` owns it and `nonce` exceeds the stored one. The row
 * stays: a later registration with a higher nonce relists it.
 *
 * @example
 * const result = await delistService(sql, { id: "weather-api", provider, nonce: 7n });
 */
export async function delistService(
  sql: Sql,
  { id, provider, nonce }: { id: string; provider: string; nonce: bigint },
): Promise<{ row: ServiceRow } | WriteRefusal> {
  const [row] = await sql<ServiceRow[]>`
    UPDATE services SET status = 'delisted', nonce = ${nonce.toString()}::numeric, updated_at = now()
    WHERE id = ${id} AND provider = ${provider} AND nonce < ${nonce.toString()}::numeric
    RETURNING *`;
  if (row) return { row };
  return refusal(sql, id, provider);
}

async function refusal(sql: Sql, id: string, provider: string): Promise<WriteRefusal> {
  const [current] = await sql<{ provider: string; nonce: string }[]>`SELECT provider, nonce FROM services WHERE id = ${id}`;
  if (!current) return { refused: "not_found" };
  if (current.provider !== provider) return { refused: "not_owner", owner: current.provider };
  return { refused: "stale_nonce", storedNonce: current.nonce };
}

/** One service by id, whatever its status. */
export async function getService(sql: Sql, id: string): Promise<ServiceRow | undefined> {
  const [row] = await sql<ServiceRow[]>`SELECT * FROM services WHERE id = ${id}`;
  return row;
}

/** Services by id, in no particular order. */
export async function getServices(sql: Sql, ids: readonly string[]): Promise<ServiceRow[]> {
  if (ids.length === 0) return [];
  return sql<ServiceRow[]>`SELECT * FROM services WHERE id IN ${sql([...ids])}`;
}

/** Discovery filters that SQL applies; reputation is applied afterwards (it lives in the indexer). */
export type CandidateFilters = {
  category?: string;
  tags?: readonly string[];
  capability?: string;
  provider?: string;
  maxPrice?: bigint;
};

/** The sort keys of every active service that passes `filters`. */
export async function listCandidates(sql: Sql, filters: CandidateFilters): Promise<{ id: string; provider: string; max_price: string }[]> {
  const { category, tags, capability, provider, maxPrice } = filters;
  return sql<{ id: string; provider: string; max_price: string }[]>`
    SELECT id, provider, max_price FROM services
    WHERE status = 'active'
      ${category === undefined ? sql`` : sql`AND category = ${category}`}
      ${tags === undefined || tags.length === 0 ? sql`` : sql`AND tags @> ${sql.array([...tags], TEXT_OID)}::text[]`}
      ${capability === undefined ? sql`` : sql`AND ${capability} = ANY(capabilities)`}
      ${provider === undefined ? sql`` : sql`AND provider = ${provider}`}
      ${maxPrice === undefined ? sql`` : sql`AND max_price <= ${maxPrice.toString()}::numeric`}`;
}
