/**
 * Soak (`npm run bench:soak -- [--minutes 10] [--agents 50] [--rate 100]`): paid calls at a steady
 * rate from many agents for a long time, on the real stack — embedded PostgreSQL, a Hardhat
 * JSON-RPC server with AgentTab deployed, Ponder, and the API as its production entry
 * (`scripts/api.ts`, its own process, started as package.json's "api" script starts it: the
 * same node flags) — against a local upstream, all on 127.0.0.1.
 *
 * Calls are issued open-loop at --rate per second, round-robin over the agents; an agent still
 * waiting for its previous call skips its turn (counted as `late`). Each call carries a fresh
 * voucher for that agent's calls so far × the price. Reports throughput, p50/p99 latency, errors
 * by kind, the proxy's RSS after the warm-up and at the end (growth, target under 10%) beside its
 * V8 heap (used, committed, new and old space) and external memory every 5 s, and checks
 * that the ledger's totals equal the sum of the X-ACF-Amount the clients were told. Prints the
 * figures and writes bench/results/soak.json (--out PATH, "-" for none). Exits 1 when the ledger
 * check fails, 0 otherwise; stops every process it started, also on Ctrl-C.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { Agent, request } from "undici";
import { keccak256, toHex } from "viem";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { LEDGER_SCHEMA } from "@agenttab/ledger";
import { freePort } from "@agenttab/ledger/embedded";
import { serializeDeployment } from "@agenttab/sdk";
import { startIndexerStack } from "../test/indexer/helpers/stack.ts";
import { fundAgents } from "../test/reliability/helpers.ts";
import { percentile } from "./lib/percentile.ts";
import { voucherHeaders } from "./lib/vouchers.ts";
import type { VoucherAgent } from "./lib/vouchers.ts";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    agents: { type: "string", default: "50" },
    rate: { type: "string", default: "100" },
    out: { type: "string", default: path.join(import.meta.dirname, "results", "soak.json") },
  },
});
const MINUTES = Number(args.minutes);
const AGENTS = Number(args.agents);
const RATE = Number(args.rate);
if (!(MINUTES > 0 && AGENTS > 0 && RATE > 0)) throw new Error("--minutes, --agents and --rate must be positive numbers");
const DURATION_MS = Math.round(MINUTES * 60_000);
const WARMUP_MS = Math.min(30_000, Math.round(DURATION_MS / 10));
const PRICE = 1_000n; // 0.001 USDC a call
const SERVICE = "soak-echo";
const RSS_GROWTH_TARGET = 0.1;

const log = (line: string) => console.error(`[bench:soak] ${new Date().toISOString().slice(11, 19)} ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

const ROOT = path.join(import.meta.dirname, "..");

/**
 * package.json's "api" script, `[NAME=value ...] node [flags ...] scripts/api.ts`, split into
 * the environment assignments and node flags the soak must start the API with.
 */
