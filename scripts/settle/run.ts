import type { Sql } from "postgres";
import type { Address, Hex, TransactionReceipt } from "viem";

import { agentTabEscrowAbi } from "../../sdk/src/index.ts";
import { buildPlan, settleArgs } from "./build.ts";
import { batchSettled } from "./chain.ts";
import type { SettleChain } from "./chain.ts";
import { failedCalls, planEntries } from "./plan.ts";
import { simulateEntries } from "./simulate.ts";
import { discardBatch, markBatch, nextSeq, openBatches, recordBatch, setMined, setSent } from "./store.ts";
import type { BatchRecord } from "./store.ts";
import type { BatchPlan, BatchResult, Entry, Excluded, SettleLog, SettleProgress } from "./types.ts";
import { verifyEntries } from "./verify.ts";

/** Where a test can make a run die, to prove that the next run recovers. */
export type CrashPoint = "afterRecord" | "afterSend" | "afterMined" | "beforeMark";

export type SettleOptions = {
  /** postgres.js on the ledger's schema (search_path agenttab_api). */
  sql: Sql;
  chain: SettleChain;
  /** Plan and print the batch without recording or sending anything. */
  dryRun?: boolean;
  /** Blocks to wait on top of the one that includes the batch (default 1). */
  confirmations?: number;
  /** Split into several batches when one would need more gas than this. */
  maxGas?: bigint;
  log?: SettleLog;
  /** Only these agents' tracks (the watchtower: an account with a pending withdrawal). Default: all. */
  accounts?: readonly Address[];
  /** Called as the run advances, for a progress bar. */
  progress?: SettleProgress;
  /** Test hook: throw at this point, as a crash would. */
  crashAt?: CrashPoint;
};

export type SettleReport = {
  /** nothing: no unsettled charges; settled: all settled; partial: some entries left out; dry-run: nothing sent. */
  status: "nothing" | "settled" | "partial" | "dry-run";
  batches: BatchResult[];
  excluded: Excluded[];
  /** What would be sent (dry run) or was sent. */
  plans: BatchPlan[];
};

export class SimulatedCrash extends Error {
  override name = "SimulatedCrash";
  readonly point: CrashPoint;
  constructor(point: CrashPoint) {
    super(`simulated crash at ${point}`);
    this.point = point;
  }
}

export class SettlementBusyError extends Error {
  override name = "SettlementBusyError";
}

// Any constant: keeps two settlement runs on one ledger from overlapping.
const SETTLE_LOCK = 0x41_47_54_53;

/**
 * The weekly settlement: finishes any batch an earlier run left open (the chain decides whether it
 * was applied), then claims every agent's unsettled charges in one batch (or a few, under
 * `maxGas`), leaving out and reporting each entry that cannot be claimed, and marks the charges
 * settled once mined. Safe to rerun after a crash at any point: a batch is recorded before it is
 * sent, its id is fixed by its sequence number, and the contract ignores an id it has seen.
 */
