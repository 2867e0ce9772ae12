/**
 * What one paid call writes to the ledger (`npm run bench:ledger-writes`), on the real stack
 * (embedded PostgreSQL, a Hardhat JSON-RPC server with AgentTab deployed, Ponder, the API app built
 * by `buildApp` in a process of its own, autocannon in another): `--calls` paid calls (2,000) over
 * `--connections` (16), each with a fresh voucher, after a warm-up that creates the agents' ledger
 * rows. Whatever the API's SQL does is what is counted: per paid call, the rows inserted, updated
 * (HOT or not) and deleted per table (pg_stat_user_tables), the WAL written (pg_current_wal_lsn and
 * pg_stat_wal) and each table's growth in bytes, heap and indexes. Prints a table and writes
 * bench/results/ledger-writes.json.
 *
 * PostgreSQL publishes a backend's table counters when it goes idle for a while or exits, so the
 * API process is stopped (its pool closed) before each reading: one API process for the warm-up,
 * a fresh one for the measured calls. The WAL of the machine's idle background (Ponder, PostgreSQL
 * itself) is measured over a quiet interval and reported next to the figures, not subtracted.
 *
 * Options: --calls N (2000), --warmup N (200), --connections N (16), --agents N (16),
 * --out PATH ("-" for none).
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

import postgres from "postgres";
import type { Sql } from "postgres";
import { keccak256, toHex } from "viem";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { defaultApiConfig } from "../api/src/config.ts";
import type { ApiConfig } from "../api/src/config.ts";
import { LEDGER_SCHEMA as API_SCHEMA } from "@agenttab/ledger";
import { getAgentAccount } from "../indexer/read/index.ts";
import { hardhatDeployerKey } from "../scripts/lib/deployConfig.ts";
import type { ApiStack } from "../test/api/helpers/apiStack.ts";
import { listService } from "../test/api/helpers/payments.ts";
import { depositAs } from "../test/indexer/helpers/actions.ts";
import { startIndexerStack } from "../test/indexer/helpers/stack.ts";
import { ask, benchChildren, stopChild } from "./lib/children.ts";
import type { LoadResult, LoadRun } from "./lib/loadgen.ts";
import { voucherHeaders } from "./lib/vouchers.ts";
import type { VoucherAgent } from "./lib/vouchers.ts";

const { values: args } = parseArgs({
  options: {
    calls: { type: "string", default: "2000" },
    warmup: { type: "string", default: "200" },
    connections: { type: "string", default: "16" },
    agents: { type: "string", default: "16" },
    out: { type: "string", default: path.join(import.meta.dirname, "results", "ledger-writes.json") },
  },
});
const CALLS = Number(args.calls);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const AGENTS = Number(args.agents);
const PRICE = 1_000n;
const SERVICE = "bench-ledger-writes";
/** Calls of headroom in every voucher over that agent's calls signed before it (calls overtake each other). */
const HEADROOM = CONNECTIONS * 64;

const log = (line: string) => console.error(`[bench:ledger-writes] ${line}`);
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const children = benchChildren();
const child = children.start;
const cleanups: (() => Promise<unknown>)[] = [];




type TableCounters = { ins: number; upd: number; hotUpd: number; del: number; liveRows: number; totalBytes: number; heapBytes: number; indexBytes: number };
type Snapshot = { tables: Record<string, TableCounters>; otherSchemas: { ins: number; upd: number; del: number }; walLsn: string; wal: { records: number; fpi: number; bytes: number }; commits: number; charges: number };

