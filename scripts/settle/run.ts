import type { Sql } from "postgres";
import { parseEventLogs } from "viem";
import type { Address, Hex, TransactionReceipt } from "viem";

import {
  discardBatch,
  failedCalls,
  ledgerNow,
  markBatch,
  nextSeq,
  openBatches,
  recentlyClosed,
  recordBatch,
  reopenAsMined,
  sentTxHashes,
  setMined,
  setSent,
  setTxHash,
  unmarkBatch,
  withSettlementLock,
} from "@agenttab/ledger/settlement";
import type { BatchPlan, BatchRecord, Entry } from "@agenttab/ledger/settlement";

import { agentTabEscrowAbi } from "@agenttab/sdk";
import { buildPlan, settleArgs } from "./build.ts";
import { batchSettled } from "./chain.ts";
import { batchFees } from "./fees.ts";
import type { SettleChain } from "./chain.ts";
import { planEntries } from "./plan.ts";
import { BatchRejectedError, simulateEntries, simulateInParts } from "./simulate.ts";
import type { BatchResult, Excluded, SettleLog, SettleProgress } from "./types.ts";
import { verifyEntries } from "./verify.ts";

/**
 * Points of a run where its caller may act, each awaited before the run goes on: a test throws
 * from one to make the run die there (and proves that the next run recovers), or changes the
 * chain between two steps.
 */
export type SettleHooks = {
  /** A batch is recorded as planned; nothing of it is sent. */
  afterRecord?: (plan: BatchPlan) => void | Promise<void>;
  /** A recorded batch is about to be sent. */
  beforeSend?: (plan: BatchPlan) => void | Promise<void>;
  /** Its transaction is sent; the hash is not recorded yet. */
  afterSend?: (plan: BatchPlan, txHash: Hex) => void | Promise<void>;
  /** The transaction is mined; the batch is not recorded as mined yet. */
  afterMined?: (plan: BatchPlan, receipt: TransactionReceipt) => void | Promise<void>;
  /** The batch is recorded as mined; its charges are not marked yet. */
  beforeMark?: (plan: BatchPlan) => void | Promise<void>;
};

export type SettleOptions = {
  /** The ledger's pool (`ledgerPool` of @agenttab/ledger). */
  sql: Sql;
  chain: SettleChain;
  /** Plan and print the batch without recording or sending anything. */
  dryRun?: boolean;
  /** Blocks to wait on top of the one that includes the batch (default 1). */
  confirmations?: number;
  /** Split into several batches when one would need more gas than this. */
  maxGas?: bigint;
  /** The most claims in one batch (default `MAX_CLAIMS_PER_BATCH`, kept under the per-transaction gas cap). */
  maxClaimsPerBatch?: number;
  log?: SettleLog;
  /** Only these agents' tracks (the watchtower: an account with a pending withdrawal). Default: all. */
  accounts?: readonly Address[];
  /** Called as the run advances, for a progress bar. */
  progress?: SettleProgress;
  /** Called at fixed points of the run (tests: crashes, chain changes between steps). */
  hooks?: SettleHooks;
};

export type SettleReport = {
  /** nothing: no unsettled charges; settled: all settled; partial: some entries left out (exit 2); dry-run: nothing sent. */
  status: "nothing" | "settled" | "partial" | "dry-run";
  batches: BatchResult[];
  excluded: Excluded[];
  /** What would be sent (dry run) or was sent. */
  plans: BatchPlan[];
};

/**
 * The weekly settlement: finishes any batch an earlier run left open (the chain decides whether it
 * was applied), then claims every agent's unsettled charges in one batch (or a few, under
 * `maxGas`), leaving out and reporting each entry that cannot be claimed, and marks the charges
 * settled once mined. Safe to rerun after a crash at any point: a batch is recorded before it is
 * sent, its id is fixed by its sequence number, and the contract ignores an id it has seen.
 *
 * @throws {SettlementBusyError} (of @agenttab/ledger/settlement) when another run holds the lock.
 */
export async function settle(options: SettleOptions): Promise<SettleReport> {
  const log: SettleLog = options.log ?? (() => {});
  return withSettlementLock(options.sql, () => settleLocked(options, log));
}