export async function settle(options: SettleOptions): Promise<SettleReport> {
  const { sql } = options;
  const log: SettleLog = options.log ?? (() => {});
  const reserved = await sql.reserve();
  try {
    const [lock] = await reserved<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${SETTLE_LOCK}) AS ok`;
    if (!lock?.ok) throw new SettlementBusyError("another settlement run holds the lock");
    try {
      return await settleLocked(options, log);
    } finally {
      await reserved`SELECT pg_advisory_unlock(${SETTLE_LOCK})`;
    }
  } finally {
    reserved.release();
  }
}

async function settleLocked(options: SettleOptions, log: SettleLog): Promise<SettleReport> {
  const { sql, chain } = options;
  const ctx = { ...options, log, confirmations: options.confirmations ?? 1 };
  const batches: BatchResult[] = [];

  const open = await openBatches(sql, chain.chainId, chain.escrow);
  if (options.dryRun) {
    if (open.length > 0) log("open_batches", { count: open.length, note: "a real run finishes these first" });
  } else {
    for (const [i, record] of open.entries()) {
      options.progress?.("recover", i, open.length);
      log("recovering", { batchId: record.plan.batchId, status: record.status, txHash: record.txHash });
      const result = await execute(ctx, record);
      if (result) batches.push(result);
    }
  }

  const [now] = await sql<{ at: string }[]>`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`;
  const failedBefore = now?.at ?? new Date().toISOString();
  const planned = await planEntries(sql, chain, { accounts: options.accounts, progress: options.progress });
  options.progress?.("verify", 0, 1);
  const verified = await verifyEntries(chain, planned.entries);
  options.progress?.("simulate", 0, 1);
  const simulated = await simulateEntries(chain, verified.entries);
  const excluded = [...planned.excluded, ...verified.excluded, ...simulated.excluded];
  for (const e of excluded) log("entry_excluded", { ...e });

  const parts = options.maxGas !== undefined ? await split(chain, simulated.entries, simulated.gas, options.maxGas, excluded, log) : [simulated.entries];
  const failed = await failedCalls(sql, failedBefore);
  const plans: BatchPlan[] = [];
  let seq = await nextSeq(sql);
  const reported = new Set<Address>();
  for (const entries of parts.filter((p) => p.length > 0)) {
    // Each provider's failed calls are reported once, by the first batch that pays it.
    const partFailed = new Map([...failed].filter(([provider]) => !reported.has(provider)));
    const plan = buildPlan({ chainId: chain.chainId, escrow: chain.escrow, seq: seq++, entries, failed: partFailed, failedBefore });
    for (const p of plan.payouts) reported.add(p.provider);
    plans.push(plan);
  }
  for (const plan of plans) log("batch_planned", { ...describe(plan), estimatedGas: parts.length === 1 ? simulated.gas : undefined, dryRun: options.dryRun === true });

  if (!options.dryRun) {
    for (const [i, plan] of plans.entries()) {
      options.progress?.("send", i, plans.length);
      await recordBatch(sql, plan);
      log("batch_recorded", { batchId: plan.batchId, seq: plan.seq });
      crash(ctx, "afterRecord");
      const result = await execute(ctx, { plan, status: "planned", txHash: null });
      if (result) batches.push(result);
    }
  }

  if (!options.dryRun && plans.length > 0) options.progress?.("send", plans.length, plans.length);
  const status = options.dryRun ? "dry-run" : excluded.length > 0 ? "partial" : batches.length > 0 ? "settled" : "nothing";
  return { status, batches, excluded, plans };
}

type Ctx = SettleOptions & { log: SettleLog; confirmations: number };

function crash(ctx: Ctx, point: CrashPoint) {
  if (ctx.crashAt === point) throw new SimulatedCrash(point);
}

/**
 * Takes one recorded batch to 'marked': sends it unless the chain already applied it (or a sent
 * transaction is still pending), waits for the confirmations, and marks its charges. A batch the
 * chain refuses is discarded: its charges stay unsettled for the next plan. Returns undefined then.
 */
async function execute(ctx: Ctx, record: BatchRecord): Promise<BatchResult | undefined> {
  const { sql, chain, log } = ctx;
  const { plan } = record;
  let receipt: TransactionReceipt | undefined;
  let txHash: Hex | undefined = record.txHash ?? undefined;
  let recovered = false;

  if (record.status === "mined" || (await batchSettled(chain, plan.batchId))) {
    recovered = true;
    if (txHash) receipt = await chain.publicClient.waitForTransactionReceipt({ hash: txHash, confirmations: ctx.confirmations });
  } else {
    if (txHash) {
      // Sent before: still pending, mined (and reverted, since the batch is not applied), or dropped.
      const pending = await chain.publicClient.getTransaction({ hash: txHash }).catch(() => undefined);
      if (pending) {
        receipt = await chain.publicClient.waitForTransactionReceipt({ hash: txHash, confirmations: ctx.confirmations });
        if (receipt.status !== "success" && !(await batchSettled(chain, plan.batchId))) {
          await discardBatch(sql, plan.batchId, `transaction ${txHash} reverted`);
          log("batch_discarded", { batchId: plan.batchId, reason: "reverted", txHash });
          return undefined;
        }
      } else {
        txHash = undefined;
      }
    }
    if (!receipt) {
      const args = settleArgs(plan);
      let gas: bigint;
      try {
        gas = await chain.publicClient.estimateContractGas({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "settle", args, account: chain.walletClient.account });
      } catch (error) {
        const reason = (error as Error).message.split("\n")[0] ?? "simulation reverted";
        await discardBatch(sql, plan.batchId, reason);
        log("batch_discarded", { batchId: plan.batchId, reason });
        return undefined;
      }
      txHash = await chain.walletClient.writeContract({
        address: chain.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settle",
        args,
        gas: (gas * 12n) / 10n,
        chain: chain.walletClient.chain,
      });
      crash(ctx, "afterSend");
      await setSent(sql, plan.batchId, txHash);
      log("batch_sent", { batchId: plan.batchId, txHash });
      receipt = await chain.publicClient.waitForTransactionReceipt({ hash: txHash, confirmations: ctx.confirmations });
      crash(ctx, "afterMined");
      if (receipt.status !== "success" && !(await batchSettled(chain, plan.batchId))) {
        await discardBatch(sql, plan.batchId, `transaction ${txHash} reverted`);
        log("batch_discarded", { batchId: plan.batchId, reason: "reverted", txHash });
        return undefined;
      }
    }
  }
  if (record.status !== "mined") {
    await setMined(sql, plan.batchId, { txHash: txHash ?? null, gasUsed: receipt?.gasUsed ?? null, blockNumber: receipt?.blockNumber ?? null });
  }
  log("batch_mined", { batchId: plan.batchId, txHash, gasUsed: receipt?.gasUsed, blockNumber: receipt?.blockNumber, recovered });
  crash(ctx, "beforeMark");
  const marked = await markBatch(sql, plan);
  log("batch_marked", { batchId: plan.batchId, charges: marked });
  return {
    batchId: plan.batchId,
    txHash,
    gasUsed: receipt?.gasUsed,
    agents: new Set(plan.entries.map((e) => e.account)).size,
    claims: plan.entries.length,
    debited: plan.entries.reduce((sum, e) => sum + e.delta, 0n),
    fee: plan.fee,
    payouts: plan.payouts,
    recovered,
  };
}

/** Halves the entries until each part's gas estimate fits `maxGas` (a single claim always goes alone). */
async function split(chain: SettleChain, entries: Entry[], gas: bigint, maxGas: bigint, excluded: Excluded[], log: SettleLog): Promise<Entry[][]> {
  if (gas <= maxGas || entries.length <= 1) return [entries];
  log("batch_split", { claims: entries.length, estimatedGas: gas, maxGas });
  const mid = Math.ceil(entries.length / 2);
  const out: Entry[][] = [];
  for (const half of [entries.slice(0, mid), entries.slice(mid)]) {
    const s = await simulateEntries(chain, half);
    excluded.push(...s.excluded);
    out.push(...(await split(chain, s.entries, s.gas, maxGas, excluded, log)));
  }
  return out;
}

/** A plan's figures, for logs. */
export function describe(plan: BatchPlan) {
  return {
    batchId: plan.batchId,
    seq: plan.seq,
    agents: new Set(plan.entries.map((e) => e.account)).size,
    claims: plan.entries.length,
    charges: plan.entries.reduce((n, e) => n + e.chargeCount, 0),
    debited: plan.entries.reduce((sum, e) => sum + e.delta, 0n),
    fee: plan.fee,
    payouts: plan.payouts.map((p) => ({ provider: p.provider, amount: p.amount, callsServed: p.callsServed, callsFailed: p.callsFailed })),
  };
}
