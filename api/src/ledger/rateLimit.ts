import type { Sql } from "postgres";

/**
 * Counts one call against a fixed window per (agent, service), in the shared database so that
 * every proxy instance sees the same count.
 *
 * @example
 * const { allowed, remaining, retryAfterSeconds } = await consumeRateLimit(sql, { agent, serviceId, max: 600, windowMs: 60_000 });
 */
export async function consumeRateLimit(
  sql: Sql,
  { agent, serviceId, max, windowMs }: { agent: string; serviceId: string; max: number; windowMs: number },
): Promise<{ allowed: boolean; remaining: number; retryAfterSeconds: number }> {
  const now = Date.now();
  const windowStart = new Date(now - (now % windowMs));
  const [row] = await sql<{ calls: number }[]>`
    INSERT INTO rate_limit_windows (agent, service_id, window_start, calls)
    VALUES (${agent.toLowerCase()}, ${serviceId}, ${windowStart}, 1)
    ON CONFLICT (agent, service_id, window_start) DO UPDATE SET calls = rate_limit_windows.calls + 1
    RETURNING calls`;
  const calls = row?.calls ?? max + 1;
  return {
    allowed: calls <= max,
    remaining: Math.max(0, max - calls),
    retryAfterSeconds: Math.max(1, Math.ceil((windowStart.getTime() + windowMs - now) / 1000)),
  };
}
