import type { FastifyInstance } from "fastify";
import type { Sql } from "postgres";
import type { Address, Hex, PublicClient } from "viem";

import { agentTabEscrowAbi, usdcAbi } from "@agenttab/sdk";

// RPCs bound log ranges: the event is searched for in chunks of this many blocks.
const LOG_CHUNK_BLOCKS = 10_000n;
// Clock skew allowed between PostgreSQL's now() and the chain's block timestamps.
const CLOCK_SKEW_SECONDS = 600n;

/** What {@link reconcileExactPayments} did. */
export type ReconcileExactPaymentsReturnType = { settled: number; released: number; failed: number };

/**
 * Closes the exact payments a crash left `pending` (recorded, then the process died before their
 * outcome was written), from the chain: an authorization USDC marks used with an
 * `ExactPaymentSettled` event is `settled` (with its transaction); used without one (submitted
 * straight to USDC by someone else) is `failed`; unused and expired is `released`. Unused and still
 * valid rows are left alone: nobody settles them, and they are released once expired. Only rows
 * untouched for `olderThanMs` are looked at, so that live calls are never raced.
 *
 * The event is searched for from the row's creation on (in chunks of {@link LOG_CHUNK_BLOCKS}):
 * block timestamps strictly increase, so the block at a time `t` is at least
 * `head.number - (head.timestamp - t)`, whatever the block time. A row pending for days costs a few
 * more log queries, once.
 *
 * @example
 * const { settled, released } = await reconcileExactPayments(app, { publicClient, olderThanMs: 150_000 });
 */
export async function reconcileExactPayments(
  app: FastifyInstance,
  { publicClient, olderThanMs, limit = 100 }: { publicClient: PublicClient; olderThanMs: number; limit?: number },
): Promise<ReconcileExactPaymentsReturnType> {
  const { deployment } = app.config;
  const rows = await app.sql<{ request_id: string; payer: Address; nonce: Hex; valid_before: string; created: string }[]>`
    SELECT request_id, payer, nonce, valid_before, floor(extract(epoch FROM created_at))::bigint::text AS created FROM exact_payments
    WHERE status = 'pending' AND updated_at < now() - make_interval(secs => ${olderThanMs / 1000})
    ORDER BY created_at LIMIT ${limit}`;
  const done: ReconcileExactPaymentsReturnType = { settled: 0, released: 0, failed: 0 };
  if (rows.length === 0) return done;
  const head = await publicClient.getBlock({ blockTag: "latest" });
  const startBlock = BigInt(deployment.startBlock);
  /** The row's ExactPaymentSettled event, searched for from a block no later than the row's creation. */
  const findSettlement = async (row: (typeof rows)[number]) => {
    const blocksBack = head.timestamp - BigInt(row.created) + CLOCK_SKEW_SECONDS;
    let fromBlock = head.number - blocksBack > startBlock ? head.number - blocksBack : startBlock;
    while (fromBlock <= head.number) {
      const toBlock = fromBlock + LOG_CHUNK_BLOCKS - 1n < head.number ? fromBlock + LOG_CHUNK_BLOCKS - 1n : head.number;
      const [event] = await publicClient.getContractEvents({
        address: deployment.escrow,
        abi: agentTabEscrowAbi,
        eventName: "ExactPaymentSettled",
        args: { from: row.payer, nonce: row.nonce },
        fromBlock,
        toBlock,
      });
      if (event) return event;
      fromBlock = toBlock + 1n;
    }
    return undefined;
  };
  for (const row of rows) {
    const used = await publicClient.readContract({ address: deployment.usdc, abi: usdcAbi, functionName: "authorizationState", args: [row.payer, row.nonce] });
    let outcome: { status: "settled" | "released" | "failed"; txHash: Hex | null; blockNumber: bigint | null; error: string };
    if (used) {
      const event = await findSettlement(row);
      outcome = event
        ? { status: "settled", txHash: event.transactionHash, blockNumber: event.blockNumber, error: "reconciled from the chain" }
        : { status: "failed", txHash: null, blockNumber: null, error: "the authorization was used outside settleExactPayment" };
    } else if (BigInt(row.valid_before) <= head.timestamp) {
      outcome = { status: "released", txHash: null, blockNumber: null, error: "abandoned: never settled, now expired" };
    } else {
      continue;
    }
    const updated = await app.sql`
      UPDATE exact_payments SET status = ${outcome.status}, tx_hash = ${outcome.txHash}, block_number = ${outcome.blockNumber?.toString() ?? null},
        error = ${outcome.error}, updated_at = now()
      WHERE request_id = ${row.request_id} AND status = 'pending'`;
    if (updated.count === 1) done[outcome.status] += 1;
  }
  return done;
}

/**
 * Deletes exact payments that moved no money (`released`, `failed`) closed more than `olderThanMs`
 * ago whose authorization has expired, at most `limit` a run: what refused and failed attempts leave
 * behind stays bounded. Safe against replays: an expired authorization is refused before its record
 * is looked for (and by USDC), and `settled` rows, which record authorizations USDC has used, are
 * never deleted (nor `pending` ones, which the reconciler closes). Safe to run on every instance at once.
 *
 * @returns how many rows were deleted.
 * @example
 * await pruneExactPayments(app.sql, { olderThanMs: 86_400_000 });
 */
export async function pruneExactPayments(sql: Sql, { olderThanMs, limit = 1_000 }: { olderThanMs: number; limit?: number }): Promise<number> {
  const deleted = await sql`
    DELETE FROM exact_payments WHERE request_id IN (
      SELECT request_id FROM exact_payments
      WHERE status IN ('released', 'failed') AND updated_at < now() - make_interval(secs => ${olderThanMs / 1000})
        AND valid_before < floor(extract(epoch FROM now()))
      ORDER BY updated_at LIMIT ${limit})`;
  return deleted.count;
}

// How long a row that moved no money (released, failed) is kept, for the record, once closed.
const CLOSED_ROW_RETENTION_MS = 86_400_000;

/**
 * Runs {@link reconcileExactPayments} and {@link pruneExactPayments} every minute on this instance
 * (never two rounds at once), until the app closes: rows a crash left pending are closed from the
 * chain once no live call can still own them (older than the upstream timeout plus two minutes),
 * and rows that moved no money are dropped once their authorization has expired and a day has passed.
 *
 * @example
 * scheduleExactReconciliation(app, { publicClient });
 */
export function scheduleExactReconciliation(app: FastifyInstance, { publicClient }: { publicClient: PublicClient }): void {
  let reconciling = false;
  const reconciler = setInterval(() => {
    if (reconciling) return;
    reconciling = true;
    const reconciled = reconcileExactPayments(app, { publicClient, olderThanMs: app.config.upstreamTimeoutMs + 120_000 })
      .then((done) => {
        if (done.settled + done.released + done.failed > 0) app.log.warn(done, "reconciled pending exact payments");
      })
      .catch((error: unknown) => app.log.error({ err: error }, "exact payment reconciliation failed"));
    const pruned = pruneExactPayments(app.sql, { olderThanMs: CLOSED_ROW_RETENTION_MS }).catch((error: unknown) => app.log.error({ err: error }, "exact payment pruning failed"));
    void Promise.all([reconciled, pruned]).finally(() => {
      reconciling = false;
    });
  }, 60_000);
  reconciler.unref();
  app.addHook("onClose", async () => clearInterval(reconciler));
}
