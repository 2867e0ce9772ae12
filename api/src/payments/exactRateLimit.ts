import { isIPv6 } from "node:net";

import type { Sql } from "postgres";
import type { Address } from "viem";

import { ApiError } from "../errors.ts";

/** One count an `exact` attempt is held to: its key in `rate_limit_windows` and how many a window allows. */
export type ExactAttemptLimit = { key: string; max: number };

/**
 * Counts one x402 `exact` attempt under each of `limits` in the voucher rate limit's table
 * (`rate_limit_windows`, windows aligned to the epoch as `reserve_call`'s, on the database's clock,
 * so every instance shares the counts; the sweeper drops them after a day), in one statement.
 * Keys come from {@link exactPayerKey} and {@link exactClientKey}, which no voucher signer's key
 * (a bare lowercase address) can equal. Refused attempts count too: a client that keeps trying
 * stays refused until the window ends.
 *
 * @throws {ApiError} `429 rate_limited` with `Retry-After` when any count is past its `max`.
 * @example
 * await countExactAttempt(app.sql, { serviceId: "weather", windowMs: 60_000, limits: [{ key: exactPayerKey(from), max: 60 }, { key: exactClientKey(request.ip), max: 120 }] });
 */
export async function countExactAttempt(sql: Sql, { serviceId, windowMs, limits }: { serviceId: string; windowMs: number; limits: ExactAttemptLimit[] }): Promise<void> {
  if (limits.length === 0) return;
  // Rows are locked in the order given (payer keys before client keys at every call site), so two
  // attempts sharing keys never wait on each other in a cycle.
  const counted = await sql<{ agent: string; calls: number; retry_after: number }[]>`
    INSERT INTO rate_limit_windows AS w (agent, service_id, window_start, calls)
    SELECT k.agent, ${serviceId}, to_timestamp((c.now_ms - c.now_ms % ${windowMs}::bigint) / 1000.0), 1
    FROM unnest(${limits.map((l) => l.key)}::text[]) WITH ORDINALITY AS k(agent, position),
      (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms) c
    ORDER BY k.position
    ON CONFLICT (agent, service_id, window_start) DO UPDATE SET calls = w.calls + 1
    RETURNING w.agent, w.calls,
      greatest(1, ceil(extract(epoch FROM w.window_start) + ${windowMs / 1000}::numeric - extract(epoch FROM clock_timestamp())))::integer AS retry_after`;
  const over = counted.filter((row) => row.calls > (limits.find((l) => l.key === row.agent)?.max ?? Infinity));
  if (over.length === 0) return;
  throw new ApiError({
    status: 429,
    code: "rate_limited",
    message: `Too many exact payment attempts for this service from ${over.map((row) => (row.agent.startsWith("exact-payer:") ? "this payer" : "this client address")).join(" and ")} within ${windowMs / 1000} s; nothing was charged`,
    headers: { "retry-after": String(Math.max(...over.map((row) => row.retry_after))) },
  });
}

/** The rate-limit key of an `exact` payer. */
export function exactPayerKey(payer: Address): string {
  return `exact-payer:${payer.toLowerCase()}`;
}

/**
 * The rate-limit key of a client address: an IPv4 address (also IPv4-mapped IPv6) as it is; an IPv6
 * address by its /64, the block one host is usually given, so that rotating addresses within it
 * does not reset the count.
 */
export function exactClientKey(ip: string): string {
  const address = ip.replace(/%.*$/, "");
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return `exact-ip:${mapped[1]}`;
  if (!isIPv6(address)) return `exact-ip:${address}`;
  const [head = "", tail] = address.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])));
  const full = tail === undefined ? groups(head) : [...groups(head), ...Array<string>(8 - groups(head).length - groups(tail).length).fill("0"), ...groups(tail)];
  return `exact-ip:${full
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}
