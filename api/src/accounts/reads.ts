import type { Sql } from "postgres";

/** How a call was paid: a voucher charge against the escrow, or an x402 `exact` payment settled on its own. */
export type PaymentScheme = "agenttab-voucher" | "exact";

/** One paid call as the paying agent sees it; amounts in USDC atomic units. */
export type TransactionRecord = {
  requestId: string;
  scheme: PaymentScheme;
  serviceId: string;
  provider: string;
  /** The key that paid: a voucher's signer (the account or a delegate), an exact payment's payer. */
  signer: string;
  amount: bigint;
  fee: bigint;
  /** The (signer, provider) spend track's charged total after this call; an exact payment's own amount (as on its receipt). */
  cumulative: bigint;
  method: string;
  path: string;
  /** Null for an exact payment a crash left pending and the chain later showed settled. */
  upstreamStatus: number | null;
  latencyMs: number | null;
  createdAt: Date;
  /** The settlement batch that claimed a charge, or null while unsettled (always null for exact). */
  settlementBatch: string | null;
  /** An exact payment's settlement transaction; null for voucher charges. */
  transaction: string | null;
};

/**
 * Where a page of transactions starts: just after the one at (`createdAtMicros`, `requestId`) in
 * the order newest first, then by request id. Microseconds, because that is what Postgres stores
 * and a JavaScript `Date` (milliseconds) would skip or repeat calls sharing a millisecond. Request
 * ids are random UUIDs in both tables, so the pair orders charges and exact payments as one list.
 */
export type TransactionCursor = { createdAtMicros: bigint; requestId: string };

const cursorPattern = /^(0|[1-9][0-9]{0,15}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** The opaque text form of a cursor (base64url). */
export function encodeTransactionCursor({ createdAtMicros, requestId }: TransactionCursor): string {
  return Buffer.from(`${createdAtMicros}:${requestId}`).toString("base64url");
}

/** A cursor from its text form, or undefined when it is not one this API issued. */
export function decodeTransactionCursor(text: string): TransactionCursor | undefined {
  const match = cursorPattern.exec(Buffer.from(text, "base64url").toString("latin1"));
  if (!match) return undefined;
  return { createdAtMicros: BigInt(match[1] as string), requestId: match[2] as string };
}

export type ListTransactionsParameters = {
  account: string;
  limit: number;
  after?: TransactionCursor | undefined;
  serviceId?: string | undefined;
  /** Inclusive. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
  /**
   * Whether to include the account's wallet-level `exact` payments: only for the account itself,
   * not for a delegate, which spends from the escrow and never from the owner's wallet.
   */
  includeExact?: boolean | undefined;
};

/**
 * A page of an account's paid calls, newest first: its voucher charges and the `exact` payments it
 * settled (released, failed and pending ones moved no money and are left out). Keyset on
 * (created_at, request_id) over both, so that pages never skip or repeat a call, however many
 * arrive meanwhile. Each side takes its own first `limit + 1` through its index
 * (`charges_account_time`, `exact_payments_payer_time`) before the two are merged.
 *
 * @returns up to `limit` transactions, and the cursor of the next page when there is one.
 * @example
 * const { transactions, next } = await listTransactions(app.sql, { account, limit: 20, serviceId: "weather-api" });
 */
export async function listTransactions(
  sql: Sql,
  p: ListTransactionsParameters,
): Promise<{ transactions: TransactionRecord[]; next: TransactionCursor | undefined }> {
  const after = p.after;
  // Both tables name these columns alike, so one set of filters (built per use) serves both.
  const filters = () => sql`
      ${p.serviceId === undefined ? sql`` : sql`AND service_id = ${p.serviceId}`}
      ${p.from === undefined ? sql`` : sql`AND created_at >= ${p.from}`}
      ${p.to === undefined ? sql`` : sql`AND created_at < ${p.to}`}
      ${
        after === undefined
          ? sql``
          : sql`AND created_at <= ${microsToTimestamp(after.createdAtMicros)}::text::timestamptz
                AND (created_at < ${microsToTimestamp(after.createdAtMicros)}::text::timestamptz OR request_id > ${after.requestId}::uuid)`
      }`;
  const rows = await sql<
    {
      scheme: PaymentScheme;
      request_id: string;
      service_id: string;
      provider: string;
      signer: string;
      amount: string;
      fee: string;
      cumulative: string;
      method: string;
      path: string;
      upstream_status: number | null;
      latency_ms: number | null;
      created_at: Date;
      created_at_us: string;
      settlement_batch: string | null;
      tx_hash: string | null;
    }[]
  >`
    SELECT scheme, request_id, service_id, provider, signer, amount, fee, cumulative, method, path, upstream_status,
           latency_ms, created_at, (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us, settlement_batch, tx_hash
    FROM (
      (SELECT 'agenttab-voucher' AS scheme, request_id, service_id, provider, signer, amount, fee, cumulative, method, path,
              upstream_status, latency_ms, created_at, settlement_batch, NULL::text AS tx_hash
       FROM charges
       WHERE account = ${p.account} ${filters()}
       ORDER BY created_at DESC, request_id ASC
       LIMIT ${p.limit + 1})
      UNION ALL
      (SELECT 'exact' AS scheme, request_id, service_id, provider, payer AS signer, value AS amount, fee, value AS cumulative, method, path,
              upstream_status, latency_ms, created_at, NULL::text AS settlement_batch, tx_hash
       FROM exact_payments
       WHERE payer = ${p.account} AND status = 'settled' AND ${p.includeExact ?? true} ${filters()}
       ORDER BY created_at DESC, request_id ASC
       LIMIT ${p.limit + 1})
    ) AS paid
    ORDER BY created_at DESC, request_id ASC
    LIMIT ${p.limit + 1}`;
  const page = rows.slice(0, p.limit);
  const last = page.at(-1);
  return {
    transactions: page.map((row) => ({
      requestId: row.request_id,
      scheme: row.scheme,
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
      transaction: row.tx_hash,
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
 * An account's spending in [from, to): its voucher charges and its settled `exact` payments,
 * aggregated by Postgres exactly (numeric sums, integer division), overall and per service, the
 * biggest spend first.
 *
 * @example
 * const report = await spendingReport(app.sql, { account, from: new Date(Date.now() - 7 * 86_400_000), to: new Date() });
 */
export async function spendingReport(
  sql: Sql,
  { account, from, to, includeExact = true }: { account: string; from: Date; to: Date; /** As in {@link ListTransactionsParameters}. */ includeExact?: boolean | undefined },
): Promise<SpendingReport> {
  const rows = await sql<{ service_id: string | null; overall: number; total: string; calls: string; average: string }[]>`
    WITH paid AS (
      SELECT service_id, amount FROM charges WHERE account = ${account} AND created_at >= ${from} AND created_at < ${to}
      UNION ALL
      SELECT service_id, value FROM exact_payments
      WHERE payer = ${account} AND status = 'settled' AND ${includeExact} AND created_at >= ${from} AND created_at < ${to}
    )
    SELECT service_id, grouping(service_id) AS overall, coalesce(sum(amount), 0) AS total, count(*) AS calls,
           CASE WHEN count(*) = 0 THEN 0 ELSE div(sum(amount), count(*)) END AS average
    FROM paid
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
