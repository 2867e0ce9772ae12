import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { agentTabReputationAbi, authorizationHeader, signIn, verifyReceipt } from "@agenttab/sdk";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 25_000n; // 0.025 USDC

describe("api: the paid call", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let failing = false;
  const agent = testAccount("proxy agent");
  const provider = testAccount("proxy provider");

  const ledger = async () => {
    const [row] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${agent.address.toLowerCase()}`;
    return { charged: BigInt(row?.charged ?? 0), reserved: BigInt(row?.reserved ?? 0) };
  };

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      if (failing) {
        res.writeHead(503).end("down");
        return;
      }
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json", connection: "keep-alive" });
        res.end(JSON.stringify({ path: req.url, method: req.method, body, sawPaymentHeader: "payment-signature" in req.headers }));
      });
    });
    stack = await startApiStack();
    await listService(stack, { id: "echo", provider: provider.address, upstreamUrl: `${upstream.url}/api`, price: PRICE });
    await depositAs(stack.chain, agent, 1_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("asks for payment with an x402 v2 PAYMENT-REQUIRED header", async () => {
    const res = await stack.app.inject({ method: "GET", url: "/v1/proxy/echo/weather?city=paris" });
    expect(res.statusCode).toBe(402);
    expect(res.json()).toMatchObject({ code: "payment_required" });
    const required = decodePaymentRequiredHeader(res.headers["payment-required"] as string);
    expect(required.x402Version).toBe(2);
    expect(required.accepts[0]).toMatchObject({
      scheme: "agenttab-voucher",
      network: "eip155:31337",
      amount: PRICE.toString(),
      asset: stack.chain.deployment.usdc,
      // The voucher pays the service's provider, drawn on the escrow.
      payTo: provider.address,
    });
    expect(required.accepts[0]?.extra).toMatchObject({
      escrow: stack.chain.deployment.escrow,
      eip712: { name: "AgentTab Escrow", version: "1", chainId: 31337 },
      primaryType: "Voucher",
      provider: provider.address,
    });
  });

  it("forwards a paid call, charges it, and answers with a receipt the reputation contract accepts", async () => {
    const payment = await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: PRICE });
    const res = await stack.app.inject({
      method: "POST",
      url: "/v1/proxy/echo/weather?city=paris",
      headers: { "payment-signature": payment, "content-type": "application/json" },
      payload: JSON.stringify({ hello: "world" }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ path: "/api/weather?city=paris", method: "POST", body: '{"hello":"world"}', sawPaymentHeader: false });
    expect(res.headers).toMatchObject({
      "x-acf-amount": PRICE.toString(),
      "x-acf-currency": "USDC",
      "x-acf-provider": provider.address.toLowerCase(),
    });
    expect(Number(res.headers["x-acf-latency-ms"])).toBeGreaterThanOrEqual(0);
    expect(Number(res.headers["x-acf-rate-limit-remaining"])).toBeGreaterThan(0);

    const settle = decodePaymentResponseHeader(res.headers["payment-response"] as string);
    expect(settle).toMatchObject({ success: true, network: "eip155:31337", payer: agent.address, amount: PRICE.toString() });
    const receipt = (settle.extensions as { agenttab: { receipt: Record<string, string> } }).agenttab.receipt;
    const { chainId, reputation, receiptSigner } = stack.chain.deployment;
    const message = {
      requestId: receipt.requestId as `0x${string}`,
      serviceId: receipt.serviceId as `0x${string}`,
      provider: receipt.provider as `0x${string}`,
      payer: receipt.payer as `0x${string}`,
      amount: BigInt(receipt.amount as string),
      cumulative: BigInt(receipt.cumulative as string),
      issuedAt: BigInt(receipt.issuedAt as string),
    };
    expect(message.cumulative).toBe(PRICE);
    expect(await verifyReceipt({ chainId, reputation, receipt: message, signature: receipt.signature as `0x${string}`, signer: receiptSigner })).toBe(true);

    // The charge and its voucher were committed before the response.
    expect(await ledger()).toEqual({ charged: PRICE, reserved: 0n });
    const tracks = await stack.app.sql`SELECT provider, charged, voucher_max FROM spend_tracks WHERE account = ${agent.address.toLowerCase()}`;
    expect(tracks).toEqual([{ provider: provider.address.toLowerCase(), charged: PRICE.toString(), voucher_max: PRICE.toString() }]);

    // The agent can prove the paid call on-chain with the receipt.
    const wallet = await stack.chain.walletFor(agent);
    await stack.chain.mined(
      wallet.writeContract({ address: reputation, abi: agentTabReputationAbi, functionName: "giveFeedback", args: [message, receipt.signature as `0x${string}`, 95, ["fast"]] }),
    );
  });

  it("shows the paid call in the agent's own transactions, balance and spending", async () => {
    const { chainId, escrow } = stack.chain.deployment;
    const authorization = authorizationHeader(await signIn(agent, { chainId, escrow, ttlSeconds: 600 }));
    const get = (url: string) => stack.app.inject({ method: "GET", url, headers: { authorization } });
    const transactions = (await get(`/v1/agents/${agent.address}/transactions`)).json();
    expect(transactions.items).toHaveLength(1);
    expect(transactions.items[0]).toMatchObject({ serviceId: "echo", amount: PRICE.toString(), cumulative: PRICE.toString(), method: "POST", settlementBatch: null });
    const balance = (await get(`/v1/agents/${agent.address}/balance`)).json();
    expect(balance).toMatchObject({ deposited: "1000000", balance: "1000000", unsettled: PRICE.toString(), reserved: "0", available: (1_000_000n - PRICE).toString() });
    const spending = (await get(`/v1/agents/${agent.address}/spending?period=day`)).json();
    expect(spending).toMatchObject({ total: PRICE.toString(), calls: 1, byService: [{ serviceId: "echo", total: PRICE.toString(), calls: 1 }] });
  });

  it("refuses a voucher that does not cover the next call, telling the client what it was charged", async () => {
    const stale = await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: PRICE });
    const res = await stack.app.inject({ method: "GET", url: "/v1/proxy/echo/again", headers: { "payment-signature": stale } });
    expect(res.statusCode).toBe(402);
    expect(res.json()).toMatchObject({ code: "voucher_too_low" });
    const required = decodePaymentRequiredHeader(res.headers["payment-required"] as string);
    expect(required.error).toBe("voucher_too_low");
    expect(required.accepts[0]?.extra).toMatchObject({ charged: PRICE.toString() });
    expect(await ledger()).toEqual({ charged: PRICE, reserved: 0n });
  });

  it("does not charge a call the upstream fails", async () => {
    failing = true;
    try {
      const payment = await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: 2n * PRICE });
      const res = await stack.app.inject({ method: "GET", url: "/v1/proxy/echo/x", headers: { "payment-signature": payment } });
      expect(res.statusCode).toBe(502);
      expect(res.json()).toMatchObject({ code: "upstream_failed", details: { upstreamStatus: 503 } });
      expect(await ledger()).toEqual({ charged: PRICE, reserved: 0n });
      const metrics = (await stack.app.inject({ method: "GET", url: "/metrics" })).body;
      expect(metrics).toContain('agenttab_calls_total{service="echo",outcome="charged"} 1');
      expect(metrics).toContain('agenttab_calls_total{service="echo",outcome="upstream_failed"} 1');
      expect(metrics).toContain(`agenttab_charged_usdc_atomic_total{service="echo"} ${PRICE}`);
      expect(metrics).toContain('agenttab_upstream_errors_total{service="echo",kind="http_503"} 1');
    } finally {
      failing = false;
    }
  });

  it("does not charge a call the upstream leaves hanging past the timeout", async () => {
    const hanging = await startUpstream(() => {
      // Never answers.
    });
    const quick = await startApiStack({ upstreamTimeoutMs: 300 });
    try {
      const slowAgent = testAccount("proxy timeout agent");
      await listService(quick, { id: "hangs", provider: provider.address, upstreamUrl: hanging.url, price: PRICE });
      await depositAs(quick.chain, slowAgent, 100_000n);
      await quick.chain.waitFor(() => getAgentAccount(quick.chain.reader, { account: slowAgent.address }), (a) => a?.balance === 100_000n);
      const payment = await voucherHeader(quick.chain.deployment, { signer: slowAgent, provider: provider.address, maxCumulative: PRICE });
      const res = await quick.app.inject({ method: "GET", url: "/v1/proxy/hangs/x", headers: { "payment-signature": payment } });
      expect(res.statusCode).toBe(504);
      expect(res.json()).toMatchObject({ code: "upstream_timeout" });
      const [row] = await quick.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${slowAgent.address.toLowerCase()}`;
      expect(row).toEqual({ charged: "0", reserved: "0" });
      const [outcome] = await quick.app.sql`SELECT ok FROM call_outcomes WHERE service_id = 'hangs'`;
      expect(outcome).toEqual({ ok: false });
    } finally {
      await quick.stop();
      hanging.server.closeAllConnections();
      await hanging.close();
    }
  }, 120_000);

  it("refuses a bad signature and an unreachable upstream without charging", async () => {
    const other = testAccount("someone else");
    const forged = await voucherHeader(stack.chain.deployment, { signer: other, account: agent.address, provider: provider.address, maxCumulative: 10n * PRICE });
    // Claim to be the agent while signing with another key.
    const decoded = JSON.parse(Buffer.from(forged, "base64").toString());
    decoded.payload.signer = agent.address;
    const tampered = Buffer.from(JSON.stringify(decoded)).toString("base64");
    const bad = await stack.app.inject({ method: "GET", url: "/v1/proxy/echo/x", headers: { "payment-signature": tampered } });
    expect(bad.statusCode).toBe(402);
    expect(bad.json()).toMatchObject({ code: "invalid_signature" });

    await listService(stack, { id: "gone", provider: provider.address, upstreamUrl: "http://127.0.0.1:9", price: PRICE });
    const payment = await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: 2n * PRICE });
    const unreachable = await stack.app.inject({ method: "GET", url: "/v1/proxy/gone/x", headers: { "payment-signature": payment } });
    expect(unreachable.statusCode).toBe(502);
    expect(unreachable.json()).toMatchObject({ code: "upstream_unreachable" });
    expect(await ledger()).toEqual({ charged: PRICE, reserved: 0n });
  });
});
