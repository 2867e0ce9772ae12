import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import type { Address, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getDelegation, listPendingWithdrawals } from "../../indexer/read/index.ts";
import type { SettleChain } from "../../scripts/settle/chain.ts";
import { createExclusive, parseDuration } from "../../scripts/settle/schedule.ts";
import { settle } from "../../scripts/settle/run.ts";
import { watchPass, watchWithdrawals } from "../../scripts/settle/watchtower.ts";
import { agentTabEscrowAbi, fiatTokenAbi, serializeDeployment } from "@agenttab/sdk";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService, voucherHeader } from "../api/helpers/payments.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";

const DEPOSIT = 3_000_000n;
const leaver = testAccount("watchtower leaver");
const stayer = testAccount("watchtower stayer");
const services = [
  { id: "wt-weather", provider: testAccount("watchtower provider 1").address, price: 25_000n },
  { id: "wt-search", provider: testAccount("watchtower provider 2").address, price: 40_003n },
];

describe("parseDuration and createExclusive", () => {
  it("reads --every durations and refuses the rest", () => {
    expect(parseDuration("7d")).toBe(7 * 86_400_000);
    expect(parseDuration("12h")).toBe(12 * 3_600_000);
    expect(parseDuration("30m")).toBe(30 * 60_000);
    expect(parseDuration("10s")).toBe(10_000);
    for (const bad of ["", "7", "0s", "-1h", "1w", "1.5h", "25d"]) expect(() => parseDuration(bad), bad).toThrow();
  });

  it("never overlaps two tasks, even when one fails", async () => {
    const exclusive = createExclusive();
    let running = 0;
    let most = 0;
    const task = (fail: boolean) => async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      if (fail) throw new Error("boom");
      return 1;
    };
    const results = await Promise.allSettled([exclusive(task(false)), exclusive(task(true)), exclusive(task(false))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(most).toBe(1);
  });
});

describe("watchtower: a withdrawal request gets its vouchers settled before the unlock", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let chain: SettleChain;
  /** What each signer was charged, per provider's track, and in all. */
  const spent = new Map<string, bigint>();
  const spentBy = (signer: Address) => [...spent].filter(([key]) => key.startsWith(`${signer}:`)).reduce((sum, [, v]) => sum + v, 0n);

  const read = <F extends "accountOf" | "earningsOf" | "WITHDRAWAL_DELAY">(functionName: F, args: readonly unknown[] = []) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName, args } as never) as Promise<any>;

  const pay = async (signer: LocalAccount, serviceIndex: number) => {
    const service = services[serviceIndex]!;
    const key = `${signer.address}:${service.provider}`;
    const next = (spent.get(key) ?? 0n) + service.price;
    const payment = await voucherHeader(stack.chain.deployment, { signer, provider: service.provider, maxCumulative: next });
    const res = await stack.app.inject({ method: "GET", url: `/v1/proxy/${service.id}/q`, headers: { "payment-signature": payment } });
    expect(res.statusCode, res.body).toBe(200);
    spent.set(key, next);
  };

  const unsettled = async (account: Address) => {
    const [row] = await stack.app.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM charges WHERE account = ${account.toLowerCase()} AND settlement_batch IS NULL`;
    return row!.n;
  };

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    stack = await startApiStack();
    chain = { publicClient: stack.chain.publicClient, walletClient: stack.chain.deployer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow };
    for (const s of services) await listService(stack, { id: s.id, provider: s.provider, upstreamUrl: upstream.url, price: s.price });
    for (const a of [leaver, stayer]) await depositAs(stack.chain, a, DEPOSIT);
    for (const a of [leaver, stayer]) await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: a.address }), (x) => x?.balance === DEPOSIT);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("settles the withdrawing agent's charges on its own, so finalizing pays exactly deposit − charged", async () => {
    for (let i = 0; i < 3; i++) for (let s = 0; s < services.length; s++) {
      await pay(leaver, s);
      await pay(stayer, s);
    }
    const charged = spentBy(leaver.address);

    await escrowAs(stack.chain, leaver, "requestWithdrawal", [DEPOSIT]);
    const requestedAt = (await stack.chain.publicClient.getBlock()).timestamp;
    const delay: bigint = BigInt(await read("WITHDRAWAL_DELAY"));
    const unlockAt = requestedAt + delay;

    const events: { event: string; fields?: Record<string, unknown> }[] = [];
    const tower = watchWithdrawals({
      sql: stack.app.sql,
      chain,
      reader: stack.chain.reader,
      intervalMs: 100,
      log: (event, fields) => events.push({ event, fields }),
    });
    let settledIn: number;
    try {
      // The indexer sees the request, then the watchtower's claim lands: on-chain claimed == ledger charged.
      await stack.chain.waitFor(() => listPendingWithdrawals(stack.chain.reader), (p) => p.some((a) => a.address.toLowerCase() === leaver.address.toLowerCase()));
      ({ ms: settledIn } = await stack.chain.waitFor(async () => (await read("accountOf", [leaver.address])).claimed as bigint, (c) => c === charged, 30_000));
      await stack.chain.waitFor(() => unsettled(leaver.address), (n) => n === 0);
    } finally {
      await tower.stop();
    }
    console.log(`watchtower settled the withdrawing agent ${settledIn.toFixed(0)} ms after the request was indexed`);
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["watch_started", "withdrawal_pending", "batch_mined", "watch_settled", "watch_stopped"]));
    expect(events.some((e) => e.event === "watch_failed")).toBe(false);

    // The claim landed before the unlock.
    const mined = events.find((e) => e.event === "batch_mined")!.fields!;
    const block = await stack.chain.publicClient.getBlock({ blockNumber: mined.blockNumber as bigint });
    expect(block.timestamp).toBeLessThan(unlockAt);

    // Restricted to the withdrawing agent: the other agent's charges wait for the weekly run.
    expect(await unsettled(stayer.address)).toBe(6);
    expect((await read("accountOf", [stayer.address])).claimed).toBe(0n);

    // Past the delay: the agent finalizes and gets exactly what it did not spend.
    await stack.chain.publicClient.request({ method: "evm_increaseTime" as never, params: [Number(delay) + 1] as never });
    await stack.chain.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    await escrowAs(stack.chain, leaver, "finalizeWithdrawal", []);
    const usdcBalance = await stack.chain.publicClient.readContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [leaver.address] });
    expect(usdcBalance).toBe(DEPOSIT - charged);
    expect((await read("accountOf", [leaver.address])).balance).toBe(0n);

    // Every charge of the agent reached its provider (less the fee).
    for (const s of services) {
      const [row] = await stack.app.sql<{ sum: string }[]>`
        SELECT coalesce(sum(amount - fee), 0)::text AS sum FROM charges WHERE provider = ${s.provider.toLowerCase()} AND account = ${leaver.address.toLowerCase()}`;
      expect(BigInt(row!.sum)).toBeGreaterThan(0n);
      expect(await read("earningsOf", [s.provider])).toBe(BigInt(row!.sum));
    }
  });

  it("settles a delegate's spending as soon as its owner revokes it, lowers its cap below it, or lets it near its expiry (issue 13)", async () => {
    const owners = [1, 2, 3, 4].map((i) => testAccount(`watchtower owner ${i}`));
    const delegates = [1, 2, 3, 4].map((i) => testAccount(`watchtower delegate ${i}`));
    const now = (await stack.chain.publicClient.getBlock()).timestamp;
    for (const [i, owner] of owners.entries()) {
      await depositAs(stack.chain, owner, DEPOSIT);
      // The third delegate expires in an hour of chain time: within the watchtower's horizon.
      await escrowAs(stack.chain, owner, "authorizeDelegate", [delegates[i]!.address, 1_000_000n, i === 2 ? Number(now) + 3_600 : 0]);
    }
    /** A paid call by the i-th delegate on the service's provider's track. */
    const delegatePays = async (i: number, service: (typeof services)[number]) => {
      const payment = await voucherHeader(stack.chain.deployment, { signer: delegates[i]!, account: owners[i]!.address, provider: service.provider, maxCumulative: service.price });
      const call = () => stack.app.inject({ method: "GET", url: `/v1/proxy/${service.id}/q`, headers: { "payment-signature": payment } });
      let res = await call();
      // Right after the transactions the proxy waits for the index to catch up.
      for (const deadline = Date.now() + 30_000; res.statusCode === 503 && Date.now() < deadline; res = await call()) await new Promise((r) => setTimeout(r, 50));
      expect(res.statusCode, res.body).toBe(200);
    };
    for (const [i, owner] of owners.entries()) {
      await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owner.address, delegate: delegates[i]!.address }), (d) => d?.active === true);
      await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: owner.address }), (a) => a?.balance === DEPOSIT);
      await delegatePays(i, services[0]!);
    }
    // The second delegate also spends on the other provider: neither track alone is above the
    // cap its owner lowers next, but the two together are.
    await delegatePays(1, services[1]!);
    const lowered = services[1]!.price + 1n;
    expect(services[0]!.price).toBeLessThan(lowered);
    await escrowAs(stack.chain, owners[0]!, "revokeDelegate", [delegates[0]!.address]);
    await escrowAs(stack.chain, owners[1]!, "authorizeDelegate", [delegates[1]!.address, lowered, 0]); // below what it was charged over both
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owners[0]!.address, delegate: delegates[0]!.address }), (d) => d?.active === false);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owners[1]!.address, delegate: delegates[1]!.address }), (d) => d?.cap === lowered);

    const pass = await watchPass({ sql: stack.app.sql, chain, reader: stack.chain.reader });
    expect(pass.delegatesAtRisk).toEqual([
      { account: owners[0]!.address, delegate: delegates[0]!.address, reason: "revoked" },
      { account: owners[1]!.address, delegate: delegates[1]!.address, reason: "cap_lowered" },
      { account: owners[2]!.address, delegate: delegates[2]!.address, reason: "expiring" },
    ].sort((a, b) => a.account.toLowerCase().localeCompare(b.account.toLowerCase())));
    expect(pass.report?.status).toBe("settled");
    for (const i of [0, 1, 2]) {
      expect(await unsettled(owners[i]!.address), `owner ${i + 1}`).toBe(0);
      // The delegate's total over its providers.
      const claimed = i === 1 ? services[0]!.price + services[1]!.price : services[0]!.price;
      expect((await read("delegationOf" as never, [owners[i]!.address, delegates[i]!.address])).claimed, `delegate ${i + 1} claimed`).toBe(claimed);
    }
    // An owner who did none of this waits for the weekly run (settled here, for the next test's count).
    expect(await unsettled(owners[3]!.address)).toBe(1);
    await settle({ sql: stack.app.sql, chain, confirmations: 1, accounts: [owners[3]!.address] });
    expect(await unsettled(owners[3]!.address)).toBe(0);
  });

  it("runs as a CLI with --every: a run at once, the watchtower in between, a clean stop on SIGTERM", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "agenttab-settle-every-"));
    try {
      await writeFile(path.join(dir, "31337.json"), serializeDeployment(stack.chain.deployment));
      const child = spawn(
        process.execPath,
        [path.join(import.meta.dirname, "..", "..", "scripts", "settle.ts"), "--rpc", stack.chain.rpcUrl, "--every", "1d", "--watch-interval", "1s", "--views-schema", stack.chain.reader.viewsSchema],
        { env: { ...process.env, DATABASE_URL: stack.chain.databaseUrl, AGENTTAB_DEPLOYMENTS_DIR: dir }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      // Complete lines only: a chunk may end mid-line.
      const lines = () => stdout.slice(0, stdout.lastIndexOf("\n") + 1).split("\n").filter(Boolean).map((line) => JSON.parse(line) as { event: string; [k: string]: unknown });
      try {
        // The first run settles the other agent at once; then it waits a day, the watchtower polling.
        await stack.chain.waitFor(async () => lines().map((l) => l.event), (events) => events.includes("next_run") && events.includes("watch_started"), 30_000);
      } finally {
        child.kill("SIGTERM");
      }
      expect(await exited, `${stdout}\n${stderr}`).toBe(0);
      const events = lines();
      // The other agent's two tracks, one per provider.
      expect(events.find((l) => l.event === "summary")).toMatchObject({ status: "settled", batches: [expect.objectContaining({ agents: 1, claims: 2 })] });
      expect(events.find((l) => l.event === "run_finished")).toMatchObject({ run: 1, code: 0 });
      expect(events.map((l) => l.event).slice(-2)).toEqual(["watch_stopped", "stopped"]);
      expect(await unsettled(stayer.address)).toBe(0);
      expect((await read("accountOf", [stayer.address])).claimed).toBe(spentBy(stayer.address));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