async function settleLocked(options: SettleOptions, log: SettleLog): Promise<SettleReport> {
  const { sql, chain } = options;
  const ctx = { ...options, log, confirmations: options.confirmations ?? 1 };
  const run: RunState = { batches: [], excluded: [], plans: [] };

  const open = await openBatches(sql, chain.chainId, chain.escrow);
  if (options.dryRun) {
    if (open.length > 0) log("open_batches", { count: open.length, note: "a real run finishes these first" });
  } else {
    await reconcileClosed(ctx);
    for (const [i, record] of open.entries()) {
      options.progress?.("recover", i, open.length);
      log("recovering", { batchId: record.plan.batchId, status: record.status, txHash: record.txHash });
      const outcome = await execute(ctx, record);
      // A recovered batch the chain refuses is discarded: its charges are in this run's plan.
      if ("result" in outcome) run.batches.push(outcome.result);
    }
  }

  await planAndSend(ctx, run, { accounts: options.accounts }, 0);

  const status = options.dryRun ? "dry-run" : run.excluded.length > 0 ? "partial" : run.batches.length > 0 ? "settled" : "nothing";
  return { status, batches: run.batches, excluded: run.excluded, plans: run.plans };
}

type Ctx = SettleOptions & { log: SettleLog; confirmations: number };
type RunState = { batches: BatchResult[]; excluded: Excluded[]; plans: BatchPlan[] };
type Track = { account: Address; signer: Address; provider: Address };

/** How often one run re-plans a batch the chain refused before it leaves the rest for the next run. */
const MAX_REPLANS = 3;
// Closed batches are re-checked against the chain this long: a late mining or a reorg heals.
const RECHECK_DAYS = 7;

/**
 * Plans the unsettled tracks (all, an account list, or exactly `tracks`) at the current block and
 * the fee rate in force, records each batch, and sends them. A batch whose gas estimate or
 * transaction fails (an entry turned bad between planning and inclusion) is discarded and its
 * tracks re-planned at once: the entries that fail now are dropped with their decoded reason, the
 * rest are sent in a new batch, so one bad entry never costs the others their week.
 */
async function planAndSend(ctx: Ctx, run: RunState, scope: { accounts?: readonly Address[] | undefined; tracks?: Track[] }, attempt: number): Promise<void> {
  const { sql, chain, log } = ctx;
  const failedBefore = await ledgerNow(sql);
  const accounts = scope.tracks ? [...new Set(scope.tracks.map((t) => t.account))] : scope.accounts;
  const planned = await planEntries(sql, chain, { accounts, progress: ctx.progress });
  const inScope = <T extends TrackLike>(list: T[]) => (scope.tracks ? list.filter((e) => scope.tracks!.some((t) => sameTrack(t, e))) : list);
  ctx.progress?.("verify", 0, 1);
  const verified = await verifyEntries(chain, inScope(planned.entries));
  ctx.progress?.("simulate", 0, 1);
  let simulated: Awaited<ReturnType<typeof simulateInParts>>;
  try {
    simulated = await simulateInParts(chain, verified.entries, ctx.maxClaimsPerBatch);
  } catch (error) {
    if (!(error instanceof BatchRejectedError)) throw error;
    // Nothing any single entry explains (a pause, say): nothing is sent, everything waits.
    const excluded = verified.entries.map((e) => ({ account: e.account, signer: e.signer, provider: e.provider, reason: "batch_rejected", detail: error.message }));
    for (const e of excluded) log("entry_excluded", { ...e });
    run.excluded.push(...inScope(planned.excluded), ...verified.excluded, ...excluded);
    return;
  }
  const excluded = [...inScope(planned.excluded), ...verified.excluded, ...simulated.excluded];
  for (const e of excluded) log("entry_excluded", { ...e });
  run.excluded.push(...excluded);

  const parts: Entry[][] = [];
  for (const part of simulated.parts) {
    parts.push(...(ctx.maxGas !== undefined ? await split(chain, part.entries, part.gas, ctx.maxGas, run.excluded, log) : [part.entries]));
  }
  const failed = await failedCalls(sql, failedBefore);
  const plans: BatchPlan[] = [];
  let seq = await nextSeq(sql);
  const reported = new Set<Address>();
  for (const entries of parts.filter((p) => p.length > 0)) {
    // Each provider's failed calls are reported once, by the first batch that pays it.
    const partFailed = new Map([...failed].filter(([provider]) => !reported.has(provider)));
    const plan = buildPlan({ chainId: chain.chainId, escrow: chain.escrow, seq: seq++, entries, failed: partFailed, failedBefore, feeBps: planned.feeBps });
    for (const p of plan.payouts) reported.add(p.provider);
    plans.push(plan);
  }
  for (const plan of plans) {
    log("batch_planned", { ...describe(plan), feeBps: plan.feeBps, estimatedGas: parts.length === 1 ? simulated.parts[0]?.gas : undefined, dryRun: ctx.dryRun === true, ...(attempt > 0 ? { replan: attempt } : {}) });
  }
  run.plans.push(...plans);
  if (ctx.dryRun) return;

  // All recorded before any is sent: a re-plan takes the next free sequence number.
  for (const plan of plans) {
    await recordBatch(sql, plan);
    log("batch_recorded", { batchId: plan.batchId, seq: plan.seq });
    await ctx.hooks?.afterRecord?.(plan);
  }
  for (const [i, plan] of plans.entries()) {
    ctx.progress?.("send", i, plans.length);
    await ctx.hooks?.beforeSend?.(plan);
    const outcome = await execute(ctx, { plan, status: "planned", txHash: null });
    if ("result" in outcome) {
      run.batches.push(outcome.result);
      continue;
    }
    const tracks = plan.entries.map((e) => ({ account: e.account, signer: e.signer, provider: e.provider }));
    if (attempt + 1 >= MAX_REPLANS) {
      const left = plan.entries.map((e) => ({ account: e.account, signer: e.signer, provider: e.provider, reason: "batch_refused", detail: outcome.refused }));
      for (const e of left) log("entry_excluded", { ...e });
      run.excluded.push(...left);
      continue;
    }
    log("batch_replanning", { batchId: plan.batchId, reason: outcome.refused, claims: tracks.length });
    await planAndSend(ctx, run, { tracks }, attempt + 1);
  }
  if (plans.length > 0) ctx.progress?.("send", plans.length, plans.length);
}

