import type { Sql } from "postgres";

/** A service's recent record, as a quality gate judges it. */
export type Reliability = {
  /** Calls in the window (at most `windowCalls`). */
  calls: number;
  /** Of those, answered below 500 within the latency bound. */
  successes: number;
  /** successes / calls, in basis points; 10 000 with no calls yet. */
  scoreBps: number;
  medianLatencyMs: number | null;
};

/**
 * The reliability of a service over its last `windowCalls` counted calls (`call_outcomes`: every
 * call the proxy forwarded, charged or released, from every API instance): a success is an
 * upstream answer below 500 within `maxLatencyMs`. An uncharged failure counts only with a paid
 * call of its account behind it, within a daily cap (`record_failed_call`, ledger/functions); the
 * others are left out, so nobody can trip a gate with failures that cost nothing. Read from
 * Postgres, so every instance judges a service on the same record.
 *
 * @example
 * const { scoreBps } = await getReliability(app.sql, { serviceId: "weather-api", windowCalls: 20, maxLatencyMs: 2_000 });
 */
export async function getReliability(
  sql: Sql,
  { serviceId, windowCalls, maxLatencyMs }: { serviceId: string; windowCalls: number; maxLatencyMs: number },
): Promise<Reliability> {
  const [row] = await sql<{ calls: number; successes: number; median: number | null }[]>`
    SELECT count(*)::int AS calls,
           (count(*) FILTER (WHERE ok AND latency_ms <= ${maxLatencyMs}))::int AS successes,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS median
    FROM (SELECT ok, latency_ms FROM call_outcomes WHERE service_id = ${serviceId} AND (ok OR counted)
          ORDER BY created_at DESC LIMIT ${windowCalls}) recent`;
  const calls = row?.calls ?? 0;
  const successes = row?.successes ?? 0;
  return { calls, successes, scoreBps: calls === 0 ? 10_000 : Math.floor((successes * 10_000) / calls), medianLatencyMs: row?.median ?? null };
}

/**
 * Whether a gate's primary is below its bound: only once its window is full, so that a handful
 * of early failures of a new service does not trip it.
 *
 * @example
 * isDegraded(reliability, { minReliabilityBps: 9_000, windowCalls: 20 });
 */
export function isDegraded(reliability: Reliability, { minReliabilityBps, windowCalls }: { minReliabilityBps: number; windowCalls: number }): boolean {
  return reliability.calls >= windowCalls && reliability.scoreBps < minReliabilityBps;
}
