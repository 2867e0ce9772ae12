import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import { awaitFreshWindow } from "./helpers/clockWindow.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 10_000n;

describe("api: what a paid call must respect", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const owner = testAccount("rules owner");
  const hot = testAccount("rules hot key");
  const saver = testAccount("rules saver");
  const provider = testAccount("rules provider");

  const call = async (signer: typeof owner, maxCumulative: bigint, { service = "rules", account = signer.address, headers = {} as Record<string, string> } = {}) =>
    stack.app.inject({
      method: "GET",
      url: `/v1/proxy/${service}/x`,
      headers: { "payment-signature": await voucherHeader(stack.chain.deployment, { signer, account, provider: provider.address, maxCumulative }), ...headers },
    });
  const charged = async (account: string, signer = account) => {
    const [row] = await stack.app.sql`
      SELECT charged FROM spend_tracks WHERE account = ${account.toLowerCase()} AND signer = ${signer.toLowerCase()} AND provider = ${provider.address.toLowerCase()}`;
    return BigInt(row?.charged ?? 0);
  };

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "x-usage-units": "3" }).end("ok");
    });
    stack = await startApiStack({ rateLimit: { max: 4, windowMs: 60_000 } });
    await listService(stack, { id: "rules", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await listService(stack, { id: "metered", provider: provider.address, upstreamUrl: upstream.url, pricing: "metered", price: 1_000n, maxPrice: 50_000n, usageHeader: "x-usage-units" });
    await depositAs(stack.chain, owner, 1_000_000n);
    await depositAs(stack.chain, saver, 100_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: saver.address }), (a) => a?.balance === 100_000n);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("lets a delegate spend its owner's deposit within its cap, and no further", async () => {
    await escrowAs(stack.chain, owner, "authorizeDelegate", [hot.address, 2n * PRICE, 0]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owner.address, delegate: hot.address }), (d) => d?.active === true);
    expect((await call(hot, PRICE, { account: owner.address })).statusCode).toBe(200);
    expect((await call(hot, 2n * PRICE, { account: owner.address })).statusCode).toBe(200);
    const over = await call(hot, 3n * PRICE, { account: owner.address });
    expect(over.statusCode).toBe(402);
    expect(over.json()).toMatchObject({ code: "delegate_cap_exceeded" });
    expect(await charged(owner.address, hot.address)).toBe(2n * PRICE);
    const [ledger] = await stack.app.sql`SELECT charged FROM ledger_accounts WHERE account = ${owner.address.toLowerCase()}`;
    expect(ledger?.charged).toBe((2n * PRICE).toString());
  });

  it("refuses a key that is not a delegate, and one whose delegation was revoked", async () => {
    const stranger = testAccount("rules stranger");
    const res = await call(stranger, PRICE, { account: owner.address });
    expect(res.statusCode).toBe(402);
    expect(res.json()).toMatchObject({ code: "delegate_not_authorized" });
    await escrowAs(stack.chain, owner, "revokeDelegate", [hot.address]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owner.address, delegate: hot.address }), (d) => d?.active === false);
    const revoked = await call(hot, 10n * PRICE, { account: owner.address });
    expect(revoked.json()).toMatchObject({ code: "delegate_not_authorized" });
  });

  it("counts a pending withdrawal as spent", async () => {
    await escrowAs(stack.chain, saver, "requestWithdrawal", [95_000n]);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: saver.address }), (a) => a?.pendingWithdrawal === 95_000n);
    const res = await call(saver, PRICE);
    expect(res.statusCode).toBe(402);
    expect(res.json()).toMatchObject({ code: "insufficient_funds", details: { available: "5000", required: PRICE.toString() } });
    expect(await charged(saver.address)).toBe(0n);
  });

  it("charges a metered call by the units the upstream reports", async () => {
    const res = await call(owner, 50_000n, { service: "metered" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-acf-amount"]).toBe("3000");
    expect(await charged(owner.address)).toBe(3_000n);
  });

  it("honours X-Payment-Max-Amount before anything runs", async () => {
    const tooCheap = await call(owner, 100_000n, { headers: { "x-payment-max-amount": "9999" } });
    expect(tooCheap.statusCode).toBe(402);
    expect(tooCheap.json()).toMatchObject({ code: "price_exceeds_max", details: { price: PRICE.toString(), max: "9999" } });
    const garbled = await call(owner, 100_000n, { headers: { "x-payment-max-amount": "-5" } });
    expect(garbled.statusCode).toBe(400);
    expect(garbled.json()).toMatchObject({ code: "invalid_max_amount" });
    expect(await charged(owner.address)).toBe(3_000n);
  });

  it("refuses unknown services, traversal paths and oversized bodies without charging", async () => {
    const payment = await voucherHeader(stack.chain.deployment, { signer: owner, provider: provider.address, maxCumulative: 100_000n });
    const cases: [string, string, Record<string, string>, number, string][] = [
      ["GET", "/v1/proxy/nope-service/x", {}, 404, "service_not_found"],
      ["GET", "/v1/proxy/rules/%2e%2e/admin", {}, 400, "invalid_path"],
      ["GET", "/v1/proxy/rules/a%2f..%2f..%2fetc", {}, 400, "invalid_path"],
      ["POST", "/v1/proxy/rules/x", { "content-length": String(2_000_000), "content-type": "application/octet-stream" }, 413, "body_too_large"],
    ];
    for (const [method, url, headers, status, code] of cases) {
      const res = await stack.app.inject({ method: method as "GET", url, headers: { "payment-signature": payment, ...headers }, ...(method === "POST" ? { payload: Buffer.alloc(10) } : {}) });
      expect([url, res.statusCode, res.json().code]).toEqual([url, status, code]);
    }
    expect(await charged(owner.address)).toBe(3_000n);
  });

  it("rate-limits per agent and service with Retry-After", async () => {
    const agent = testAccount("rules busy agent");
    await depositAs(stack.chain, agent, 1_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);
    const remaining: string[] = [];
    await awaitFreshWindow(60_000, 15_000);
    for (let i = 1; i <= 4; i++) {
      const res = await call(agent, BigInt(i) * PRICE);
      expect(res.statusCode).toBe(200);
      remaining.push(res.headers["x-acf-rate-limit-remaining"] as string);
    }
    expect(remaining).toEqual(["3", "2", "1", "0"]);
    const limited = await call(agent, 5n * PRICE);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: "rate_limited" });
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(await charged(agent.address)).toBe(4n * PRICE);
  });

  // Last: it leaves the indexer stopped.
  it("stops new spending when the index falls behind the chain", async () => {
    await stack.chain.indexer.stop();
    await stack.chain.publicClient.request({ method: "hardhat_mine" as never, params: ["0xa"] as never });
    const { value: res } = await stack.chain.waitFor(
      async () => call(owner, 200_000n),
      (r) => r.statusCode === 503,
    );
    expect(res.json()).toMatchObject({ code: "index_stale" });
    const health = await stack.app.inject({ method: "GET", url: "/healthz" });
    expect(health.statusCode).toBe(503);
    expect(Number(health.json().indexer.lagBlocks)).toBeGreaterThanOrEqual(10);
  });
});