/** A track, or what an exclusion names of one (a track without a provider stands for all the signer's). */
type TrackLike = { account: Address; signer: Address; provider?: Address | undefined };

function sameTrack(a: Track, b: TrackLike): boolean {
  return (
    a.account.toLowerCase() === b.account.toLowerCase() &&
    a.signer.toLowerCase() === b.signer.toLowerCase() &&
    (b.provider === undefined || a.provider.toLowerCase() === b.provider.toLowerCase())
  );
}

/**
 * Heals closed batches from the chain, which is the truth for what was settled: a batch recorded
 * as discarded that the chain applied after all (a send still pending when its estimate failed
 * after a crash, say) is marked, with the transaction that emitted BatchSettled; a marked one the
 * chain no longer has (a reorg undid it) is unmarked, so its charges are planned again.
 */
async function reconcileClosed(ctx: Ctx): Promise<void> {
  const { sql, chain, log } = ctx;
  for (const record of await recentlyClosed(sql, chain.chainId, chain.escrow, RECHECK_DAYS)) {
    const { batchId } = record.plan;
    const applied = await batchSettled(chain, batchId);
    if (record.status === "discarded" && applied) {
      const tx = await settlementTransaction(chain, batchId, record.sentTxHashes ?? []);
      await reopenAsMined(sql, batchId, { txHash: tx?.hash ?? null, blockNumber: tx?.blockNumber ?? null });
      const marked = await markBatch(sql, record.plan, await batchFees(chain, record.plan, tx?.receipt));
      log("batch_healed", { batchId, txHash: tx?.hash, charges: marked, note: "recorded as discarded, applied on-chain after all" });
    } else if (record.status === "marked" && !applied) {
      const unmarked = await unmarkBatch(sql, batchId, "undone by a reorg: the chain no longer has it");
      log("batch_undone", { batchId, charges: unmarked, note: "the chain no longer has it (reorg); its charges are planned again" });
    }
  }
}

// How far back a batch's BatchSettled event is looked for when no recorded transaction holds it
// (a run that died between sending and recording the hash); many RPCs bound a log query's range.
const LOG_LOOKBACK_BLOCKS = 10_000n;

/**
 * Of the transactions sent for a batch, the one whose receipt holds its BatchSettled event; failing
 * that (its hash was never recorded), the one that emitted it in the last LOG_LOOKBACK_BLOCKS.
 */
async function settlementTransaction(
  chain: SettleChain,
  batchId: Hex,
  hashes: readonly Hex[],
): Promise<{ hash: Hex; blockNumber: bigint; gasUsed: bigint; receipt: TransactionReceipt } | undefined> {
  const found = (receipt: TransactionReceipt) => ({ hash: receipt.transactionHash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed, receipt });
  for (const hash of [...hashes].reverse()) {
    const receipt = await chain.publicClient.getTransactionReceipt({ hash }).catch(() => undefined);
    if (receipt && emitsBatchSettled(receipt, batchId)) return found(receipt);
  }
  try {
    const head = await chain.publicClient.getBlockNumber();
    const [event] = await chain.publicClient.getContractEvents({
      address: chain.escrow,
      abi: agentTabEscrowAbi,
      eventName: "BatchSettled",
      args: { batchId },
      fromBlock: head > LOG_LOOKBACK_BLOCKS ? head - LOG_LOOKBACK_BLOCKS : 0n,
      toBlock: head,
    });
    if (event?.transactionHash) return found(await chain.publicClient.getTransactionReceipt({ hash: event.transactionHash }));
  } catch {
    // An RPC that refuses the range: the batch is marked from its plan.
  }
  return undefined;
}

