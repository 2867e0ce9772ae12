import type { Sql } from "postgres";
import type { Hex } from "viem";

import { planFromJson, planToJson } from "./codec.ts";
import type { BatchPlan } from "./types.ts";

export type BatchStatus = "planned" | "sent" | "mined" | "marked" | "discarded";
export type BatchRecord = { plan: BatchPlan; status: BatchStatus; txHash: Hex | null; sentTxHashes?: Hex[] };

/** The next batch sequence number of this ledger (never reused, discarded batches included). */
export async function nextSeq(sql: Sql): Promise<bigint> {
  const [row] = await sql<{ next: string }[]>`SELECT (coalesce(max(seq), 0) + 1)::text AS next FROM settlement_batches`;
  return BigInt(row?.next ?? 1);
}

/** Records a batch as planned, before anything is sent. */
export async function recordBatch(sql: Sql, plan: BatchPlan): Promise<void> {
  await sql`
    INSERT INTO settlement_batches (batch_id, seq, chain_id, escrow, status, plan)
    VALUES (${plan.batchId}, ${plan.seq.toString()}, ${plan.chainId}, ${plan.escrow.toLowerCase()}, 'planned', ${sql.json(planToJson(plan) as never)})`;
}

/** Batches not yet marked nor discarded, oldest first. */
export async function openBatches(sql: Sql, chainId: number, escrow: string): Promise<BatchRecord[]> {
  const rows = await sql<{ plan: unknown; status: BatchStatus; tx_hash: string | null }[]>`
    SELECT plan, status, tx_hash FROM settlement_batches
    WHERE status NOT IN ('marked', 'discarded') AND chain_id = ${chainId} AND escrow = ${escrow.toLowerCase()}
    ORDER BY seq`;
  return rows.map((r) => ({ plan: planFromJson(r.plan), status: r.status, txHash: r.tx_hash as Hex | null }));
}

export async function setSent(sql: Sql, batchId: Hex, txHash: Hex): Promise<void> {
  await sql`
    UPDATE settlement_batches SET status = 'sent', tx_hash = ${txHash}, sent_tx_hashes = array_append(sent_tx_hashes, ${txHash}), updated_at = now()
    WHERE batch_id = ${batchId} AND status IN ('planned', 'sent')`;
}

/** Every transaction sent for a batch, oldest first. */
export async function sentTxHashes(sql: Sql, batchId: Hex): Promise<Hex[]> {
  const [row] = await sql<{ hashes: string[] }[]>`SELECT sent_tx_hashes AS hashes FROM settlement_batches WHERE batch_id = ${batchId}`;
  return (row?.hashes ?? []) as Hex[];
}

/** Marked or discarded batches closed within the last `days`, for re-checking against the chain. */
export async function recentlyClosed(sql: Sql, chainId: number, escrow: string, days: number): Promise<BatchRecord[]> {
  const rows = await sql<{ plan: unknown; status: BatchStatus; tx_hash: string | null; sent_tx_hashes: string[] }[]>`
    SELECT plan, status, tx_hash, sent_tx_hashes FROM settlement_batches
    WHERE status IN ('marked', 'discarded') AND chain_id = ${chainId} AND escrow = ${escrow.toLowerCase()}
      AND updated_at > now() - make_interval(days => ${days})
    ORDER BY seq`;
  return rows.map((r) => ({ plan: planFromJson(r.plan), status: r.status, txHash: r.tx_hash as Hex | null, sentTxHashes: r.sent_tx_hashes as Hex[] }));
}

/** A discarded batch the chain applied after all: mined, with the transaction that did it. */
export async function reopenAsMined(sql: Sql, batchId: Hex, r: { txHash: Hex | null; blockNumber: bigint | null }): Promise<void> {
  await sql`
    UPDATE settlement_batches SET status = 'mined', tx_hash = coalesce(${r.txHash}, tx_hash), block_number = ${r.blockNumber?.toString() ?? null},
      error = NULL, updated_at = now()
    WHERE batch_id = ${batchId} AND status = 'discarded'`;
}

