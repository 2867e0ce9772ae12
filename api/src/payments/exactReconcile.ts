import type { FastifyInstance } from "fastify";
import type { Address, Hex, PublicClient } from "viem";

import { agentTabEscrowAbi, mockUsdcAbi } from "@agenttab/sdk";

// How far back a crashed settlement's event is looked for (RPCs bound log ranges).
const LOG_LOOKBACK_BLOCKS = 10_000n;

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
 * @example
 * const { settled, released } = await reconcileExactPayments(app, { publicClient, olderThanMs: 150_000 });
 */
export async function reconcileExactPayments(
  app: FastifyInstance,
  { publicClient, olderThanMs, limit = 100 }: { publicClient: PublicClient; olderThanMs: number; limit?: number },
): Promise<ReconcileExactPaymentsReturnType> {
  const { deployment } = app.config;
  const rows = await app.sql<{ request_id: string; payer: Address; nonce: Hex; valid_before: string }[]>`
    SELECT request_id, payer, nonce, valid_before FROM exact_payments
    WHERE status = 'pending' AND updated_at < now() - make_interval(secs => ${olderThanMs / 1000})
    ORDER BY created_at LIMIT ${limit}`;
  const done: ReconcileExactPaymentsReturnType = { settled: 0, released: 0, failed: 0 };
  if (rows.length === 0) return done;
  const head = await publicClient.getBlock({ blockTag: "latest" });
  const fromBlock = head.number > LOG_LOOKBACK_BLOCKS + BigInt(deployment.startBlock) ? head.number - LOG_LOOKBACK_BLOCKS : BigInt(deployment.startBlock);
  for (const row of rows) {
    const used = await publicClient.readContract({ address: deployment.usdc, abi: mockUsdcAbi, functionName: "authorizationState", args: [row.payer, row.nonce] });
    let outcome: { status: "settled" | "released" | "failed"; txHash: Hex | null; blockNumber: bigint | null; error: string };
    if (used) {
      const [event] = await publicClient.getContractEvents({
        address: deployment.escrow,
        abi: agentTabEscrowAbi,
        eventName: "ExactPaymentSettled",
        args: { from: row.payer, nonce: row.nonce },
        fromBlock,
      });
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