/** The ledger's counters and sizes now, and the cluster's WAL position. */
async function snapshot(sql: Sql): Promise<Snapshot> {
  // Our own session's pending counters first (the API's backends have exited by now).
  await sql`SELECT pg_stat_force_next_flush()`;
  await sleep(200);
  const rows = await sql<{ relname: string; ins: string; upd: string; hot_upd: string; del: string; live: string; total: string; heap: string; idx: string }[]>`
    SELECT relname, n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot_upd, n_tup_del::text AS del, n_live_tup::text AS live,
           pg_total_relation_size(relid)::text AS total, pg_table_size(relid)::text AS heap, pg_indexes_size(relid)::text AS idx
    FROM pg_stat_user_tables WHERE schemaname = ${API_SCHEMA} ORDER BY relname`;
  const [other] = await sql<{ ins: string; upd: string; del: string }[]>`
    SELECT coalesce(sum(n_tup_ins), 0)::text AS ins, coalesce(sum(n_tup_upd), 0)::text AS upd, coalesce(sum(n_tup_del), 0)::text AS del
    FROM pg_stat_user_tables WHERE schemaname <> ${API_SCHEMA}`;
  const [wal] = await sql<{ lsn: string; records: string; fpi: string; bytes: string; commits: string }[]>`
    SELECT pg_current_wal_lsn()::text AS lsn, w.wal_records::text AS records, w.wal_fpi::text AS fpi, w.wal_bytes::text AS bytes,
           (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::text AS commits
    FROM pg_stat_wal w`;
  const [charges] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM charges WHERE service_id = ${SERVICE}`;
  return {
    tables: Object.fromEntries(
      rows.map((r) => [
        r.relname,
        { ins: +r.ins, upd: +r.upd, hotUpd: +r.hot_upd, del: +r.del, liveRows: +r.live, totalBytes: +r.total, heapBytes: +r.heap, indexBytes: +r.idx },
      ]),
    ),
    otherSchemas: { ins: Number(other?.ins), upd: Number(other?.upd), del: Number(other?.del) },
    walLsn: wal?.lsn ?? "0/0",
    wal: { records: Number(wal?.records), fpi: Number(wal?.fpi), bytes: Number(wal?.bytes) },
    commits: Number(wal?.commits),
    charges: charges?.n ?? 0,
  };
}

async function walBytesBetween(sql: Sql, from: string, to: string): Promise<number> {
  const [row] = await sql<{ d: string }[]>`SELECT pg_wal_lsn_diff(${to}::pg_lsn, ${from}::pg_lsn)::text AS d`;
  return Number(row?.d);
}

async function main() {
  const startedAt = performance.now();
  const upstream = await child("upstream.ts");
  const upstreamUrl = `http://127.0.0.1:${upstream.ready.port as number}`;
  const loadgen = (await child("loadgen.ts")).proc;
  log("starting the stack (embedded PostgreSQL, Hardhat JSON-RPC, deploy, Ponder)");
  const chain = await startIndexerStack();
  cleanups.push(() => chain.stop());
  const sql: Sql = postgres(chain.databaseUrl, { max: 1, connection: { search_path: `${API_SCHEMA},public` }, onnotice: () => {} });
  cleanups.push(() => sql.end({ timeout: 5 }));
  const config: ApiConfig = {
    ...defaultApiConfig,
    // A few agents make every call: the per-agent limit must not bind (its window row is still written).
    rateLimit: { max: 1_000_000_000, windowMs: 60_000 },
    allowPrivateUpstreams: true,
    databaseUrl: chain.databaseUrl,
    chainViewsSchema: chain.reader.viewsSchema,
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    receiptSignerKey: hardhatDeployerKey,
  };
  /** A fresh API process on the stack; stopping it closes its pool, which publishes its counters. */
  const startApi = async () => {
    const proc = (await child("paidProxy.ts")).proc;
    const url = (await ask<{ url: string }>(proc, { type: "start", config }, "listening")).url;
    return { proc, url: `${url}/v1/proxy/${SERVICE}/echo` };
  };

  // The first API process applies the migrations; the service is listed once they exist.
  const warm = await startApi();
  const agents: VoucherAgent[] = Array.from({ length: AGENTS }, (_, i) => {
    const privateKey = keccak256(toHex(`bench ledger-writes agent ${i}`)) as Hex;
    return { privateKey, account: privateKeyToAccount(privateKey) };
  });
  const deposit = PRICE * BigInt(Math.ceil((CALLS + WARMUP) / AGENTS) + HEADROOM) * 2n;
  const provider = privateKeyToAccount(keccak256(toHex("bench ledger-writes provider")));
  for (const agent of agents) await depositAs(chain, agent.account, deposit);
  for (const agent of agents) await chain.waitFor(() => getAgentAccount(chain.reader, { account: agent.account.address }), (a) => a?.balance === deposit);
  await listService({ app: { sql } } as unknown as ApiStack, { id: SERVICE, provider: provider.address, upstreamUrl, price: PRICE });
  const signer = voucherHeaders(chain.deployment, { provider: provider.address });
  await signer.checkParity(agents[0] as VoucherAgent);
  const pool = WARMUP + CALLS + 4 * CONNECTIONS;
  const headers = Array.from({ length: pool }, (_, g) => signer.fast(agents[g % AGENTS] as VoucherAgent, PRICE * BigInt(Math.floor(g / AGENTS) + HEADROOM)));
  await ask(loadgen, { type: "headers", headers }, "headers-ok");
  log(`stack up, ${AGENTS} agents funded and indexed, ${pool} vouchers signed in ${round((performance.now() - startedAt) / 1000, 1)} s`);

  let runId = 0;
  const load = (url: string, amount: number) =>
    ask<LoadResult>(loadgen, { type: "run", id: ++runId, url, connections: CONNECTIONS, seconds: 120, amount, paid: true } satisfies LoadRun, "result");

  // Warm-up: every agent's ledger rows exist, as for an agent that has paid before.
  const warmed = await load(warm.url, Math.max(WARMUP - (WARMUP % CONNECTIONS), CONNECTIONS));
  await stopChild(warm.proc);
  log(`warm-up: ${warmed.responses} calls, statuses ${JSON.stringify(warmed.status)}`);

  // The machine's idle WAL (Ponder following the chain, PostgreSQL's own housekeeping).
  const idleFrom = await snapshot(sql);
  const idleStart = performance.now();
  await sleep(3_000);
  const idleTo = await snapshot(sql);
  const idleWalBytesPerSecond = (await walBytesBetween(sql, idleFrom.walLsn, idleTo.walLsn)) / ((performance.now() - idleStart) / 1000);

  const measured = await startApi();
  const before = await snapshot(sql);
  const runStart = performance.now();
  const result = await load(measured.url, CALLS - (CALLS % CONNECTIONS));
  await stopChild(measured.proc);
  await sleep(500);
  const after = await snapshot(sql);
  const seconds = (performance.now() - runStart) / 1000;

  const ok = Object.entries(result.status).reduce((sum, [code, n]) => sum + (code.startsWith("2") ? n : 0), 0);
  const charges = after.charges - before.charges;
  if (ok === 0) throw new Error(`no paid call succeeded: ${JSON.stringify(result.status)} ${result.failures.join(" | ")}`);
  const per = (n: number, digits = 3) => round(n / ok, digits);
  const tables = Object.keys(after.tables)
    .map((name) => {
      const a = after.tables[name] as TableCounters;
      const b = before.tables[name] ?? { ins: 0, upd: 0, hotUpd: 0, del: 0, liveRows: 0, totalBytes: 0, heapBytes: 0, indexBytes: 0 };
      return {
        table: name,
        inserted: per(a.ins - b.ins),
        updated: per(a.upd - b.upd),
        hotUpdated: per(a.hotUpd - b.hotUpd),
        deleted: per(a.del - b.del),
        bytes: per(a.totalBytes - b.totalBytes, 1),
        heapBytes: per(a.heapBytes - b.heapBytes, 1),
        indexBytes: per(a.indexBytes - b.indexBytes, 1),
        rowsAfter: a.liveRows,
      };
    })
    .filter((t) => t.inserted || t.updated || t.deleted || t.bytes);
  const walBytes = await walBytesBetween(sql, before.walLsn, after.walLsn);
  const sum = (key: "inserted" | "updated" | "deleted" | "bytes") => round(tables.reduce((s, t) => s + t[key], 0), 3);
  const perCall = {
    rowsInserted: sum("inserted"),
    rowsUpdated: sum("updated"),
    rowsDeleted: sum("deleted"),
    tableAndIndexBytes: round(sum("bytes"), 1),
    walBytes: per(walBytes, 1),
    walRecords: per(after.wal.records - before.wal.records, 2),
    walFullPageImages: per(after.wal.fpi - before.wal.fpi, 3),
    commits: per(after.commits - before.commits, 3),
  };

  const pad = (value: string | number, width: number) => String(value).padStart(width);
  console.log(`\n${ok} paid calls (${CONNECTIONS} connections, ${AGENTS} agents, a fresh voucher each) in ${round(seconds, 1)} s; ${charges} charges written; statuses ${JSON.stringify(result.status)}`);
  console.log(`per paid call: ${perCall.rowsInserted} rows inserted, ${perCall.rowsUpdated} updated, ${perCall.rowsDeleted} deleted; ${perCall.tableAndIndexBytes} bytes of table and index growth; ${perCall.walBytes} WAL bytes (${perCall.walRecords} records, ${perCall.walFullPageImages} full-page images); ${perCall.commits} commits`);
  console.log(`idle background WAL: ${Math.round(idleWalBytesPerSecond)} bytes/s (over the run: ${per(idleWalBytesPerSecond * seconds, 1)} bytes per call of it)`);
  console.log(`\n${"table".padEnd(20)} ${pad("ins", 7)} ${pad("upd", 7)} ${pad("(HOT)", 7)} ${pad("del", 7)} ${pad("bytes", 8)} ${pad("heap", 8)} ${pad("index", 8)}   (per paid call)`);
  for (const t of tables) {
    console.log(`${t.table.padEnd(20)} ${pad(t.inserted, 7)} ${pad(t.updated, 7)} ${pad(t.hotUpdated, 7)} ${pad(t.deleted, 7)} ${pad(t.bytes, 8)} ${pad(t.heapBytes, 8)} ${pad(t.indexBytes, 8)}`);
  }
  const otherRows = (after.otherSchemas.ins - before.otherSchemas.ins) + (after.otherSchemas.upd - before.otherSchemas.upd) + (after.otherSchemas.del - before.otherSchemas.del);
  console.log(`(rows written outside the ledger's schema meanwhile, Ponder's: ${otherRows})`);

  if (args.out !== "-") {
    const out = path.resolve(args.out);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(
      out,
      `${JSON.stringify(
        {
          calls: { paidOk: ok, statuses: result.status, charges, connections: CONNECTIONS, agents: AGENTS, warmup: warmed.responses, seconds: round(seconds, 1) },
          perCall,
          tables,
          background: { idleWalBytesPerSecond: Math.round(idleWalBytesPerSecond), walBytesPerCallFromIdleBackground: per(idleWalBytesPerSecond * seconds, 1), rowsWrittenOutsideLedger: otherRows },
          notes: {
            method: "pg_stat_user_tables (n_tup_ins/upd/hot_upd/del) and pg_total_relation_size / pg_table_size / pg_indexes_size deltas per table of the ledger's schema, WAL from pg_current_wal_lsn (pg_wal_lsn_diff) and pg_stat_wal, commits from pg_stat_database; the API process is stopped before each reading so that its counters are published",
            sizes: "table and index growth rounds to 8 KiB pages and counts free space PostgreSQL has not reused yet (fillfactor, dead tuples from updates): a figure over many calls, not a row width",
            wal: "cluster-wide: includes the idle background reported beside it, and full-page images after a checkpoint (default settings, checkpoint_timeout 5 min)",
            agentsWarm: "every agent paid during the warm-up, so its ledger_accounts and spend_tracks rows exist (a first call inserts them instead of updating)",
          },
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
  }
  log(`done in ${round((performance.now() - startedAt) / 1000, 1)} s`);
  if (charges !== ok) {
    log(`the ledger has ${charges} charges for ${ok} paid 2xx`);
    process.exitCode = 1;
  }
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

const watchdog = setTimeout(() => {
  log("took over 5 minutes; stopping");
  process.exitCode = 1;
  void cleanup().finally(() => process.exit(1));
}, 300_000);
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
