/**
 * How soon the chain's events show in the indexer's views (`npm run bench:indexer`), on the real
 * stack the tests use: embedded PostgreSQL, a Hardhat JSON-RPC node and `ponder start`, all on
 * 127.0.0.1. Each round mines a deposit, then a withdrawal request, one at a time, and times from
 * the mined receipt to the first read of the views that shows it. The target is 2 s; prints the
 * figures and writes bench/results/indexer.json.
 *
 * Options: --rounds N (default 20).
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

import { getAgentAccount } from "../indexer/read/index.ts";
import { depositAs, escrowAs, testAccount } from "../test/indexer/helpers/actions.ts";
import { startIndexerStack } from "../test/indexer/helpers/stack.ts";
import { percentile } from "./lib/percentile.ts";

const TARGET_MS = 2_000;
const DEPOSIT = 10_000_000n;
const WITHDRAWAL = 4_000_000n;

const { values } = parseArgs({ options: { rounds: { type: "string", default: "20" } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1_000) throw new Error("--rounds must be an integer from 1 to 1000");

const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms);
  return { samples: sorted.length, p50: round(percentile(sorted, 0.5)), p95: round(percentile(sorted, 0.95)), max: round(sorted.at(-1) ?? Number.NaN), overTarget: sorted.filter((ms) => ms > TARGET_MS).length };
};

const stack = await startIndexerStack();
const deposits: number[] = [];
const withdrawals: number[] = [];
try {
  for (let i = 0; i < rounds; i++) {
    const agent = testAccount(`bench indexer agent ${i}`);
    // `depositAs` and `escrowAs` return once the transaction is mined; the clock starts there.
    await depositAs(stack, agent, DEPOSIT);
    const deposit = await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.balance === DEPOSIT, 30_000);
    deposits.push(deposit.ms);
    await escrowAs(stack, agent, "requestWithdrawal", [WITHDRAWAL]);
    const pending = await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.pendingWithdrawal === WITHDRAWAL, 30_000);
    withdrawals.push(pending.ms);
  }
} finally {
  await stack.stop();
}

const result = {
  measuredAt: new Date().toISOString(),
  node: process.version,
  targetMs: TARGET_MS,
  rounds,
  depositVisibleMs: summary(deposits),
  pendingWithdrawalVisibleMs: summary(withdrawals),
};
const line = (name: string, s: ReturnType<typeof summary>) =>
  `  ${name.padEnd(20)} p50 ${s.p50} ms, p95 ${s.p95} ms, max ${s.max} ms, over ${TARGET_MS} ms: ${s.overTarget} of ${s.samples}`;
console.log(`mined → visible in the views, ${rounds} rounds (target ${TARGET_MS} ms)`);
console.log(line("deposit", result.depositVisibleMs));
console.log(line("pending withdrawal", result.pendingWithdrawalVisibleMs));
const out = path.join(import.meta.dirname, "results", "indexer.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
