import type { Sql } from "postgres";

import type { PaidServiceRow } from "../paidCall/services.ts";

/** An active service as discovery lists it (its upstream URL is read for the offers, never shown). */
export type ListedServiceRow = PaidServiceRow & {
  category: string;
  capabilities: string[];
  resource_path: string;
  updated_at: Date;
};

/** Paid calls of a service, from the ledger. */
export type PaidCallCounts = {
  /** Calls paid through AgentTab: voucher charges above zero and settled `exact` payments. */
  paid: number;
  /** Of those, the ones settled on-chain: charges in a settlement batch, and every settled `exact` payment. */
  settled: number;
};

/**
 * Every active service, by id.
 *
 * @example
 * const rows = await listActiveServices(sql);
 */
export async function listActiveServices(sql: Sql): Promise<ListedServiceRow[]> {
  return sql<ListedServiceRow[]>`SELECT * FROM services WHERE status = 'active' ORDER BY id`;
}

/**
 * Active services by id, in no particular order.
 *
 * @example
 * const rows = await getActiveServices(sql, ["weather-api"]);
 */
export async function getActiveServices(sql: Sql, ids: readonly string[]): Promise<ListedServiceRow[]> {
  if (ids.length === 0) return [];
  return sql<ListedServiceRow[]>`SELECT * FROM services WHERE status = 'active' AND id IN ${sql([...ids])}`;
}

/**
 * Active services matching a web-search-style query (PostgreSQL full text, English), most
 * relevant first, at most `limit`: each with its relevance (0–1, `ts_rank_cd` normalized as
 * rank / (rank + 1)), and how many matched in all. Names and ids weigh most, then tags,
 * capabilities and category, then the descriptions.
 *
 * @example
 * const { matches, matched } = await searchServices(sql, { query: "weather forecast", limit: 200 });
 */
export async function searchServices(sql: Sql, { query, limit }: { query: string; limit: number }): Promise<{ matches: { id: string; relevance: number }[]; matched: number }> {
  // A catalogue of services is small: the documents are built per query rather than stored (a
  // generated column could not use array_to_string, which is not immutable).
  const rows = await sql<{ id: string; relevance: number; matched: string }[]>`
    WITH search AS (SELECT websearch_to_tsquery('english', ${query}) AS query),
    documents AS (
      SELECT id,
             setweight(to_tsvector('english', name || ' ' || replace(id, '-', ' ')), 'A')
          || setweight(to_tsvector('english', array_to_string(tags, ' ') || ' ' || array_to_string(capabilities, ' ') || ' ' || category), 'B')
          || setweight(to_tsvector('english', description || ' ' || input_description || ' ' || output_description), 'C') AS document
      FROM services WHERE status = 'active')
    SELECT id, ts_rank_cd(document, search.query, 32) AS relevance, count(*) OVER () AS matched
    FROM documents, search
    WHERE document @@ search.query
    ORDER BY relevance DESC, id
    LIMIT ${limit}`;
  return { matches: rows.map(({ id, relevance }) => ({ id, relevance })), matched: Number(rows[0]?.matched ?? 0) };
}

/**
 * Paid calls per service (ids without any are absent), from the ledger's partial indexes.
 *
 * @example
 * const counts = await paidCallCounts(sql, ["weather-api"]);
 */
export async function paidCallCounts(sql: Sql, ids: readonly string[]): Promise<Map<string, PaidCallCounts>> {
  const counts = new Map<string, PaidCallCounts>();
  if (ids.length === 0) return counts;
  const rows = await sql<{ service_id: string; paid: string; settled: string }[]>`
    SELECT service_id, sum(paid)::text AS paid, sum(settled)::text AS settled FROM (
      SELECT service_id, count(*) AS paid, count(settlement_batch) AS settled
      FROM charges WHERE amount > 0 AND service_id IN ${sql([...ids])} GROUP BY service_id
      UNION ALL
      SELECT service_id, count(*), count(*)
      FROM exact_payments WHERE status = 'settled' AND service_id IN ${sql([...ids])} GROUP BY service_id
    ) calls GROUP BY service_id`;
  for (const row of rows) counts.set(row.service_id, { paid: Number(row.paid), settled: Number(row.settled) });
  return counts;
}
