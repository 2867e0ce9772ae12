/**
 * Issue 13, vouchers that name their provider: the gas of a settlement week in the two candidate
 * forms (`node bench/voucher-forms.ts [--log <saved test output>]`). The prototypes live in
 * bench/forms/ (not in the test suite, which they would slow by minutes); this script copies them
 * into test/solidity/bench/ for the run and removes them after. Runs VoucherFormsGas.t.sol, whose tests print each settle's execution gas (the
 * callee's side, as `vm.lastCallGas` reports it) and the byte counts of its calldata, and adds
 * what a real transaction pays on top: 21,000 per transaction, calldata at 4 gas per zero byte and
 * 16 per other byte (EIP-2028; the EIP-7623 floor is computed and reported, it never binds here),
 * then each provider's one withdrawal at the escrow's measured `withdrawEarnings` gas
 * (bench/results/settle.json, a full transaction). Writes voucher-forms.json at the repository root.
 *
 * The week: 100 agents × 50 calls of 0.01 USDC over 10 providers (each agent pays each provider 5
 * calls): 5,000 paid calls. L1 data fees (Base) are left out (bench/settle.ts estimates them).
 */
import { spawnSync } from "node:child_process";
import type { SpawnSyncReturns } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = path.join(import.meta.dirname, "..");
const CALLS = 5_000;
const PROVIDERS = 10;
const TX_BASE = 21_000;
const TX_GAS_CAP = 2 ** 24; // EIP-7825 (Ethereum since Osaka; Base since Azul)
const GOAL = 1_000;

type Line = {
  variant: string;
  scenario: string;
  claims: number;
  signedEntries: number;
  settleExecutionGas: number;
  refund: number;
  batchBytes: number;
  calldataBytes: number;
  zeroBytes: number;
  nonzeroBytes: number;
};