describe("api: reservations that outlive their call", () => {
  it("are released by the sweeper, giving the balance back", async () => {
    const { reserve } = await import("@agenttab/ledger");
    const { sweepExpired } = await import("@agenttab/ledger");
    const stack = await startApiStack();
    try {
      const agent = testAccount("sweeper agent");
      await depositAs(stack.chain, agent, 50_000n);
      await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === 50_000n);
      await reserve(stack.app.sql, {
        requestId: "00000000-0000-4000-8000-000000000001",
        account: agent.address,
        signer: agent.address,
        provider: agent.address,
        serviceId: "any",
        maxAmount: 40_000n,
        voucherMax: 40_000n,
        signature: "0x",
        viewsSchema: stack.chain.reader.viewsSchema,
        ttlMs: 1,
      });
      const held = await stack.app.sql`SELECT reserved FROM ledger_accounts WHERE account = ${agent.address.toLowerCase()}`;
      expect(held[0]?.reserved).toBe("40000");
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await sweepExpired(stack.app.sql)).toBe(1);
      const after = await stack.app.sql`SELECT reserved FROM ledger_accounts WHERE account = ${agent.address.toLowerCase()}`;
      expect(after[0]?.reserved).toBe("0");
      const [track] = await stack.app.sql`SELECT reserved FROM spend_tracks WHERE account = ${agent.address.toLowerCase()}`;
      expect(track?.reserved).toBe("0");
    } finally {
      await stack.stop();
    }
  }, 120_000);
});