/**
 * A marked batch the chain no longer has (a reorg undid it): its charges and reported failures are
 * unlinked, in one transaction, so the next plan claims them again. Returns how many charges.
 */
export async function unmarkBatch(sql: Sql, batchId: Hex, reason: string): Promise<number> {
  return sql.begin(async (tx) => {
    const [batch] = await tx<{ status: BatchStatus }[]>`SELECT status FROM settlement_batches WHERE batch_id = ${batchId} FOR UPDATE`;
    if (batch?.status !== "marked") return 0;
    const charges = await tx`UPDATE charges SET settlement_batch = NULL WHERE settlement_batch = ${batchId}`;
    await tx`UPDATE call_outcomes SET settlement_batch = NULL WHERE settlement_batch = ${batchId}`;
    await tx`UPDATE settlement_batches SET status = 'discarded', error = ${reason}, updated_at = now() WHERE batch_id = ${batchId}`;
    return charges.count;
  }) as Promise<number>;
}

export async function setMined(sql: Sql, batchId: Hex, r: { txHash: Hex | null; gasUsed: bigint | null; blockNumber: bigint | null }): Promise<void> {
  await sql`
    UPDATE settlement_batches SET status = 'mined', tx_hash = coalesce(${r.txHash}, tx_hash), gas_used = ${r.gasUsed?.toString() ?? null},
      block_number = ${r.blockNumber?.toString() ?? null}, updated_at = now()
    WHERE batch_id = ${batchId} AND status IN ('planned', 'sent')`;
}

export async function discardBatch(sql: Sql, batchId: Hex, error: string): Promise<void> {
  await sql`UPDATE settlement_batches SET status = 'discarded', error = ${error}, updated_at = now() WHERE batch_id = ${batchId} AND status <> 'marked'`;
}

/**
 * Links the charges a mined batch covers to it (each track's unsettled charges up to the claimed
 * cumulative), and the counted failed calls it reported, then marks the batch — in one transaction,
 * so a crash leaves either all or nothing marked. Uncounted failures are never reported and stay
 * unlinked, outside the index of failures awaiting a report. Returns how many charges were marked.
 */
export async function markBatch(sql: Sql, plan: BatchPlan): Promise<number> {
  return sql.begin(async (tx) => {
    const [batch] = await tx<{ status: BatchStatus }[]>`SELECT status FROM settlement_batches WHERE batch_id = ${plan.batchId} FOR UPDATE`;
    if (!batch || batch.status === "marked" || batch.status === "discarded") return 0;
    let marked = 0;
    for (const e of plan.entries) {
      // The fee each charge actually paid: computed at the rate in force when the batch was planned.
      const fee = plan.feeBps === undefined ? tx`fee` : tx`div(amount * ${plan.feeBps}, 10000)`;
      const rows = await tx`
        UPDATE charges SET settlement_batch = ${plan.batchId}, fee = ${fee}
        WHERE account = ${e.account.toLowerCase()} AND signer = ${e.signer.toLowerCase()}
          AND settlement_batch IS NULL AND cumulative <= ${e.cumulative.toString()}`;
      marked += rows.count;
    }
    const reporting = plan.payouts.filter((p) => p.callsFailed > 0).map((p) => p.provider.toLowerCase());
    if (reporting.length > 0) {
      await tx`
        UPDATE call_outcomes o SET settlement_batch = ${plan.batchId}
        FROM services s
        WHERE s.id = o.service_id AND s.provider IN ${tx(reporting)}
          AND o.ok = false AND o.counted AND o.settlement_batch IS NULL AND o.created_at <= ${plan.failedBefore}`;
    }
    await tx`UPDATE settlement_batches SET status = 'marked', updated_at = now() WHERE batch_id = ${plan.batchId}`;
    return marked;
  }) as Promise<number>;
}
