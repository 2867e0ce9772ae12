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

/** The transaction that actually emitted a mined batch's BatchSettled, when it is not the one recorded. */
export async function setTxHash(sql: Sql, batchId: Hex, txHash: Hex): Promise<void> {
  await sql`UPDATE settlement_batches SET tx_hash = ${txHash}, updated_at = now() WHERE batch_id = ${batchId}`;
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

/** What the escrow took as fee from each provider of a batch (lowercase address → fee), and the rate it took it at. */
export type BatchFees = { fees: Map<string, bigint>; feeBps: number };

/**
 * Links the charges a mined batch covers to it (each track's unsettled charges up to the claimed
 * cumulative), and the counted failed calls it reported, then marks the batch — in one transaction,
 * so a crash leaves either all or nothing marked. Each provider's charges get fees that add up to
 * exactly the fee the escrow took from that provider (`fees`, default the plan's): the floor of each
 * charge's amount at the rate, then what is left 1 unit each to charges in request_id order. Uncounted
 * failures are never reported and stay unlinked, outside the index of failures awaiting a report.
 * Returns how many charges were marked.
 */
export async function markBatch(sql: Sql, plan: BatchPlan, actual?: BatchFees): Promise<number> {
  const { fees, feeBps } = actual ?? { fees: new Map(plan.payouts.map((p) => [p.provider.toLowerCase(), p.fee])), feeBps: plan.feeBps };
  return sql.begin(async (tx) => {
    const [batch] = await tx<{ status: BatchStatus }[]>`SELECT status FROM settlement_batches WHERE batch_id = ${plan.batchId} FOR UPDATE`;
    if (!batch || batch.status === "marked" || batch.status === "discarded") return 0;
    let marked = 0;
    for (const e of plan.entries) {
      const rows = await tx`
        UPDATE charges SET settlement_batch = ${plan.batchId}
        WHERE account = ${e.account.toLowerCase()} AND signer = ${e.signer.toLowerCase()} AND provider = ${e.provider.toLowerCase()}
          AND settlement_batch IS NULL AND cumulative <= ${e.cumulative.toString()}`;
      marked += rows.count;
    }
    for (const p of plan.payouts) await spreadFee(tx as unknown as Sql, plan.batchId, p.provider.toLowerCase(), fees.get(p.provider.toLowerCase()) ?? 0n, feeBps);
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

/**
 * Sets the fees of one provider's charges in a batch so that they add up to `fee`: floor(amount ·
 * feeBps / 10 000) each, then 1 unit more on the first charges (by request_id) that can take it.
 * The escrow's fee is the floor of the same rate on the charges' sum, so what is left is below
 * the number of charges with a fractional fee; anything else means the ledger and the chain
 * disagree, and nothing is guessed.
 */
async function spreadFee(sql: Sql, batchId: Hex, provider: string, fee: bigint, feeBps: number): Promise<void> {
  const [sums] = await sql<{ base: string; open: number }[]>`
    SELECT coalesce(sum(div(amount * ${feeBps}, 10000)), 0)::text AS base,
           (count(*) FILTER (WHERE div(amount * ${feeBps}, 10000) < amount))::int AS open
    FROM charges WHERE settlement_batch = ${batchId} AND provider = ${provider}`;
  const left = fee - BigInt(sums?.base ?? "0");
  if (left < 0n || left > BigInt(sums?.open ?? 0)) {
    throw new Error(`batch ${batchId}: the escrow took a fee of ${fee} from ${provider}, which its charges' fees at ${feeBps} bps (${sums?.base}) cannot add up to`);
  }
  await sql`
    UPDATE charges c SET fee = f.base + CASE WHEN f.open AND f.rank <= ${left.toString()} THEN 1 ELSE 0 END
    FROM (
      SELECT request_id, div(amount * ${feeBps}, 10000) AS base, div(amount * ${feeBps}, 10000) < amount AS open,
             row_number() OVER (PARTITION BY div(amount * ${feeBps}, 10000) < amount ORDER BY request_id) AS rank
      FROM charges WHERE settlement_batch = ${batchId} AND provider = ${provider}
    ) f
    WHERE c.request_id = f.request_id`;
}
