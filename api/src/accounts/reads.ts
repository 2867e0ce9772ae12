import type { Sql } from "postgres";

/** An account's off-chain totals (zeros for an account the ledger never saw). */
export type LedgerTotals = {
  /** Σ charges, all signers, all time. */
  charged: bigint;
  /** Σ maxima of calls in flight. */
  reserved: bigint;
};

/**
 * What the ledger holds against an account: charged all-time and reserved by calls in flight.
 *
 * @example
 * const { charged, reserved } = await getLedgerTotals(app.sql, { account: "0xabc…" });
 */
export async function getLedgerTotals(sql: Sql, { account }: { account: string }): Promise<LedgerTotals> {
  const [row] = await sql<{ charged: string; reserved: string }[]>`
    SELECT charged, reserved FROM ledger_accounts WHERE account = ${account}`;
  return { charged: BigInt(row?.charged ?? 0), reserved: BigInt(row?.reserved ?? 0) };
}

/** One charge as the paying agent sees it; amounts in USDC atomic units. */
export type ChargeRecord = {
  requestId: string;
  serviceId: string;
  provider: string;
  signer: string;
  amount: bigint;
  fee: bigint;
  /** The signer's charged total after this call. */
  cumulative: bigint;
  method: string;
  path: string;
  upstreamStatus: number;
  latencyMs: number;
  createdAt: Date;
  /** The settlement batch that claimed it, or null while unsettled. */
  settlementBatch: string | null;
};

/**
 * Where a page of charges starts: just after the charge at (`createdAtMicros`, `requestId`) in the
 * order newest first, then by request id. Microseconds, because that is what Postgres stores and a
 * JavaScript `Date` (milliseconds) would skip or repeat charges sharing a millisecond.
 */
export type ChargeCursor = { createdAtMicros: bigint; requestId: string };

