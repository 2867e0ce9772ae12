/**
 * One weekly settlement's planning, in a process of its own so that its peak memory is its own
 * (bench/settlePlan.ts forks one per ledger size): receives `{ type: "plan", … }` over IPC, runs
 * the settlement's planning steps as `npm run settle` does (scripts/settle/run.ts) without
 * recording or sending anything, and answers `{ type: "planned", … }` with each step's wall time,
 * the JSON-RPC calls and SQL statements it made, and the process's memory.
 *
 * Steps: `planEntries` (the unsettled tracks, a `claimedOf` per track, the unsettled charges per
 * track), `verifyEntries` (each voucher's ECDSA signature off-chain, a balance per account),
 * `partsOf` + `buildPlan` + `settleArgs` + `planToJson` for every part (the batches as recorded
 * and as sent), and `simulateInParts` for the first `simulateParts` parts (a `settle` gas estimate
 * each).
 */
import { performance } from "node:perf_hooks";

import postgres from "postgres";
import { createPublicClient, createWalletClient, custom, http } from "viem";
import type { Address, Hex, PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { buildPlan, settleArgs } from "../../scripts/settle/build.ts";
import type { SettleChain } from "../../scripts/settle/chain.ts";
import { failedCalls, planToJson } from "@agenttab/ledger/settlement";
import { planEntries } from "../../scripts/settle/plan.ts";
import { partsOf, simulateInParts } from "../../scripts/settle/simulate.ts";
import { verifyEntries } from "../../scripts/settle/verify.ts";

export type PlanRequest = {
  type: "plan";
  databaseUrl: string;
  schema: string;
  rpcUrl: string;
  chainId: number;
  escrow: Address;
  settlerKey: Hex;
  /** How many of the batches to simulate (a gas estimate of up to 300 claims each). */
  simulateParts: number;
};

/** One step's cost: wall time, JSON-RPC calls by method (and the time spent waiting on them), SQL statements sent. */
export type StepCost = { ms: number; rpcCalls: number; rpcByMethod: Record<string, number>; rpcMs: number; sqlStatements: number };

export type PlanResult = {
  type: "planned";
  tracks: number;
  entries: number;
  excluded: Record<string, number>;
  parts: number;
  claimsPerPart: number[];
  planJsonBytes: number;
  claimsCalldataBytes: number;
  simulatedParts: { claims: number; gas: string }[];
  steps: { planEntries: StepCost; verifyEntries: StepCost; build: StepCost; simulate: StepCost };
  memory: { baselineRssMiB: number; peakRssMiB: number; sampledPeakRssMiB: number; peakHeapUsedMiB: number; heapUsedAfterPlanMiB: number };
};

const MiB = 1024 * 1024;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

async function run(request: PlanRequest): Promise<PlanResult> {
  let sqlStatements = 0;
  const sql = postgres(request.databaseUrl, {
    max: 2,
    connection: { search_path: request.schema, application_name: "bench-settle-plan" },
    onnotice: () => {},
    debug: () => void sqlStatements++,
  });
  // The settlement's own client (scripts/settle.ts: plain HTTP, no batching), counted call by call.
  const rpcByMethod: Record<string, number> = {};
  let rpcMs = 0;
  const inner = createPublicClient({ chain: hardhat, transport: http(request.rpcUrl) });
  const transport = custom({
    async request({ method, params }: { method: string; params?: unknown }) {
      rpcByMethod[method] = (rpcByMethod[method] ?? 0) + 1;
      const started = performance.now();
      try {
        return await inner.request({ method, params } as never);
      } finally {
        rpcMs += performance.now() - started;
      }
    },
  });
  const publicClient = createPublicClient({ chain: hardhat, transport }) as PublicClient;
  const walletClient = createWalletClient({ account: privateKeyToAccount(request.settlerKey), chain: hardhat, transport });
  const chain: SettleChain = { publicClient, walletClient, chainId: request.chainId, escrow: request.escrow };

  // Connect and load every module before the baseline, so that it is what the process holds before any work.
  await sql`SELECT 1`;
  await publicClient.getChainId();
  const baselineRss = process.memoryUsage.rss();
  let sampledPeakRss = baselineRss;
  let peakHeapUsed = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    sampledPeakRss = Math.max(sampledPeakRss, m.rss);
    peakHeapUsed = Math.max(peakHeapUsed, m.heapUsed);
  }, 10);

  const step = async <T>(work: () => Promise<T>): Promise<{ value: T; cost: StepCost }> => {
    const before = { rpc: { ...rpcByMethod }, rpcMs, sqlStatements, at: performance.now() };
    const value = await work();
    const byMethod = Object.fromEntries(
      Object.entries(rpcByMethod)
        .map(([m, n]) => [m, n - (before.rpc[m] ?? 0)] as const)
        .filter(([, n]) => n > 0),
    );
    const cost: StepCost = {
      ms: round(performance.now() - before.at),
      rpcCalls: Object.values(byMethod).reduce((sum, n) => sum + n, 0),
      rpcByMethod: byMethod,
      rpcMs: round(rpcMs - before.rpcMs),
      sqlStatements: sqlStatements - before.sqlStatements,
    };
    return { value, cost };
  };

  let tracks = 0;
  const planned = await step(() => planEntries(sql, chain, { progress: (_step, _done, total) => void (tracks = total) }));
  const heapUsedAfterPlan = process.memoryUsage().heapUsed;
  const verified = await step(() => verifyEntries(chain, planned.value.entries));
  const built = await step(async () => {
    const [now] = await sql<{ at: string }[]>`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`;
    const failedBefore = now?.at ?? new Date().toISOString();
    const failed = await failedCalls(sql, failedBefore);
    const parts = partsOf(verified.value.entries);
    let planJsonBytes = 0;
    let claimsCalldataBytes = 0;
    for (const [i, entries] of parts.entries()) {
      const plan = buildPlan({ chainId: chain.chainId, escrow: chain.escrow, seq: BigInt(i + 1), entries, failed, failedBefore, feeBps: planned.value.feeBps });
      const [, claims] = settleArgs(plan);
      claimsCalldataBytes += (claims.length - 2) / 2;
      planJsonBytes += JSON.stringify(planToJson(plan)).length;
    }
    return { parts, planJsonBytes, claimsCalldataBytes };
  });
  const firstParts = built.value.parts.slice(0, request.simulateParts);
  const simulated = await step(() => simulateInParts(chain, firstParts.flat()));
  clearInterval(sampler);

  const excluded: Record<string, number> = {};
  for (const e of [...planned.value.excluded, ...verified.value.excluded, ...simulated.value.excluded]) excluded[e.reason] = (excluded[e.reason] ?? 0) + 1;
  const result: PlanResult = {
    type: "planned",
    tracks,
    entries: planned.value.entries.length,
    excluded,
    parts: built.value.parts.length,
    claimsPerPart: [...new Set(built.value.parts.map((p) => p.length))],
    planJsonBytes: built.value.planJsonBytes,
    claimsCalldataBytes: built.value.claimsCalldataBytes,
    simulatedParts: simulated.value.parts.map((p) => ({ claims: p.entries.length, gas: p.gas.toString() })),
    steps: { planEntries: planned.cost, verifyEntries: verified.cost, build: built.cost, simulate: simulated.cost },
    memory: {
      baselineRssMiB: round(baselineRss / MiB),
      // The kernel's high-water mark of the process (KiB), sampling aside.
      peakRssMiB: round((process.resourceUsage().maxRSS * 1024) / MiB),
      sampledPeakRssMiB: round(sampledPeakRss / MiB),
      peakHeapUsedMiB: round(peakHeapUsed / MiB),
      heapUsedAfterPlanMiB: round(heapUsedAfterPlan / MiB),
    },
  };
  await sql.end({ timeout: 5 });
  return result;
}

process.once("message", (message: PlanRequest) => {
  run(message).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => process.send?.({ type: "error", message: String((error as Error)?.stack ?? error) }, () => process.exit(1)),
  );
});
process.send?.({ type: "ready" });