function emitsBatchSettled(receipt: TransactionReceipt, batchId: Hex): boolean {
  const logs = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
  return logs.some((l) => l.args.batchId.toLowerCase() === batchId.toLowerCase());
}

/**
 * Takes one recorded batch to 'marked': sends it unless the chain already applied it (or a sent
 * transaction is still pending), waits for the confirmations, and marks its charges, recording the
 * transaction that actually emitted BatchSettled. A batch the chain refuses is discarded (its
 * charges stay unsettled) and the reason returned.
 */
async function execute(ctx: Ctx, record: BatchRecord): Promise<{ result: BatchResult } | { refused: string }> {
  const { sql, chain, log } = ctx;
  const { plan } = record;
  let receipt: TransactionReceipt | undefined;
  let txHash: Hex | undefined = record.txHash ?? undefined;
  let recovered = false;
  const refuse = async (reason: string) => {
    await discardBatch(sql, plan.batchId, reason);
    log("batch_discarded", { batchId: plan.batchId, reason, txHash });
    return { refused: reason };
  };

  if (record.status === "mined" || (await batchSettled(chain, plan.batchId))) {
    recovered = true;
    if (txHash) receipt = await chain.publicClient.waitForTransactionReceipt({ hash: txHash, confirmations: ctx.confirmations });
  } else {
    if (txHash) {
      // Sent before: still pending, mined (and reverted, since the batch is not applied), or dropped.
      const pending = await chain.publicClient.getTransaction({ hash: txHash }).catch(() => undefined);
      if (pending) {
        receipt = await chain.publicClient.waitForTransactionReceipt({ hash: txHash, confirmations: ctx.confirmations });
        if (receipt.status !== "success" && !(await batchSettled(chain, plan.batchId))) return refuse(`transaction ${txHash} reverted`);
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
        return refuse((error as Error).message.split("\n")[0] ?? "simulation reverted");
      }
      txHash = await chain.walletClient.writeContract({
        address: chain.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settle",
        args,
        gas: (gas * 12n) / 10n,
        chain: chain.walletClient.chain,
      });
      await ctx.hooks?.afterSend?.(plan, txHash);
      await setSent(sql, plan.batchId, txHash);
      log("batch_sent", { batchId: plan.batchId, txHash });
      receipt = await chain.publicClient.waitForTransactionReceipt({ hash: txHash, confirmations: ctx.confirmations });
      await ctx.hooks?.afterMined?.(plan, receipt);
      if (receipt.status !== "success" && !(await batchSettled(chain, plan.batchId))) return refuse(`transaction ${txHash} reverted`);
    }
  }
  // The ledger records the transaction that emitted BatchSettled, not a re-sent copy that landed
  // after it as a no-op.
  if (!receipt || !emitsBatchSettled(receipt, plan.batchId)) {
    const actual = await settlementTransaction(chain, plan.batchId, await sentTxHashes(sql, plan.batchId));
    if (actual) {
      txHash = actual.hash;
      receipt = actual.receipt;
    }
  }
  if (record.status !== "mined") {
    await setMined(sql, plan.batchId, { txHash: txHash ?? null, gasUsed: receipt?.gasUsed ?? null, blockNumber: receipt?.blockNumber ?? null });
  } else if (txHash && txHash !== record.txHash) {
    await setTxHash(sql, plan.batchId, txHash);
  }
  log("batch_mined", { batchId: plan.batchId, txHash, gasUsed: receipt?.gasUsed, blockNumber: receipt?.blockNumber, recovered });
  await ctx.hooks?.beforeMark?.(plan);
  const fees = await batchFees(chain, plan, receipt);
  const marked = await markBatch(sql, plan, fees);
  log("batch_marked", { batchId: plan.batchId, charges: marked, ...(fees.feeBps !== plan.feeBps ? { feeBps: fees.feeBps } : {}) });
  // What the escrow actually credited (the plan's figures unless the rate changed before mining).
  const payouts = plan.payouts.map((p) => {
    const fee = fees.fees.get(p.provider.toLowerCase()) ?? p.fee;
    return { ...p, fee, amount: p.gross - fee };
  });
  return {
    result: {
      batchId: plan.batchId,
      txHash,
      gasUsed: receipt?.gasUsed,
      agents: new Set(plan.entries.map((e) => e.account)).size,
      claims: plan.entries.length,
      debited: plan.entries.reduce((sum, e) => sum + e.delta, 0n),
      fee: payouts.reduce((sum, p) => sum + p.fee, 0n),
      payouts,
      recovered,
    },
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
    payouts: plan.payouts.map((p) => ({ provider: p.provider, gross: p.gross, fee: p.fee, amount: p.amount, callsServed: p.callsServed, callsFailed: p.callsFailed })),
  };
}
