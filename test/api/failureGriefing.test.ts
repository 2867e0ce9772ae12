import type { AddressInfo } from "node:net";

import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import type { Address, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Team } from "@agenttab/sdk";

import { getReliability, isDegraded } from "../../api/src/gates/reliability.ts";
import { getAgentAccount, getProviderAccount } from "../../indexer/read/index.ts";
import { failedCalls } from "@agenttab/ledger/settlement";
import { settle } from "../../scripts/settle/run.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { awaitFreshWindow } from "./helpers/clockWindow.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader, wrongProviderPayee } from "./helpers/payments.ts";

const PRICE = 10_000n;
const DEPOSIT = 1_000_000n;
// record_failed_call's default daily cap (ledger/functions/record_failed_call.sql).
const DAILY_CAP = 20;
const GATE = { windowCalls: 5, minReliability: 0.9, maxLatencyMs: 5_000, probeIntervalMs: 60_000 };
const BOUND = { minReliabilityBps: 9_000, windowCalls: GATE.windowCalls };

/** Runs `task(0)` … `task(count − 1)`, at most `concurrency` at a time. */
async function inBatches(count: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

describe("api: free failing calls cannot damage a provider's record (issue 12, item 8)", () => {
  let stack: ApiStack;
  let baseUrl: string;
  // Answers 503 on /fail (and on everything while `down`), 200 otherwise.
  const flakyState = { down: false };
  let flaky: Awaited<ReturnType<typeof startUpstream>>;
  let backup: Awaited<ReturnType<typeof startUpstream>>;
  const flakyProvider = testAccount("griefing flaky provider");
  const backupProvider = testAccount("griefing backup provider");
  const countedProvider = testAccount("griefing counted provider");
  const exactProvider = testAccount("griefing exact provider");
  const owner = testAccount("griefing gated owner");
  const griefer = testAccount("griefing griefer");
  const payerFew = testAccount("griefing payer of 3 calls");
  const payerMany = testAccount("griefing payer of 25 calls");
  const exactPayer = testAccount("griefing exact payer");
  const providerOf: Record<string, Address> = {
    "flaky-llm": flakyProvider.address,
    "backup-llm": backupProvider.address,
    "counted-api": countedProvider.address,
    "exact-api": exactProvider.address,
  };
  // One voucher per (agent, provider), good for the whole deposit: the balance is what binds.
  const vouchers = new Map<string, Promise<string>>();
  const voucherFor = (agent: LocalAccount, provider: Address) => {
    const key = `${agent.address}/${provider}`;
    if (!vouchers.has(key)) vouchers.set(key, voucherHeader(stack.chain.deployment, { signer: agent, provider, maxCumulative: DEPOSIT }));
    return vouchers.get(key) as Promise<string>;
  };

  /**
   * One voucher-paid call through the real proxy (inject), by `agent` on its own account, for the
   * addressed service's provider; re-signed once for the provider a 402 `wrong_provider` names (a
   * gate routed it to a backup of another provider).
   */
  async function call(agent: LocalAccount, serviceId: string, path: "ok" | "fail") {
    const send = async (provider: Address) =>
      stack.app.inject({ method: "GET", url: `/v1/proxy/${serviceId}/${path}`, headers: { "payment-signature": await voucherFor(agent, provider) } });
    let res = await send(providerOf[serviceId] as Address);
    const payee = wrongProviderPayee(res.statusCode, res.headers["payment-required"]);
    if (payee !== undefined) res = await send(payee);
    return { status: res.statusCode, servedBy: (res.headers["x-acf-served-by"] as string | undefined) ?? null, code: res.statusCode === 200 ? null : (res.json() as { code: string }).code };
  }

  /** One x402 `exact` call, signed by a stock @x402/evm client for the 402's exact offer. */
  async function exactCall(serviceId: string, path: "ok" | "fail") {
    const offered = await stack.app.inject({ method: "GET", url: `/v1/proxy/${serviceId}/${path}` });
    const requirements = decodePaymentRequiredHeader(offered.headers["payment-required"] as string).accepts.find((a) => a.scheme === "exact");
    if (!requirements) throw new Error("no exact offer");
    const { payload } = await new ExactEvmScheme(exactPayer).createPaymentPayload(2, requirements);
    const header = encodePaymentSignatureHeader({ x402Version: 2, accepted: requirements, payload });
    const res = await stack.app.inject({ method: "GET", url: `/v1/proxy/${serviceId}/${path}`, headers: { "payment-signature": header } });
    return { status: res.statusCode, code: res.statusCode === 200 ? null : (res.json() as { code: string }).code };
  }

  /** `account`'s failed outcomes on `serviceId`: every one is kept, counted or not. */
  async function failuresOf(account: Address, serviceId: string) {
    const [row] = await stack.app.sql<{ counted: number; uncounted: number }[]>`
      SELECT (count(*) FILTER (WHERE counted))::int AS counted, (count(*) FILTER (WHERE NOT counted))::int AS uncounted
      FROM call_outcomes WHERE account = ${account.toLowerCase()} AND service_id = ${serviceId} AND NOT ok`;
    return row;
  }

  /** What the weekly settlement would report on-chain as `provider`'s callsFailed now. */
  const reportedFailures = async (provider: Address) => (await failedCalls(stack.app.sql, new Date().toISOString())).get(provider) ?? 0;

  const reliabilityOfFlaky = () => getReliability(stack.app.sql, { serviceId: "flaky-llm", windowCalls: GATE.windowCalls, maxLatencyMs: GATE.maxLatencyMs });

  beforeAll(async () => {
    // The daily cap counts since 00:00 UTC: never straddle midnight (waits only within 3 min of it).
    await awaitFreshWindow(86_400_000, 180_000);
    flaky = await startUpstream((req, res) => {
      req.resume().on("end", () => {
        if (flakyState.down || req.url?.endsWith("/fail")) res.writeHead(503, { "content-type": "text/plain" }).end("down");
        else res.writeHead(200, { "content-type": "application/json" }).end('{"servedBy":"flaky"}');
      });
    });
    backup = await startUpstream((req, res) => {
      req.resume().on("end", () => res.writeHead(200, { "content-type": "application/json" }).end('{"servedBy":"backup"}'));
    });
    stack = await startApiStack({ rateLimit: { max: 10_000, windowMs: 60_000 } });
    await listService(stack, { id: "flaky-llm", provider: flakyProvider.address, upstreamUrl: flaky.url, price: PRICE });
    await listService(stack, { id: "backup-llm", provider: backupProvider.address, upstreamUrl: backup.url, price: PRICE });
    await listService(stack, { id: "counted-api", provider: countedProvider.address, upstreamUrl: flaky.url, price: PRICE });
    await listService(stack, { id: "exact-api", provider: exactProvider.address, upstreamUrl: flaky.url, price: PRICE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;

    const agents = [owner, griefer, payerFew, payerMany];
    for (const agent of agents) await depositAs(stack.chain, agent, DEPOSIT);
    await stack.chain.mint(exactPayer.address, DEPOSIT);
    for (const agent of agents) await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === DEPOSIT);

    const team = await Team.create({ apiUrl: baseUrl, owner, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, name: "gated on flaky-llm" });
    await team.addQualityGate({ primary: "flaky-llm", backup: "backup-llm", ...GATE });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await flaky?.close();
    await backup?.close();
  });

  it("1,000 failing calls by an agent that never paid the service trip no other agent's gate and report no failure", async () => {
    // The gated owner's own paid history: a full window of successes.
    for (let i = 0; i < 6; i++) expect(await call(owner, "flaky-llm", "ok")).toMatchObject({ status: 200, servedBy: "flaky-llm" });

    const statuses = new Map<string, number>();
    await inBatches(1_000, 20, async () => {
      const { status, code } = await call(griefer, "flaky-llm", "fail");
      const key = `${status} ${code}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    });
    expect(Object.fromEntries(statuses)).toEqual({ "502 upstream_failed": 1_000 });

    // The owner's gate still sees a healthy primary: its calls keep going there, none to the backup.
    for (let i = 0; i < 3; i++) expect(await call(owner, "flaky-llm", "ok")).toMatchObject({ status: 200, servedBy: "flaky-llm" });
    expect(isDegraded(await reliabilityOfFlaky(), BOUND)).toBe(false);
    // Nothing to report on-chain against the provider.
    expect(await reportedFailures(flakyProvider.address)).toBe(0);

    // Not charged, and every failure is kept for the operator, none counted.
    const [ledger] = await stack.app.sql<{ charged: string; reserved: string }[]>`SELECT charged, reserved FROM ledger_accounts WHERE account = ${griefer.address.toLowerCase()}`;
    expect(ledger).toEqual({ charged: "0", reserved: "0" });
    expect(await failuresOf(griefer.address, "flaky-llm")).toEqual({ counted: 0, uncounted: 1_000 });
    const [provider] = await stack.app.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM call_outcomes o JOIN services s ON s.id = o.service_id
      WHERE s.provider = ${flakyProvider.address.toLowerCase()} AND NOT o.ok AND o.counted`;
    expect(provider?.n).toBe(0);
  }, 60_000);

  it(`counts exactly min(k, ${DAILY_CAP} a day) failures of an agent that paid the service for k calls`, async () => {
    let reported = 0;
    for (const [agent, paid, failing] of [
      [payerFew, 3, 30],
      [payerMany, 25, 40],
    ] as const) {
      for (let i = 0; i < paid; i++) expect(await call(agent, "counted-api", "ok")).toMatchObject({ status: 200 });
      // Concurrent failures serialize on the rule: neither bound is overshot.
      await inBatches(failing, 10, async () => {
        expect(await call(agent, "counted-api", "fail")).toMatchObject({ status: 502, code: "upstream_failed" });
      });
      const counted = Math.min(paid, DAILY_CAP);
      reported += counted;
      expect(await reportedFailures(countedProvider.address)).toBe(reported);
      expect(await failuresOf(agent.address, "counted-api")).toEqual({ counted, uncounted: failing - counted });
    }
    expect(reported).toBe(3 + DAILY_CAP);
  }, 60_000);

  it("counts an exact payer's failures only with settled exact payments behind them", async () => {
    for (let i = 0; i < 3; i++) expect(await exactCall("exact-api", "fail")).toEqual({ status: 502, code: "upstream_failed" });
    expect(await reportedFailures(exactProvider.address)).toBe(0);
    expect(await failuresOf(exactPayer.address, "exact-api")).toEqual({ counted: 0, uncounted: 3 });

    expect(await exactCall("exact-api", "ok")).toEqual({ status: 200, code: null });
    for (let i = 0; i < 3; i++) expect(await exactCall("exact-api", "fail")).toEqual({ status: 502, code: "upstream_failed" });
    expect(await reportedFailures(exactProvider.address)).toBe(1);
    expect(await failuresOf(exactPayer.address, "exact-api")).toEqual({ counted: 1, uncounted: 5 });
    const [success] = await stack.app.sql<{ account: string; counted: boolean }[]>`SELECT account, counted FROM call_outcomes WHERE service_id = 'exact-api' AND ok`;
    expect(success).toEqual({ account: exactPayer.address.toLowerCase(), counted: true });
  }, 60_000);

  it("still lets a paying agent's failures trip its gate: the honest signal is kept", async () => {
    flakyState.down = true;
    try {
      const outcomes: Awaited<ReturnType<typeof call>>[] = [];
      // Paced, so that each instance's 200 ms reliability cache sees the window fill.
      while (outcomes.length < 40 && outcomes.at(-1)?.servedBy !== "backup-llm") {
        outcomes.push(await call(owner, "flaky-llm", "ok"));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(outcomes.at(-1)).toMatchObject({ status: 200, servedBy: "backup-llm" });
      const failures = outcomes.filter((o) => o.status !== 200);
      expect(failures.length).toBeGreaterThan(0);
      for (const failure of failures) expect(failure).toMatchObject({ status: 502, code: "upstream_failed", servedBy: "flaky-llm" });
      // The owner paid for 9 calls: each of its failures counts.
      expect(await failuresOf(owner.address, "flaky-llm")).toEqual({ counted: failures.length, uncounted: 0 });
      expect(await reportedFailures(flakyProvider.address)).toBe(failures.length);
      expect(isDegraded(await reliabilityOfFlaky(), BOUND)).toBe(true);
    } finally {
      flakyState.down = false;
    }
  }, 60_000);

  it("the settlement reports only counted failures on-chain, and leaves none of them behind", async () => {
    const due = { flaky: await reportedFailures(flakyProvider.address), counted: await reportedFailures(countedProvider.address) };
    expect(due).toMatchObject({ counted: 3 + DAILY_CAP });
    expect(due.flaky).toBeGreaterThan(0);
    const report = await settle({
      sql: stack.app.sql,
      chain: { publicClient: stack.chain.publicClient, walletClient: stack.chain.deployer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow },
      confirmations: 1,
    });
    expect(report.status).toBe("settled");
    const payouts = report.batches.flatMap((b) => b.payouts);
    expect(payouts.find((p) => p.provider === countedProvider.address)?.callsFailed).toBe(due.counted);
    expect(payouts.find((p) => p.provider === flakyProvider.address)?.callsFailed).toBe(due.flaky);
    await stack.chain.waitFor(
      () => getProviderAccount(stack.chain.reader, { provider: countedProvider.address }),
      (p) => p?.callsFailed === BigInt(due.counted),
    );
    await stack.chain.waitFor(
      () => getProviderAccount(stack.chain.reader, { provider: flakyProvider.address }),
      (p) => p?.callsFailed === BigInt(due.flaky),
    );
    // exact-api had no voucher-paid calls in the batch: its counted failure is reported all the
    // same, in a report without claims that credits nothing.
    expect(payouts.find((p) => p.provider === exactProvider.address)).toMatchObject({ callsFailed: 1, callsServed: 0, amount: 0n });
    // Reported once: nothing counted is left for the next batch.
    expect(await reportedFailures(countedProvider.address)).toBe(0);
    expect(await reportedFailures(flakyProvider.address)).toBe(0);
    expect(await reportedFailures(exactProvider.address)).toBe(0);
    const [left] = await stack.app.sql<{ counted: number; uncounted: number }[]>`
      SELECT (count(*) FILTER (WHERE counted AND settlement_batch IS NULL))::int AS counted,
             (count(*) FILTER (WHERE NOT counted AND settlement_batch IS NOT NULL))::int AS uncounted
      FROM call_outcomes WHERE NOT ok AND service_id IN ('flaky-llm', 'counted-api')`;
    expect(left).toEqual({ counted: 0, uncounted: 0 });
  }, 60_000);
});