async function productionApiCommand(): Promise<{ env: Record<string, string>; nodeArgs: string[]; display: string }> {
  const script = (JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.api ?? "";
  const words = script.trim().split(/\s+/);
  const node = words.indexOf("node");
  const assignments = words.slice(0, Math.max(node, 0));
  if (node < 0 || words.at(-1) !== "scripts/api.ts" || !assignments.every((w) => /^[A-Z_][A-Z0-9_]*=\S*$/.test(w))) {
    throw new Error(`package.json's "api" script is not "[NAME=value ...] node [flags ...] scripts/api.ts": ${script}`);
  }
  const env = Object.fromEntries(assignments.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
  return { env, nodeArgs: words.slice(node + 1, -1), display: script };
}

/** The resident set size of a process, in bytes (Linux /proc). */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

const cleanups: (() => Promise<unknown>)[] = [];
let stopping = false;
async function cleanup() {
  for (const step of cleanups.reverse()) await step().catch((error: unknown) => log(`cleanup: ${String(error)}`));
  cleanups.length = 0;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  // The upstream: answers every call at once with a small JSON body.
  const upstream = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
  upstream.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => (upstream.closeAllConnections(), upstream.close(() => resolve()))));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  log("starting PostgreSQL, the Hardhat node and Ponder");
  const chain = await startIndexerStack();
  cleanups.push(() => chain.stop());
  const dir = await mkdtemp(path.join(tmpdir(), "agenttab-soak-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, `${chain.deployment.chainId}.json`), serializeDeployment(chain.deployment));

  // listService writes through `app.sql`; the ledger schema exists once the API has migrated it.
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  let apiOutput = "";
  // The API starts exactly as `npm run api` starts it in production: the same node flags and
  // environment assignments, read from package.json's "api" script.
  const apiCommand = await productionApiCommand();
  log(`API command: ${apiCommand.display}`);
  const api: ChildProcess = spawn(process.execPath, [...apiCommand.nodeArgs, path.join(ROOT, "scripts", "api.ts")], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...apiCommand.env,
      DATABASE_URL: chain.databaseUrl,
      AGENTTAB_CHAIN_ID: String(chain.deployment.chainId),
      AGENTTAB_RPC_URL: chain.rpcUrl,
      AGENTTAB_VIEWS_SCHEMA: chain.reader.viewsSchema,
      AGENTTAB_DEPLOYMENTS_DIR: dir,
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const apiExited = new Promise<void>((resolve) => api.once("exit", () => resolve()));
  cleanups.push(async () => {
    if (api.exitCode === null && api.signalCode === null) {
      api.kill("SIGTERM");
      const timer = setTimeout(() => api.kill("SIGKILL"), 10_000);
      await apiExited;
      clearTimeout(timer);
    }
  });
  for (const stream of [api.stdout!, api.stderr!]) stream.on("data", (chunk) => (apiOutput = (apiOutput + chunk).slice(-20_000)));
  for (let started = Date.now(); ; await sleep(200)) {
    const ok = await fetch(`${apiUrl}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (api.exitCode !== null || Date.now() - started > 60_000) throw new Error(`the API did not become healthy:\n${apiOutput}`);
  }
  log(`API (pid ${api.pid}) on ${apiUrl}`);
  // The API migrated its schema at start; the service is listed straight into the ledger.
  const sql = chain.sql;
  const ledger = (table: string) => sql(`${LEDGER_SCHEMA}.${table}`);
  const provider = privateKeyToAccount(keccak256(toHex("soak provider"))).address.toLowerCase();
  await sql`
    INSERT INTO ${ledger("services")} (id, provider, name, category, upstream_url, pricing, price, max_price, nonce)
    VALUES (${SERVICE}, ${provider}, ${SERVICE}, 'bench', ${upstreamUrl}, 'fixed', ${PRICE.toString()}, ${PRICE.toString()}, 1)`;

  const calls = Math.ceil((RATE * DURATION_MS) / 1000);
  const deposit = PRICE * BigInt(Math.ceil((calls * 2) / AGENTS) + 10);
  const agents: VoucherAgent[] = Array.from({ length: AGENTS }, (_, i) => {
    const privateKey = keccak256(toHex(`soak agent ${i}`)) as Hex;
    return { account: privateKeyToAccount(privateKey), privateKey };
  });
  log(`funding ${AGENTS} agents with ${deposit} each`);
  await fundAgents(chain, agents.map((a) => a.account), deposit);
  const vouchers = voucherHeaders(chain.deployment, { provider: provider as `0x${string}` });
  await vouchers.checkParity(agents[0]!);

  const dispatcher = new Agent({ connections: AGENTS, keepAliveTimeout: 60_000 });
  cleanups.push(() => dispatcher.close());
  const attempts = new Array<bigint>(AGENTS).fill(0n);
  const busy = new Array<boolean>(AGENTS).fill(false);
  const latencies = new Float64Array(calls + 1);
  let measured = 0;
  let ok = 0;
  let late = 0;
  let told = 0n;
  const errors = new Map<string, number>();
  const countError = (kind: string) => errors.set(kind, (errors.get(kind) ?? 0) + 1);
  const inFlight = new Set<Promise<void>>();

  const call = async (i: number) => {
    busy[i] = true;
    attempts[i] = attempts[i]! + 1n;
    const header = vouchers.fast(agents[i]!, attempts[i]! * PRICE);
    const started = performance.now();
    try {
      const res = await request(`${apiUrl}/v1/proxy/${SERVICE}/soak`, { headers: { "payment-signature": header }, dispatcher });
      const body = await res.body.text();
      if (res.statusCode === 200) {
        latencies[measured++] = performance.now() - started;
        ok++;
        told += BigInt(res.headers["x-acf-amount"] as string);
      } else {
        let code = "";
        try {
          code = (JSON.parse(body) as { code?: string }).code ?? "";
        } catch {}
        countError(`${res.statusCode} ${code}`.trim());
      }
    } catch (error) {
      countError(`connection: ${(error as { code?: string }).code ?? (error as Error).message}`);
    } finally {
      busy[i] = false;
    }
  };

  type Memory = { heapUsed: number; heapTotal: number; newSpace: number; oldSpace: number; external: number };
  const rss: ({ atMs: number; bytes: number } & Memory)[] = [];
  // The proxy's own V8 heap (its Prometheus metrics) beside its RSS: growth in one and not the
  // other tells a leak from an allocator that has not returned memory yet.
  // Also what V8 has committed (heap total; its new and old space) and external memory (Buffers,
  // ArrayBuffers): RSS minus those is code, stacks and native malloc.
  const memoryOf = async (): Promise<Memory> => {
    const text = await fetch(`${apiUrl}/metrics`).then((r) => r.text(), () => "");
    const metric = (name: string) => Number(new RegExp(`^agenttab_${name} (\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
    return {
      heapUsed: metric("nodejs_heap_size_used_bytes"),
      heapTotal: metric("nodejs_heap_size_total_bytes"),
      newSpace: metric('nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
      oldSpace: metric('nodejs_heap_space_size_total_bytes\\{space="old"\\}'),
      external: metric("nodejs_external_memory_bytes"),
    };
  };
  const sampleRss = async (atMs: number) => rss.push({ atMs, bytes: await rssOf(api.pid!), ...(await memoryOf()) });
  log(`soaking: ${RATE} calls/s for ${MINUTES} min across ${AGENTS} agents (${calls} calls), warm-up ${WARMUP_MS / 1000} s`);
  const start = performance.now();
  let issued = 0;
  let next = 0;
  let rssStart: number | undefined;
  let lastReport = start;
  let nextRssSample = start;
  while (!stopping) {
    const now = performance.now();
    const elapsed = now - start;
    if (elapsed >= DURATION_MS) break;
    // Open loop: every call due by now is issued (or skipped as late if its agent is still busy).
    const due = Math.floor((elapsed * RATE) / 1000);
    while (issued < due) {
      issued++;
      const i = next;
      next = (next + 1) % AGENTS;
      if (busy[i]) {
        late++;
        continue;
      }
      const p = call(i).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (now >= nextRssSample) {
      nextRssSample += 5_000;
      await sampleRss(Math.round(elapsed));
      if (rssStart === undefined && elapsed >= WARMUP_MS) rssStart = rss.at(-1)!.bytes;
    }
    if (now - lastReport >= 30_000) {
      lastReport = now;
      log(`${Math.round(elapsed / 1000)} s: ${ok} paid, ${[...errors.values()].reduce((a, b) => a + b, 0)} errors, ${late} late, RSS ${round(rss.at(-1)!.bytes / 2 ** 20, 1)} MiB`);
    }
    await sleep(Math.max(1, Math.min(20, 1000 / RATE)));
  }
  await Promise.all(inFlight);
  // The last sample taken while calls were still being issued: V8 may shrink its heap as soon as
  // the load stops, so the end sample alone could flatter the growth.
  const lastUnderLoad = rss.at(-1)!;
  const wallMs = performance.now() - start;
  await sampleRss(Math.round(wallMs));
  const rssEnd = rss.at(-1)!.bytes;
  rssStart ??= rss[0]!.bytes;

  // Every call has finished: the ledger must hold exactly what the clients were told.
  const [totals] = await sql<{ charged: string; reserved: string; charges: number; sum: string }[]>`
    SELECT (SELECT coalesce(sum(charged), 0) FROM ${ledger("ledger_accounts")})::text AS charged,
           (SELECT coalesce(sum(reserved), 0) FROM ${ledger("ledger_accounts")})::text AS reserved,
           (SELECT count(*) FROM ${ledger("charges")})::int AS charges,
           (SELECT coalesce(sum(amount), 0) FROM ${ledger("charges")})::text AS sum`;
  const books = { charged: BigInt(totals!.charged), reserved: BigInt(totals!.reserved), charges: totals!.charges, chargesSum: BigInt(totals!.sum) };
  const ledgerOk = books.charged === told && books.chargesSum === told && books.charges === ok && books.reserved === 0n;

  const heapFloor = (fromMs: number, toMs: number) => Math.min(...rss.filter((r) => r.atMs >= fromMs && r.atMs < toMs && Number.isFinite(r.heapUsed)).map((r) => r.heapUsed));
  const sorted = latencies.slice(0, measured).sort();
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  const result = {
    command: `npm run bench:soak -- --minutes ${MINUTES} --agents ${AGENTS} --rate ${RATE}`,
    apiCommand: apiCommand.display,
    when: new Date().toISOString(),
    minutes: MINUTES,
    agents: AGENTS,
    targetRate: RATE,
    issued,
    paid: ok,
    late,
    errors: errorCount,
    errorsByKind: Object.fromEntries(errors),
    throughputPerSecond: round(ok / (wallMs / 1000)),
    latencyMs: { p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)), max: round(sorted.at(-1) ?? Number.NaN) },
    rss: {
      warmupSeconds: WARMUP_MS / 1000,
      startMiB: round(rssStart / 2 ** 20, 1),
      endMiB: round(rssEnd / 2 ** 20, 1),
      peakMiB: round(Math.max(...rss.map((r) => r.bytes)) / 2 ** 20, 1),
      lastUnderLoad: { s: round(lastUnderLoad.atMs / 1000, 0), MiB: round(lastUnderLoad.bytes / 2 ** 20, 1) },
      growthPercent: round(((rssEnd - rssStart) / rssStart) * 100),
      targetPercent: RSS_GROWTH_TARGET * 100,
      met: (rssEnd - rssStart) / rssStart < RSS_GROWTH_TARGET,
      heapUsedStartMiB: round((rss.find((r) => r.bytes === rssStart)?.heapUsed ?? Number.NaN) / 2 ** 20, 1),
      // The lowest heap used (right after a major GC) in the first and the last third after the
      // warm-up: what a leak would raise, whatever the collector's sawtooth.
      heapFloorFirstThirdMiB: round(heapFloor(WARMUP_MS, WARMUP_MS + (wallMs - WARMUP_MS) / 3) / 2 ** 20, 1),
      heapFloorLastThirdMiB: round(heapFloor(wallMs - (wallMs - WARMUP_MS) / 3, wallMs + 1) / 2 ** 20, 1),
      heapUsedEndMiB: round(rss.at(-1)!.heapUsed / 2 ** 20, 1),
      heapTotalStartMiB: round((rss.find((r) => r.bytes === rssStart)?.heapTotal ?? Number.NaN) / 2 ** 20, 1),
      heapTotalEndMiB: round(rss.at(-1)!.heapTotal / 2 ** 20, 1),
      externalStartMiB: round((rss.find((r) => r.bytes === rssStart)?.external ?? Number.NaN) / 2 ** 20, 1),
      externalEndMiB: round(rss.at(-1)!.external / 2 ** 20, 1),
      samples: rss.map((r) => ({
        s: round(r.atMs / 1000, 0),
        MiB: round(r.bytes / 2 ** 20, 1),
        heapUsedMiB: round(r.heapUsed / 2 ** 20, 1),
        heapTotalMiB: round(r.heapTotal / 2 ** 20, 1),
        newSpaceMiB: round(r.newSpace / 2 ** 20, 1),
        oldSpaceMiB: round(r.oldSpace / 2 ** 20, 1),
        externalMiB: round(r.external / 2 ** 20, 1),
      })),
    },
    ledger: {
      toldTotal: told.toString(),
      chargedTotal: books.charged.toString(),
      chargesSum: books.chargesSum.toString(),
      charges: books.charges,
      reserved: books.reserved.toString(),
      equal: ledgerOk,
    },
  };

  console.log(
    [
      "",
      `soak: ${MINUTES} min, ${AGENTS} agents, target ${RATE} calls/s`,
      `  paid calls      ${ok} of ${issued} issued (${late} late, ${errorCount} errors${errorCount ? `: ${JSON.stringify(result.errorsByKind)}` : ""})`,
      `  throughput      ${result.throughputPerSecond} paid calls/s`,
      `  latency         p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms`,
      `  proxy heap used ${result.rss.heapUsedStartMiB} MiB after the warm-up → ${result.rss.heapUsedEndMiB} MiB at the end; lowest after a GC ${result.rss.heapFloorFirstThirdMiB} MiB (first third) → ${result.rss.heapFloorLastThirdMiB} MiB (last third)`,
      `  proxy RSS       ${result.rss.startMiB} MiB after ${WARMUP_MS / 1000} s warm-up → ${result.rss.endMiB} MiB at the end (${result.rss.growthPercent}%, target < ${RSS_GROWTH_TARGET * 100}%: ${result.rss.met ? "met" : "MISSED"}), peak ${result.rss.peakMiB} MiB`,
      `  ledger          told ${told}, charged ${books.charged}, Σ charges ${books.chargesSum} (${books.charges} rows), reserved ${books.reserved}: ${ledgerOk ? "equal" : "MISMATCH"}`,
      "",
    ].join("\n"),
  );
  if (args.out !== "-") {
    await writeFile(args.out, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${args.out}`);
  }
  return ledgerOk;
}

let exitCode = 1;
try {
  exitCode = (await main()) ? 0 : 1;
} catch (error) {
  console.error(error);
} finally {
  await cleanup();
}
process.exit(exitCode);