const cursorPattern = /^(0|[1-9][0-9]{0,15}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** The opaque text form of a cursor (base64url). */
export function encodeChargeCursor({ createdAtMicros, requestId }: ChargeCursor): string {
  return Buffer.from(`${createdAtMicros}:${requestId}`).toString("base64url");
}

/** A cursor from its text form, or undefined when it is not one this API issued. */
export function decodeChargeCursor(text: string): ChargeCursor | undefined {
  const match = cursorPattern.exec(Buffer.from(text, "base64url").toString("latin1"));
  if (!match) return undefined;
  return { createdAtMicros: BigInt(match[1] as string), requestId: match[2] as string };
}

export type ListChargesParameters = {
  account: string;
  limit: number;
  after?: ChargeCursor | undefined;
  serviceId?: string | undefined;
  /** Inclusive. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
};

/**
 * A page of an account's charges, newest first, by keyset on (created_at, request_id) so that
 * pages never skip or repeat a charge, however many arrive meanwhile. The order matches the
 * `charges_account_time` index (created_at DESC, request_id ASC).
 *
 * @returns up to `limit` charges, and the cursor of the next page when there is one.
 * @example
 * const { charges, next } = await listCharges(app.sql, { account, limit: 20, serviceId: "weather-api" });
 */
export async function listCharges(sql: Sql, p: ListChargesParameters): Promise<{ charges: ChargeRecord[]; next: ChargeCursor | undefined }> {
  const after = p.after;
  const rows = await sql<
    {
      request_id: string;
      service_id: string;
      provider: string;
      signer: string;
      amount: string;
      fee: string;
      cumulative: string;
      method: string;
      path: string;
      upstream_status: number;
      latency_ms: number;
      created_at: Date;
      created_at_us: string;
      settlement_batch: string | null;
    }[]
  >`
    SELECT request_id, service_id, provider, signer, amount, fee, cumulative, method, path, upstream_status,
           latency_ms, created_at, (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us, settlement_batch
    FROM charges
    WHERE account = ${p.account}
      ${p.serviceId === undefined ? sql`` : sql`AND service_id = ${p.serviceId}`}
      ${p.from === undefined ? sql`` : sql`AND created_at >= ${p.from}`}
      ${p.to === undefined ? sql`` : sql`AND created_at < ${p.to}`}
      ${
        after === undefined
          ? sql``
          : sql`AND created_at <= ${microsToTimestamp(after.createdAtMicros)}::text::timestamptz
                AND (created_at < ${microsToTimestamp(after.createdAtMicros)}::text::timestamptz OR request_id > ${after.requestId})`
      }
    ORDER BY created_at DESC, request_id ASC
    LIMIT ${p.limit + 1}`;
  const page = rows.slice(0, p.limit);
  const last = page.at(-1);
  return {
    charges: page.map((row) => ({
      requestId: row.request_id,
      serviceId: row.service_id,
      provider: row.provider,
      signer: row.signer,
      amount: BigInt(row.amount),
      fee: BigInt(row.fee),
      cumulative: BigInt(row.cumulative),
      method: row.method,
      path: row.path,
      upstreamStatus: row.upstream_status,
      latencyMs: row.latency_ms,
      createdAt: row.created_at,
      settlementBatch: row.settlement_batch,
    })),
    next: rows.length > p.limit && last !== undefined ? { createdAtMicros: BigInt(last.created_at_us), requestId: last.request_id } : undefined,
  };
}

// ISO text exact to the microsecond. Pass it as `::text::timestamptz`: postgres.js sends a
// timestamptz parameter through a JavaScript Date, which would cut it to milliseconds. Cursors hold
// at most 16 digits (before the year 2287), so the Date part stays a four-digit year.
function microsToTimestamp(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const fraction = (micros % 1_000_000n).toString().padStart(6, "0");
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** Spending over a period: Σ, calls and the average per call (floor), overall and per service. */
export type SpendingTotals = { total: bigint; calls: number; averagePerCall: bigint };
export type SpendingReport = SpendingTotals & { byService: (SpendingTotals & { serviceId: string })[] };

/**
 * An account's spending in [from, to), aggregated by Postgres exactly (numeric sums, integer
 * division), overall and per service, the biggest spend first.
 *
 * @example
 * const report = await spendingReport(app.sql, { account, from: new Date(Date.now() - 7 * 86_400_000), to: new Date() });
 */
export async function spendingReport(sql: Sql, { account, from, to }: { account: string; from: Date; to: Date }): Promise<SpendingReport> {
  const rows = await sql<{ service_id: string | null; overall: number; total: string; calls: string; average: string }[]>`
    SELECT service_id, grouping(service_id) AS overall, coalesce(sum(amount), 0) AS total, count(*) AS calls,
           CASE WHEN count(*) = 0 THEN 0 ELSE div(sum(amount), count(*)) END AS average
    FROM charges
    WHERE account = ${account} AND created_at >= ${from} AND created_at < ${to}
    GROUP BY GROUPING SETS ((service_id), ())
    ORDER BY grouping(service_id) DESC, sum(amount) DESC, service_id`;
  const totals = (row: { total: string; calls: string; average: string } | undefined): SpendingTotals => ({
    total: BigInt(row?.total ?? 0),
    calls: Number(row?.calls ?? 0),
    averagePerCall: BigInt(row?.average ?? 0),
  });
  return {
    ...totals(rows.find((row) => row.overall === 1)),
    byService: rows.filter((row) => row.overall === 0).map((row) => ({ serviceId: row.service_id as string, ...totals(row) })),
  };
}

/**
 * What a provider has earned off-chain and not yet been credited on-chain: Σ (amount − fee) of its
 * charges no settlement has claimed yet.
 *
 * @example
 * const { pending, calls } = await providerUnsettledEarnings(app.sql, { provider: "0xabc…" });
 */
export async function providerUnsettledEarnings(sql: Sql, { provider }: { provider: string }): Promise<{ pending: bigint; calls: number }> {
  const [row] = await sql<{ pending: string; calls: string }[]>`
    SELECT coalesce(sum(amount - fee), 0) AS pending, count(*) AS calls
    FROM charges WHERE provider = ${provider} AND settlement_batch IS NULL`;
  return { pending: BigInt(row?.pending ?? 0), calls: Number(row?.calls ?? 0) };
}
