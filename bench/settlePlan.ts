/**
 * How the weekly settlement's planning grows with the unsettled ledger (`npm run bench:settle-plan`),
 * on an embedded PostgreSQL with the API's migrations and a Hardhat JSON-RPC server on 127.0.0.1
 * with AgentTab deployed. Prints a table and writes bench/results/settle-plan.json.
 *
 * For each size, the ledger is generated in SQL (generate_series) straight into `spend_tracks`,
 * `charges` and `ledger_accounts`, consistent as the proxy leaves it: every track's `charged` is
 * the sum of its unsettled charges and its voucher covers it. The shape: `--providers` providers
 * (10), every account calls each of them (one track per account and provider, the account its own
 * signer), `--charges-per-track` charges (100) per track; so 10^6 charges are 10^4 tracks of 10^3
 * accounts. The vouchers are real (signed natively, verified by the planning as by the escrow) and
 * every account is funded on-chain, so that nothing is left out and the first batches can be
 * simulated; nothing was settled before (the chain's claimed totals are 0). Then a fresh process
 * (bench/lib/settlePlanner.ts) plans as `npm run settle` does, without recording or sending.
 *
 * Options: --sizes 10000,100000,1000000 (unsettled charges), --charges-per-track 100,
 * --providers 10, --simulate-parts 1 (batches whose `settle` is simulated), --max-seconds 300 (a
 * size whose planning takes longer is stopped and reported as unfinished), --out PATH ("-" for none).
 */
import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { network } from "hardhat";
import postgres from "postgres";
import type { Sql } from "postgres";
import { createPublicClient, createWalletClient, http, keccak256, toHex } from "viem";
import type { Address, Hash, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { LEDGER_SCHEMA as API_SCHEMA, migrate } from "@agenttab/ledger";
import { deployAgentTab } from "../scripts/lib/deployAgentTab.ts";
import { hardhatDeployerKey } from "../scripts/lib/deployConfig.ts";
import { localUsdcIssuer } from "../scripts/lib/localUsdc.ts";
import { openDatabase } from "@agenttab/ledger/embedded";
import { agentTabEscrowAbi, fiatTokenAbi } from "@agenttab/sdk";
import type { PlanRequest, PlanResult } from "./lib/settlePlanner.ts";
import { nativeVoucherSigner } from "./lib/vouchers.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000,1000000" },
    "charges-per-track": { type: "string", default: "100" },
    providers: { type: "string", default: "10" },
    "simulate-parts": { type: "string", default: "1" },
    "max-seconds": { type: "string", default: "300" },
    out: { type: "string", default: path.join(import.meta.dirname, "results", "settle-plan.json") },
  },
});
const SIZES = args.sizes.split(",").map(Number);
const CHARGES_PER_TRACK = Number(args["charges-per-track"]);
const PROVIDERS = Number(args.providers);
const SIMULATE_PARTS = Number(args["simulate-parts"]);
const MAX_SECONDS = Number(args["max-seconds"]);
const PRICE = 1_000n; // 0.001 USDC a call
const FEE_BPS = 100n;
const TRACK_CHARGED = PRICE * BigInt(CHARGES_PER_TRACK);
for (const size of SIZES) {
  if (size % (CHARGES_PER_TRACK * PROVIDERS) !== 0) throw new Error(`--sizes: ${size} is not a whole number of accounts (${CHARGES_PER_TRACK} charges × ${PROVIDERS} providers each)`);
}
const ACCOUNTS = Math.max(...SIZES) / (CHARGES_PER_TRACK * PROVIDERS);

const log = (line: string) => console.error(`[bench:settle-plan] ${line}`);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const MiB = 1024 * 1024;
const cleanups: (() => Promise<unknown>)[] = [];

type DatabaseCounters = { temp_files: number; temp_bytes: number; blks_hit: number; blks_read: number; tup_returned: number; tup_fetched: number };

async function databaseCounters(sql: Sql): Promise<DatabaseCounters> {
  const [row] = await sql<Record<keyof DatabaseCounters, string>[]>`
    SELECT temp_files::text, temp_bytes::text, blks_hit::text, blks_read::text, tup_returned::text, tup_fetched::text
    FROM pg_stat_database WHERE datname = current_database()`;
  return Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)])) as DatabaseCounters;
}

