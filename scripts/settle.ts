/**
 * The weekly settlement: `npm run settle`. Claims every agent's unsettled charges on-chain in one
 * batch (several only above --max-gas), credits the providers and the fee, and marks the charges
 * settled. Safe to rerun at any time, including after a crash: open batches are finished first,
 * and the chain's claimed totals are the truth.
 *
 *   --rpc URL            JSON-RPC endpoint (AGENTTAB_RPC_URL, default http://127.0.0.1:8545)
 *   --chain-id N         (AGENTTAB_CHAIN_ID, default 31337); reads deployments/<N>.json
 *   --dry-run            plan and show the batch; record and send nothing
 *   --confirmations N    blocks to wait for (default 1)
 *   --max-gas N          split into several batches when one would need more gas
 *   --json               JSON lines even on a terminal
 *
 * Environment: DATABASE_URL (default: the embedded PostgreSQL in .data/postgres),
 * SETTLER_PRIVATE_KEY (default on 31337: Hardhat account #0, the deployment's settler),
 * AGENTTAB_DEPLOYMENTS_DIR.
 *
 * Exit codes: 0 settled or nothing to do; 2 settled, but some entries were left out (see the
 * report); 1 failure (nothing left half-done: rerun).
 */
import path from "node:path";
import { parseArgs } from "node:util";

import postgres from "postgres";
import { createPublicClient, createWalletClient, http } from "viem";
import type { Chain, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { base, baseSepolia, hardhat } from "viem/chains";

import { migrate } from "../api/src/plugins/migrations.ts";
import { readDeployment } from "../sdk/src/index.ts";
import { hardhatDeployerKey } from "./lib/deployConfig.ts";
import { openDatabase } from "./lib/embeddedPostgres.ts";
import { createLogger, exitCodeOf, summaryLines, toJson } from "./settle/output.ts";
import { settle } from "./settle/run.ts";

const API_SCHEMA = "agenttab_api";

const { values } = parseArgs({
  options: {
    rpc: { type: "string" },
    "chain-id": { type: "string" },
    "dry-run": { type: "boolean", default: false },
    confirmations: { type: "string", default: "1" },
    "max-gas": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("Usage: npm run settle -- [--rpc URL] [--chain-id N] [--dry-run] [--confirmations N] [--max-gas N] [--json]");
  process.exit(0);
}

const json = values.json || !process.stdout.isTTY;
const log = createLogger({ json });
const root = path.join(import.meta.dirname, "..");
const env = process.env;

async function main(): Promise<number> {
  const chainId = Number(values["chain-id"] ?? env.AGENTTAB_CHAIN_ID ?? 31337);
  const rpcUrl = values.rpc ?? env.AGENTTAB_RPC_URL ?? "http://127.0.0.1:8545";
  const key = (env.SETTLER_PRIVATE_KEY ?? (chainId === 31337 ? hardhatDeployerKey : undefined)) as Hex | undefined;
  if (key === undefined) throw new Error("SETTLER_PRIVATE_KEY is required outside the local chain");
  const deployment = await readDeployment(chainId, { dir: env.AGENTTAB_DEPLOYMENTS_DIR ?? path.join(root, "deployments") });
  const viemChain: Chain | undefined = ([hardhat, base, baseSepolia] as Chain[]).find((c) => c.id === chainId);
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain: viemChain, transport });
  const walletClient = createWalletClient({ account: privateKeyToAccount(key), chain: viemChain, transport });
  if ((await publicClient.getChainId()) !== chainId) throw new Error(`${rpcUrl} is not chain ${chainId}`);

  const db = await openDatabase({ env, dataDir: path.join(root, ".data", "postgres") });
  const sql = postgres(db.url, { max: 4, connection: { search_path: API_SCHEMA, application_name: "agenttab-settle" }, onnotice: () => {} });
  try {
    await migrate(sql, { schema: API_SCHEMA });
    const report = await settle({
      sql,
      chain: { publicClient, walletClient, chainId, escrow: deployment.escrow },
      dryRun: values["dry-run"],
      confirmations: Number(values.confirmations),
      ...(values["max-gas"] !== undefined ? { maxGas: BigInt(values["max-gas"]) } : {}),
      log,
    });
    if (json) log("summary", { status: report.status, batches: report.batches, excluded: report.excluded, ...(report.status === "dry-run" ? { plans: report.plans } : {}) });
    else console.log(summaryLines(report).join("\n"));
    return exitCodeOf(report);
  } finally {
    await sql.end({ timeout: 5 });
    await db.stop();
  }
}

let code: number;
try {
  code = await main();
} catch (error) {
  const message = (error as Error)?.message ?? String(error);
  if (json) console.log(toJson({ time: new Date().toISOString(), event: "failed", error: message }));
  else console.error(`settlement failed: ${message}`);
  code = 1;
}
// Explicit: an open handle (an RPC keep-alive socket) must not hold the process, nor reset its code.
process.exit(code);