const logArg = process.argv.indexOf("--log");
let output: string;
if (logArg !== -1) {
  output = readFileSync(process.argv[logArg + 1]!, "utf8");
} else {
  const files = ["VoucherFormsGas.t.sol", "VoucherFormsPrototypes.sol"];
  for (const f of files) copyFileSync(path.join(root, "bench/forms", f), path.join(root, "test/solidity/bench", f));
  let run: SpawnSyncReturns<string>;
  try {
    run = spawnSync("npx", ["hardhat", "test", "solidity", "test/solidity/bench/VoucherFormsGas.t.sol"], {
      cwd: root,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
  } finally {
    for (const f of files) rmSync(path.join(root, "test/solidity/bench", f), { force: true });
  }
  output = `${run.stdout}${run.stderr}`;
  if (run.status !== 0) {
    process.stderr.write(output);
    throw new Error(`the Solidity bench failed (exit ${run.status})`);
  }
}
const lines: Line[] = output
  .split("\n")
  .filter((l) => l.startsWith("voucher-forms "))
  .map((l) => JSON.parse(l.slice("voucher-forms ".length)) as Line);
if (lines.length === 0) throw new Error("no voucher-forms lines in the test output");

const settle = JSON.parse(readFileSync(path.join(root, "bench/results/settle.json"), "utf8"));
const withdrawEarnings: number = settle.perTransaction.withdrawEarnings;

const tx = (l: Line) => {
  const calldataGas = 4 * l.zeroBytes + 16 * l.nonzeroBytes;
  const tokens = l.zeroBytes + 4 * l.nonzeroBytes;
  const standard = TX_BASE + calldataGas + l.settleExecutionGas - l.refund;
  const floor = TX_BASE + 10 * tokens; // EIP-7623
  return { calldataGas, floor, gas: Math.max(standard, floor) };
};

const find = (variant: string, scenario: string) => lines.find((l) => l.variant === variant && l.scenario === scenario);

const row = (variant: string, scenario: string, parts: Line[], note?: string) => {
  const txs = parts.map(tx);
  const settleExecutionGas = parts.reduce((a, l) => a + l.settleExecutionGas, 0);
  const calldataGas = txs.reduce((a, t) => a + t.calldataGas, 0);
  const settleGas = txs.reduce((a, t) => a + t.gas, 0);
  const withdrawalsGas = PROVIDERS * withdrawEarnings;
  const totalGas = settleGas + withdrawalsGas;
  const perCall = (g: number) => Math.round((g / CALLS) * 10) / 10;
  return {
    form: variant.startsWith("A") ? "A track" : "B commitment",
    variant,
    scenario,
    settleTransactions: parts.length,
    claims: parts.reduce((a, l) => a + l.claims, 0),
    signaturesVerified: parts.reduce((a, l) => a + l.claims, 0),
    signedEntries: parts.reduce((a, l) => a + l.signedEntries, 0),
    settleExecutionGas,
    calldataBytes: parts.reduce((a, l) => a + l.calldataBytes, 0),
    zeroBytes: parts.reduce((a, l) => a + l.zeroBytes, 0),
    nonzeroBytes: parts.reduce((a, l) => a + l.nonzeroBytes, 0),
    calldataGas,
    txBaseGas: TX_BASE * parts.length,
    eip7623FloorGas: txs.reduce((a, t) => a + t.floor, 0),
    settleTxGas: settleGas,
    largestSettleTxGas: Math.max(...txs.map((t) => t.gas)),
    fitsTxGasCap: txs.every((t) => t.gas <= TX_GAS_CAP),
    withdrawalsGas,
    totalGas,
    gasPerPaidCall: perCall(totalGas),
    perPaidCall: {
      settleExecution: perCall(settleExecutionGas),
      calldata: perCall(calldataGas),
      txBase: perCall(TX_BASE * parts.length),
      withdrawals: perCall(withdrawalsGas),
    },
    meetsGoal: totalGas / CALLS <= GOAL,
    ...(note ? { note } : {}),
  };
};

const variants = [...new Set(lines.map((l) => l.variant))].sort();
const rows = [];
for (const variant of variants) {
  for (const scenario of ["week1", "steady", "growth"]) {
    const one = find(variant, scenario);
    if (variant.startsWith("A") && scenario === "week1") {
      const halves = [find(variant, "week1-tx1of2"), find(variant, "week1-tx2of2")];
      if (halves.every(Boolean)) {
        rows.push(row(variant, "week1", halves as Line[], "two settle transactions of 50 agents: as one it passes the 2^24 transaction gas cap"));
      }
      if (one) rows.push(row(variant, "week1-single-tx", [one], "not possible on Base/Ethereum: above the 2^24 transaction gas cap; shown for comparison"));
      continue;
    }
    if (one) rows.push(row(variant, scenario, [one]));
  }
}

const result = {
  issue: 13,
  week: { agents: 100, providers: PROVIDERS, callsPerAgent: 50, callsPerAgentPerProvider: 5, paidCalls: CALLS, priceAtomic: "10000", feeBps: 100 },
  scenarios: {
    week1: "first week: no track exists yet (A: 1,000 new track slots; B: 100 new vector hashes), providers never credited before",
    steady: "week 2: the same 1,000 tracks / 100 vectors settled the week before; providers hold earnings",
    growth:
      "every agent paid 50 distinct providers in an earlier week (1 call each) and pays only 10 of them this week (5 calls each); A claims only the 10 active tracks, B's claims carry all 50 entries (40 unsigned, carried over)",
  },
  variants: {
    "A-track": "Voucher(account,signer,provider,maxCumulative); 1 claim per track: ECDSA, track slot, account slot once per account run; claims log in BatchSettled",
    "B-commitment": "Voucher(account,signer,Entry[] entries) with Entry(provider,maxCumulative); 1 claim per (account,signer): ECDSA over EIP-712 array hash, full 256-bit vector hash in its own slot, account slot balance(128)|totalClaimed(128); claims log",
    "B-commitment-packed": "as B, the own track's vector hash (top 192 bits) packed with a 64-bit balance in the account slot: one slot per claim instead of two",
    "*-nolog": "the same without the per-claim log in BatchSettled (its share of the gas)",
  },
  included: [
    "settle execution gas measured in Hardhat 3 Solidity tests with vm.lastCallGas (callee side) on cold state (setUp state committed, nothing read before the call)",
    "21,000 per settle transaction",
    "settle calldata at 16 gas per nonzero byte and 4 per zero byte, counted from the ABI-encoded call (selector, batchId, packed batch)",
    "EIP-7623 calldata floor computed per transaction (never binding here)",
    `10 provider withdrawals at ${withdrawEarnings} gas each (bench/results/settle.json perTransaction.withdrawEarnings, a full transaction of the real escrow)`,
    "per-provider fee floor(gross*feeBps/10000), provider earnings credited once per batch, accruedFees, batch id, settler and pause reads, ProviderCredited events",
  ],
  excluded: [
    "L1 data fee (Base)",
    "delegate (non-owner signer) and ERC-1271 paths: the prototypes accept own EOA vouchers only",
    "deposits, top-ups, agent withdrawals",
    "the escrow's callsServed/callsFailed payout statistics",
  ],
  crossCheck:
    "(checked once, issue 13) a script deployed the same prototypes on an in-process Hardhat chain (Osaka), builds and signs the batches independently with viem signTypedData (EIP-712 incl. Entry[] array hashing) and reads receipts: receipt gasUsed = 21,000 + calldata + the test's execution gas, to the unit",
  withdrawEarningsGas: withdrawEarnings,
  goalGasPerPaidCall: GOAL,
  txGasCap: TX_GAS_CAP,
  reference: {
    name: "the escrow in bench/results/settle.json at the time of the run",
    settleSteadyTxGas: settle.perWeek.settleSteadyWeek,
    settleFirstWeekTxGas: settle.perWeek.settleFirstWeek,
    gasPerPaidCallSteadyWithWithdrawals: Math.round(((settle.perWeek.settleSteadyWeek + PROVIDERS * withdrawEarnings) / CALLS) * 10) / 10,
  },
  rows,
  raw: lines,
};

const out = path.join(root, "bench/results/voucher-forms.json");
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

const pad = (v: string | number, w: number) => String(v).padStart(w);
const fmt = (n: number) => n.toLocaleString("en-US");
console.log(`${"variant".padEnd(27)} ${"scenario".padEnd(16)} ${pad("txs", 3)} ${pad("claims", 6)} ${pad("exec", 11)} ${pad("cd bytes", 9)} ${pad("calldata", 10)} ${pad("settle tx", 11)} ${pad("+withdr.", 11)} ${pad("gas/call", 8)}`);
for (const r of rows) {
  console.log(
    `${r.variant.padEnd(27)} ${r.scenario.padEnd(16)} ${pad(r.settleTransactions, 3)} ${pad(fmt(r.claims), 6)} ${pad(fmt(r.settleExecutionGas), 11)} ${pad(fmt(r.calldataBytes), 9)} ${pad(fmt(r.calldataGas), 10)} ${pad(fmt(r.settleTxGas), 11)} ${pad(fmt(r.totalGas), 11)} ${pad(r.gasPerPaidCall.toFixed(1), 8)}${r.fitsTxGasCap ? "" : "  (over tx gas cap)"}`,
  );
}
console.log(`wrote ${path.relative(process.cwd(), out)}`);