/** Replaces the ledger with `charges` unsettled charges of the first accounts (see the header for the shape). */
async function generateLedger(sql: Sql, tracks: { account: Address; provider: Address; signature: Hex }[]) {
  await sql`TRUNCATE charges, spend_tracks, ledger_accounts, reservations, call_outcomes, settlement_batches`;
  await sql`
    INSERT INTO spend_tracks (account, signer, provider, voucher_max, voucher_signature, charged, reserved)
    SELECT t.account, t.account, t.provider, ${TRACK_CHARGED.toString()}, t.signature, ${TRACK_CHARGED.toString()}, 0
    FROM unnest(${sql.array(tracks.map((t) => t.account.toLowerCase()))}::text[],
                ${sql.array(tracks.map((t) => t.provider.toLowerCase()))}::text[],
                ${sql.array(tracks.map((t) => t.signature))}::text[]) AS t(account, provider, signature)`;
  // A track's g-th charge brings its cumulative to g × price; the calls are spread over the week.
  await sql`
    INSERT INTO charges (request_id, account, signer, service_id, provider, amount, fee, cumulative, voucher_max,
                         method, path, upstream_status, latency_ms, issued_at, receipt_signature, created_at)
    SELECT gen_random_uuid(), t.account, t.signer, s.id, t.provider, ${PRICE.toString()}, ${((PRICE * FEE_BPS) / 10_000n).toString()},
           g * ${PRICE.toString()}, t.voucher_max, 'GET', '/v1/forecast', 200, 40,
           extract(epoch FROM now())::bigint - (${CHARGES_PER_TRACK} - g) * 6048, '0x' || repeat('ab', 65),
           now() - make_interval(secs => (${CHARGES_PER_TRACK} - g) * 6048.0)
    FROM spend_tracks t JOIN services s ON s.provider = t.provider
    CROSS JOIN generate_series(1, ${CHARGES_PER_TRACK}) AS g`;
  await sql`INSERT INTO ledger_accounts (account, charged, reserved) SELECT account, sum(charged), 0 FROM spend_tracks GROUP BY account`;
  // As autovacuum would have by the time a week has accumulated: statistics for the planner.
  await sql`VACUUM ANALYZE charges, spend_tracks, ledger_accounts`;
}

/** Forks the planner, hands it the request, and waits (at most MAX_SECONDS) for its result. */
async function planInChild(request: PlanRequest): Promise<PlanResult | { unfinished: string }> {
  const proc: ChildProcess = fork(path.join(import.meta.dirname, "lib", "settlePlanner.ts"), [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ unfinished: `planning took over ${MAX_SECONDS} s; stopped` }), MAX_SECONDS * 1000);
      proc.on("message", (message: { type: string; message?: string }) => {
        if (message.type === "ready") proc.send(request);
        else if (message.type === "planned") {
          clearTimeout(timer);
          resolve(message as PlanResult);
        } else if (message.type === "error") {
          clearTimeout(timer);
          reject(new Error(message.message));
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the planner exited with ${code} before it answered`));
      });
    });
  } finally {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) process.kill(proc.pid, "SIGKILL");
    await exited;
  }
}

async function main() {
  const startedAt = performance.now();
  const root = await mkdtemp(path.join(tmpdir(), "agenttab-bench-settle-plan-"));
  await chmod(root, 0o755);
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  // Always a database of our own (never DATABASE_URL): the ledger is truncated and regenerated.
  const db = await openDatabase({ env: {}, dataDir: path.join(root, "postgres") });
  cleanups.push(() => db.stop());
  const sql = postgres(db.url, { max: 2, connection: { search_path: API_SCHEMA }, onnotice: () => {} });
  cleanups.push(() => sql.end({ timeout: 5 }));
  await migrate(sql, { schema: API_SCHEMA });

  const server = await network.createServer("default", "127.0.0.1", 0);
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  const rpcUrl = `http://127.0.0.1:${port}`;
  const publicClient = createPublicClient({ chain: hardhat, transport: http(rpcUrl) });
  const operator = createWalletClient({ account: privateKeyToAccount(hardhatDeployerKey), chain: hardhat, transport: http(rpcUrl) });
  const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS) });
  const mined = async (hash: Promise<Hash>) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash, pollingInterval: 5 });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
  };

  // The agents (each its own signer) and the providers, one service each.
  const keys = Array.from({ length: ACCOUNTS }, (_, i) => keccak256(toHex(`bench settle-plan agent ${i}`)));
  const accounts = keys.map((key) => privateKeyToAccount(key).address);
  const providers = Array.from({ length: PROVIDERS }, (_, i) => privateKeyToAccount(keccak256(toHex(`bench settle-plan provider ${i}`))).address);
  for (const [i, provider] of providers.entries()) {
    await sql`
      INSERT INTO services (id, provider, name, category, upstream_url, pricing, price, max_price, nonce)
      VALUES (${`bench-plan-${i}`}, ${provider.toLowerCase()}, ${`Bench ${i}`}, 'bench', 'http://127.0.0.1:9/', 'fixed', ${PRICE.toString()}, ${PRICE.toString()}, 1)`;
  }
  const sign = nativeVoucherSigner(deployment);
  const allTracks = accounts.flatMap((account, a) =>
    providers.map((provider) => ({ account, provider, signature: sign(keys[a] as Hex, { account, signer: account, provider, maxCumulative: TRACK_CHARGED }) })),
  );
  // Every account funded for twice its week.
  const deposit = TRACK_CHARGED * BigInt(PROVIDERS) * 2n;
  await localUsdcIssuer({ publicClient, usdc: deployment.usdc }).mint(operator.account.address, deposit * BigInt(ACCOUNTS));
  await mined(operator.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [deployment.escrow, deposit * BigInt(ACCOUNTS)] }));
  for (const account of accounts) {
    await mined(operator.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "depositFor", args: [account, deposit] }));
  }
  log(`stack up, ${ACCOUNTS} accounts funded and ${allTracks.length} vouchers signed in ${round((performance.now() - startedAt) / 1000)} s`);

  const rows: Record<string, unknown>[] = [];
  for (const size of SIZES) {
    const trackCount = size / CHARGES_PER_TRACK;
    const genStart = performance.now();
    await generateLedger(sql, allTracks.slice(0, trackCount));
    const generateSeconds = round((performance.now() - genStart) / 1000);
    const [sizes] = await sql<{ charges: string; tracks: string; charges_bytes: string; charges_index_bytes: string }[]>`
      SELECT (SELECT count(*) FROM charges WHERE settlement_batch IS NULL)::text AS charges, (SELECT count(*) FROM spend_tracks)::text AS tracks,
             pg_table_size('charges')::text AS charges_bytes, pg_indexes_size('charges')::text AS charges_index_bytes`;
    log(`${size} charges: ledger generated in ${generateSeconds} s (${sizes?.tracks} tracks); planning…`);

    await sql`SELECT pg_stat_force_next_flush()`;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = await databaseCounters(sql);
    const result = await planInChild({
      type: "plan",
      databaseUrl: db.url,
      schema: API_SCHEMA,
      rpcUrl,
      chainId: deployment.chainId,
      escrow: deployment.escrow,
      settlerKey: hardhatDeployerKey,
      simulateParts: SIMULATE_PARTS,
    });
    // A backend's counters reach pg_stat_database when it exits (the planner's has).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await databaseCounters(sql);
    const postgresWork = Object.fromEntries(Object.keys(before).map((k) => [k, after[k as keyof DatabaseCounters] - before[k as keyof DatabaseCounters]]));
    const base = {
      charges: Number(sizes?.charges),
      tracks: Number(sizes?.tracks),
      accounts: trackCount / PROVIDERS,
      generateSeconds,
      chargesTableMiB: round(Number(sizes?.charges_bytes) / MiB),
      chargesIndexesMiB: round(Number(sizes?.charges_index_bytes) / MiB),
    };
    if ("unfinished" in result) {
      log(`${size} charges: ${result.unfinished}`);
      rows.push({ ...base, unfinished: result.unfinished });
      break;
    }
    const { steps, memory } = result;
    const planningMs = steps.planEntries.ms + steps.verifyEntries.ms + steps.build.ms;
    const row = {
      ...base,
      entries: result.entries,
      excluded: result.excluded,
      parts: result.parts,
      claimsPerPart: result.claimsPerPart,
      planEntriesMs: steps.planEntries.ms,
      planMsPerCharge: round(steps.planEntries.ms / base.charges, 4),
      planMsPerTrack: round(steps.planEntries.ms / base.tracks, 3),
      verifyMs: steps.verifyEntries.ms,
      buildMs: steps.build.ms,
      planVerifyBuildMs: round(planningMs),
      simulateFirstPartsMs: steps.simulate.ms,
      simulatedParts: result.simulatedParts,
      // Every part costs about what the first did: one `settle` estimate of ~280 claims.
      simulateAllPartsEstimateMs: result.simulatedParts.length > 0 ? round((steps.simulate.ms / result.simulatedParts.length) * result.parts) : null,
      rpcCalls: steps.planEntries.rpcCalls + steps.verifyEntries.rpcCalls + steps.build.rpcCalls,
      sqlStatements: steps.planEntries.sqlStatements + steps.verifyEntries.sqlStatements + steps.build.sqlStatements,
      planJsonKiB: round(result.planJsonBytes / 1024),
      claimsCalldataKiB: round(result.claimsCalldataBytes / 1024),
      steps,
      memory,
      postgres: { ...postgresWork, tempMiB: round((postgresWork.temp_bytes ?? 0) / MiB, 2) },
    };
    rows.push(row);
    log(
      `${size} charges: planEntries ${row.planEntriesMs} ms (${row.planMsPerTrack} ms/track, ${steps.planEntries.rpcCalls} RPC, ${steps.planEntries.sqlStatements} SQL), ` +
        `verify ${row.verifyMs} ms, build ${row.buildMs} ms, simulate ${result.simulatedParts.length} part(s) ${row.simulateFirstPartsMs} ms; peak RSS ${memory.peakRssMiB} MiB`,
    );
  }

  // The growth exponent k in t ∝ n^k between consecutive sizes.
  const finished = rows.filter((r) => !("unfinished" in r)) as { charges: number; planEntriesMs: number; planVerifyBuildMs: number; memory: PlanResult["memory"] }[];
  const growth = finished.slice(1).map((r, i) => {
    const prev = finished[i] as (typeof finished)[number];
    const k = (a: number, b: number) => round(Math.log(b / a) / Math.log(r.charges / prev.charges), 2);
    return {
      from: prev.charges,
      to: r.charges,
      planEntries: k(prev.planEntriesMs, r.planEntriesMs),
      planVerifyBuild: k(prev.planVerifyBuildMs, r.planVerifyBuildMs),
      peakRssAboveBaseline: k(Math.max(0.1, prev.memory.peakRssMiB - prev.memory.baselineRssMiB), Math.max(0.1, r.memory.peakRssMiB - r.memory.baselineRssMiB)),
    };
  });

  const pad = (value: string | number, width: number) => String(value).padStart(width);
  const fmt = (n: number) => n.toLocaleString("en-US");
  console.log(`\nShape: ${PROVIDERS} providers, one track per (account, provider), ${CHARGES_PER_TRACK} unsettled charges per track; vouchers valid, accounts funded, nothing claimed before.`);
  console.log(
    `${pad("charges", 10)} ${pad("tracks", 7)} ${pad("plan ms", 9)} ${pad("ms/charge", 9)} ${pad("ms/track", 8)} ${pad("RPC", 6)} ${pad("SQL", 6)} ${pad("verify ms", 9)} ${pad("build ms", 8)} ${pad("sim 1 ms", 8)} ${pad("peak RSS", 8)} ${pad("heap MiB", 8)} ${pad("PG temp", 7)}`,
  );
  for (const r of rows as Record<string, any>[]) {
    if (r.unfinished) {
      console.log(`${pad(fmt(r.charges), 10)} ${pad(fmt(r.tracks), 7)}  ${r.unfinished}`);
      continue;
    }
    console.log(
      `${pad(fmt(r.charges), 10)} ${pad(fmt(r.tracks), 7)} ${pad(fmt(Math.round(r.planEntriesMs)), 9)} ${pad(r.planMsPerCharge, 9)} ${pad(r.planMsPerTrack, 8)} ${pad(fmt(r.rpcCalls), 6)} ${pad(fmt(r.sqlStatements), 6)} ${pad(fmt(Math.round(r.verifyMs)), 9)} ${pad(fmt(Math.round(r.buildMs)), 8)} ${pad(fmt(Math.round(r.simulateFirstPartsMs)), 8)} ${pad(r.memory.peakRssMiB, 8)} ${pad(r.memory.peakHeapUsedMiB, 8)} ${pad(r.postgres.tempMiB, 7)}`,
    );
  }
  console.log("(plan = planEntries; RPC and SQL counted over plan + verify + build; peak RSS of the planning process in MiB; PG temp = temp files written by PostgreSQL)");
  for (const g of growth) console.log(`growth ${fmt(g.from)} → ${fmt(g.to)} charges: planEntries ∝ n^${g.planEntries}, plan+verify+build ∝ n^${g.planVerifyBuild}, peak RSS above baseline ∝ n^${g.peakRssAboveBaseline}`);

  if (args.out !== "-") {
    const out = path.resolve(args.out);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(
      out,
      `${JSON.stringify(
        {
          shape: { providers: PROVIDERS, chargesPerTrack: CHARGES_PER_TRACK, tracksPerAccount: PROVIDERS, signerIsAccount: true, priceAtomic: PRICE.toString(), vouchers: "valid (native ECDSA, verified by the planning)", claimedBefore: "0 (first settlement of every track)", settledHistory: "none (only unsettled charges)" },
          setup: {
            machine: "2 cores shared with other work; PostgreSQL (embedded, default settings), the Hardhat JSON-RPC server (in the orchestrating process) and the planning process on this machine",
            rpc: "viem http transport to 127.0.0.1 (no batching), as scripts/settle.ts",
            simulateParts: SIMULATE_PARTS,
          },
          sizes: rows,
          growth,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
  }
  log(`done in ${round((performance.now() - startedAt) / 1000)} s`);
}

async function cleanup() {
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (error) {
      log(`cleanup: ${String(error)}`);
    }
  }
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  console.error(error);
} finally {
  await cleanup();
}
