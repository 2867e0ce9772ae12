import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import http from "node:http";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { decodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequired, PaymentRequirements } from "@x402/core/types";
import { bytesToHex, keccak256 } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ProviderClient, signVoucher, voucherPaymentHeader } from "@agenttab/sdk";
import type { ProviderService } from "@agenttab/sdk";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { startDemoProviders } from "../../scripts/demo/providers/catalog.ts";
import { startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService } from "../api/helpers/payments.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { startEchoStack } from "./helpers/echoStack.ts";
import type { EchoStack } from "./helpers/echoStack.ts";

const BIN = path.resolve(import.meta.dirname, "../../sdk/src/cli/main.ts");
const PRICE = 25_000n;
const DEPOSIT = 1_000_000n;
const keyOf = (label: string) => keccak256(bytesToHex(new TextEncoder().encode(label)));

describe("mcp: the AgentTab MCP server, driven by the official MCP SDK client", () => {
  let stack: ApiStack;
  let world: EchoStack;
  let upstream: EchoStack["upstream"];
  let apiUrl: string;
  const agent = testAccount("mcp agent");
  const payer = testAccount("mcp x402 payer");
  const provider = testAccount("mcp provider");
  const charged = async (account: `0x${string}`) => (await world.ledger(account)).charged;
  const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult;

  beforeAll(async () => {
    world = await startEchoStack({ price: PRICE, provider: provider.address, funded: [{ account: agent, amount: DEPOSIT }, { account: payer, amount: DEPOSIT }] });
    ({ stack, upstream, apiUrl } = world);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  /** The same checks over either transport: list, discover, pay, read, refuse. */
  async function exercise(client: Client) {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["call_service", "discover_services", "get_balance", "get_spending_report"]);
    const callTool = tools.find((t) => t.name === "call_service");
    expect(callTool?.inputSchema.required).toEqual(["service_id"]);
    expect(JSON.stringify(callTool?.inputSchema.properties?.max_amount)).toMatch(/atomic units/);
    expect(callTool?.outputSchema?.properties).toHaveProperty("receipt");

    const discovered = await call(client, "discover_services", { sort: "price", max_price: "25000" });
    expect(discovered.isError).toBeFalsy();
    expect(discovered.structuredContent).toMatchObject({ services: [{ id: "echo", price: "25000", priceUsdc: "0.025000", pricing: "fixed" }], nextCursor: null });
    expect((discovered.content[0] as { text: string }).text).toContain("echo: echo — 0.025000 USDC per call");

    const before = await charged(agent.address);
    const paid = await call(client, "call_service", { service_id: "echo", path: "/weather?city=paris", method: "POST", body: { hello: "world" }, max_amount: "25000" });
    expect(paid.isError).toBeFalsy();
    expect(paid.structuredContent).toMatchObject({
      serviceId: "echo",
      status: 200,
      data: { path: "/api/weather?city=paris", method: "POST", body: '{"hello":"world"}' },
      amount: "25000",
      amountUsdc: "0.025000",
      receipt: { payer: agent.address, amount: "25000", cumulative: (before + PRICE).toString() },
    });
    expect(await charged(agent.address)).toBe(before + PRICE);

    const balance = await call(client, "get_balance");
    expect(balance.structuredContent).toMatchObject({ deposited: "1000000", unsettled: (before + PRICE).toString(), reserved: "0", available: (DEPOSIT - before - PRICE).toString() });
    const report = await call(client, "get_spending_report", { period: "day" });
    expect(report.structuredContent).toMatchObject({ total: (before + PRICE).toString(), byService: [{ serviceId: "echo", total: (before + PRICE).toString() }] });

    const unknown = await call(client, "call_service", { service_id: "no-such-service" });
    expect(unknown.isError).toBe(true);
    expect(unknown._meta?.["agenttab/error"]).toMatchObject({ name: "ServiceNotFoundError", code: "service_not_found", charged: "0" });
    expect((unknown.content[0] as { text: string }).text).toMatch(/^ServiceNotFoundError \(service_not_found\): .*Nothing was charged\./);
    const tooDear = await call(client, "call_service", { service_id: "pricey", max_amount: "10000" });
    expect(tooDear.isError).toBe(true);
    expect(tooDear._meta?.["agenttab/error"]).toMatchObject({ name: "PriceExceedsMaxError", code: "price_exceeds_max" });
    const badAmount = await call(client, "call_service", { service_id: "echo", max_amount: "0.01" });
    expect(badAmount.isError).toBe(true);
    expect(await charged(agent.address)).toBe(before + PRICE);
  }

  it("serves the tools over stdio (agenttab mcp)", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, "mcp"],
      env: { PATH: process.env.PATH ?? "", AGENTTAB_API_URL: apiUrl, AGENTTAB_PRIVATE_KEY: keyOf("mcp agent") },
      stderr: "pipe",
    });
    const client = new Client({ name: "agenttab-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      expect(client.getServerVersion()).toMatchObject({ name: "agenttab" });
      expect(client.getInstructions()).toMatch(/atomic units/);
      await exercise(client);
    } finally {
      await client.close();
    }
  });

  it("serves the tools over Streamable HTTP on 127.0.0.1 (agenttab mcp --http), refusing foreign Host and Origin", async () => {
    const server = spawn(process.execPath, [BIN, "mcp", "--http", "--port", "0"], {
      env: { PATH: process.env.PATH ?? "", AGENTTAB_API_URL: apiUrl, AGENTTAB_PRIVATE_KEY: keyOf("mcp agent") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const url = await urlFrom(server);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      const client = new Client({ name: "agenttab-test", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      try {
        await exercise(client);
      } finally {
        await client.close();
      }

      const initialize = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
      const port = new URL(url).port;
      expect((await post(url, initialize, {})).status).toBe(200);
      expect((await post(url, initialize, { host: `evil.example:${port}` })).status).toBe(403);
      expect((await post(url, initialize, { origin: "http://evil.example" })).status).toBe(403);
      expect((await post(url, initialize, { origin: `http://localhost:${port}` })).status).toBe(200);
    } finally {
      server.kill("SIGTERM");
      const code = await new Promise<number | null>((resolve) => (server.exitCode === null ? server.once("exit", resolve) : resolve(server.exitCode)));
      expect(code).toBe(0);
    }
  });

  it("x402 MCP transport: a keyless server whose call_service the MCP client pays in _meta[\"x402/payment\"]", async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, "mcp", "--x402"], env: { PATH: process.env.PATH ?? "", AGENTTAB_API_URL: apiUrl }, stderr: "pipe" });
    const client = new Client({ name: "agenttab-x402-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(["call_service", "discover_services"]);
      const args = { service_id: "echo", path: "/paid", method: "POST", body: { n: 1 } };

      const unpaid = await call(client, "call_service", args);
      expect(unpaid.isError).toBe(true);
      const required = unpaid.structuredContent as unknown as PaymentRequired;
      expect(JSON.parse((unpaid.content[0] as { text: string }).text)).toEqual(required);
      const accepted = required.accepts.find((r) => r.scheme === "agenttab-voucher") as PaymentRequirements;
      expect(required.x402Version).toBe(2);
      // The voucher pays the service's provider (payTo), drawn on the escrow (extra.escrow).
      expect(accepted).toMatchObject({ amount: PRICE.toString(), payTo: provider.address, extra: { escrow: stack.chain.deployment.escrow, provider: provider.address } });
      expect(await charged(payer.address)).toBe(0n);

      const { chainId, escrow } = stack.chain.deployment;
      const payment = async (maxCumulative: bigint) =>
        decodePaymentSignatureHeader(
          voucherPaymentHeader({
            requirements: accepted,
            account: payer.address,
            signer: payer.address,
            provider: accepted.payTo as `0x${string}`,
            maxCumulative,
            signature: await signVoucher(payer, { chainId, escrow, account: payer.address, provider: accepted.payTo as `0x${string}`, maxCumulative }),
          }),
        );
      const voucher = await payment(PRICE);
      const paid = (await client.callTool({ name: "call_service", arguments: args, _meta: { "x402/payment": voucher } })) as CallToolResult;
      expect(paid.isError).toBeFalsy();
      expect(paid.structuredContent).toMatchObject({ status: 200, amount: "25000", data: { path: "/api/paid", method: "POST", body: '{"n":1}' }, receipt: { payer: payer.address, cumulative: "25000" } });
      expect(paid._meta?.["x402/payment-response"]).toMatchObject({ success: true, extensions: { agenttab: { receipt: { amount: "25000", cumulative: "25000" } } } });
      expect(await charged(payer.address)).toBe(PRICE);

      // The same voucher no longer covers what was charged plus this call: refused with the PaymentRequired, not charged.
      const replay = (await client.callTool({ name: "call_service", arguments: args, _meta: { "x402/payment": voucher } })) as CallToolResult;
      expect(replay.isError).toBe(true);
      expect(replay.structuredContent).toMatchObject({ error: "voucher_too_low", accepts: expect.arrayContaining([expect.objectContaining({ scheme: "agenttab-voucher", extra: expect.objectContaining({ charged: "25000" }) })]) });
      const garbage = (await client.callTool({ name: "call_service", arguments: args, _meta: { "x402/payment": { nonsense: true } } })) as CallToolResult;
      expect(garbage.isError).toBe(true);
      expect(await charged(payer.address)).toBe(PRICE);
      const second = (await client.callTool({ name: "call_service", arguments: args, _meta: { "x402/payment": await payment(2n * PRICE) } })) as CallToolResult;
      expect(second.structuredContent).toMatchObject({ amount: "25000", receipt: { cumulative: "50000" } });
      expect(await charged(payer.address)).toBe(2n * PRICE);
    } finally {
      await client.close();
    }
  });

  it("signs no voucher past 10 USDC in total by default (agenttab mcp); AGENTTAB_MAX_SPEND raises it", async () => {
    const spender = testAccount("mcp big spender");
    await depositAs(stack.chain, spender, 30_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: spender.address }), (a) => a?.balance === 30_000_000n);
    await listService(stack, { id: "mcp-dear", provider: provider.address, upstreamUrl: `${upstream.url}/api`, price: 6_000_000n });
    const serve = async (env: Record<string, string>, run: (client: Client) => Promise<void>) => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [BIN, "mcp"],
        env: { PATH: process.env.PATH ?? "", AGENTTAB_API_URL: apiUrl, AGENTTAB_PRIVATE_KEY: keyOf("mcp big spender"), ...env },
        stderr: "pipe",
      });
      const client = new Client({ name: "agenttab-test", version: "1.0.0" });
      await client.connect(transport);
      try {
        await run(client);
      } finally {
        await client.close();
      }
    };

    await serve({}, async (client) => {
      expect((await call(client, "call_service", { service_id: "mcp-dear" })).isError).toBeFalsy();
      // 6 USDC charged, and this call may cost 6 more: above the default 10, refused before signing.
      const capped = await call(client, "call_service", { service_id: "mcp-dear" });
      expect(capped.isError).toBe(true);
      expect(capped._meta?.["agenttab/error"]).toMatchObject({ name: "SpendLimitError", code: "spend_limit", charged: "0" });
    });
    expect(await charged(spender.address)).toBe(6_000_000n);
    await serve({ AGENTTAB_MAX_SPEND: "12" }, async (client) => {
      const paid = await call(client, "call_service", { service_id: "mcp-dear" });
      expect(paid.structuredContent).toMatchObject({ amount: "6000000", receipt: { cumulative: "12000000" } });
    });
    expect(await charged(spender.address)).toBe(12_000_000n);
  });

  it("answers every tool within its output schema for the demo's services and for unusual valid registrations", async () => {
    const demo = await startDemoProviders();
    const metered = await startUpstream((req, res) => res.writeHead(200, { "content-type": "text/plain", "x-units": "7" }).end(`metered ${req.url}`));
    try {
      for (const service of demo.services) {
        const owner = await ProviderClient.connect({ apiUrl, signer: testAccount(`mcp demo provider of ${service.serviceId}`) });
        await owner.register(service);
      }
      // Valid but unusual: examples that are JSON objects, arrays, numbers, texts, booleans and null; no
      // optional field at all; every field at its longest; metered pricing with a usage header.
      const echoUrl = `${upstream.url}/api`;
      const odd: ProviderService[] = [
        { serviceId: `odd-${"x".repeat(60)}`, name: "N".repeat(100), category: "odd", upstreamUrl: echoUrl, pricing: "fixed", price: 1_000n },
        {
          serviceId: "odd-json",
          name: "JSON examples",
          category: "odd",
          upstreamUrl: echoUrl,
          pricing: "fixed",
          price: 1_000n,
          exampleInput: JSON.stringify({ nested: { list: [1, "two", null], flag: false } }),
          exampleOutput: JSON.stringify([{ a: 1 }, [2], "three"]),
        },
        { serviceId: "odd-scalars", name: "Scalar examples", category: "odd", upstreamUrl: echoUrl, pricing: "fixed", price: 1_000n, exampleInput: "42", exampleOutput: "-3.5e2" },
        { serviceId: "odd-text", name: "Text examples", category: "odd", upstreamUrl: echoUrl, pricing: "fixed", price: 1_000n, exampleInput: '"hello"', exampleOutput: '"a plain text answer"' },
        {
          serviceId: "odd-metered",
          name: "Metered with a usage header",
          description: "d".repeat(2_000),
          category: "odd",
          tags: Array.from({ length: 16 }, (_, i) => `tag-${i}`),
          capabilities: ["x".repeat(48)],
          upstreamUrl: metered.url,
          pricing: "metered",
          price: 1_000n,
          maxPrice: 50_000n,
          usageHeader: "x-units",
          exampleInput: "true",
          exampleOutput: "null",
        },
      ];
      const oddProvider = await ProviderClient.connect({ apiUrl, signer: testAccount("mcp odd provider") });
      for (const service of odd) await oddProvider.register(service);

      const spender = testAccount("mcp odd agent");
      await depositAs(stack.chain, spender, 5_000_000n);
      await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: spender.address }), (a) => a?.balance === 5_000_000n);
      const examples = new Map([...demo.services, ...odd].map((s) => [s.serviceId, [s.exampleInput, s.exampleOutput].map((e) => (e ? (JSON.parse(e) as unknown) : null))]));
      /** A tool call that must succeed: an output that broke its schema would be an isError result. */
      const succeed = async (client: Client, name: string, args: Record<string, unknown> = {}) => {
        const result = await call(client, name, args);
        expect(result.isError, `${name} ${JSON.stringify(args)}: ${JSON.stringify(result.content)}`).toBeFalsy();
        expect(result.structuredContent).toBeDefined();
        return result;
      };
      const discoverAll = async (client: Client) => {
        const page = await succeed(client, "discover_services", { limit: 100 });
        const services = (page.structuredContent as { services: { id: string; exampleInput: unknown; exampleOutput: unknown }[] }).services;
        for (const [id, [input, output]] of examples) expect(services.find((s) => s.id === id), id).toMatchObject({ exampleInput: input, exampleOutput: output });
        for (const args of [{ category: "nlp", sort: "price" }, { category: "odd", tags: ["tag-3"] }, { max_price: "20000", sort: "price", limit: 2 }, { capability: "backtest" }]) {
          await succeed(client, "discover_services", args);
        }
      };

      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [BIN, "mcp"],
        env: { PATH: process.env.PATH ?? "", AGENTTAB_API_URL: apiUrl, AGENTTAB_PRIVATE_KEY: keyOf("mcp odd agent") },
        stderr: "pipe",
      });
      const client = new Client({ name: "agenttab-test", version: "1.0.0" });
      await client.connect(transport);
      try {
        await client.listTools(); // the client validates structured content against the listed schemas too
        await discoverAll(client);
        const calls: Record<string, unknown>[] = [
          { service_id: "sentiment-pro", path: "/sentiment", method: "POST", body: { text: "ETH looks strong" } },
          { service_id: "sentiment-lite", path: "/sentiment", method: "POST", body: { text: "a crash" } },
          { service_id: "eth-prices", path: "/series?from=2025-06-01&to=2025-06-03" },
          { service_id: "sma-backtest", path: "/backtest", method: "POST", body: { fast: 5, slow: 20 }, max_amount: "400000" },
          { service_id: "sma-backtest", path: "/nowhere" }, // the provider's 404: charged, still a result
          ...odd.map((s) => ({ service_id: s.serviceId, path: "/x", method: "PUT", body: "some text" })),
        ];
        for (const args of calls) await succeed(client, "call_service", args);
        const meteredCall = await succeed(client, "call_service", { service_id: "odd-metered" });
        expect(meteredCall.structuredContent).toMatchObject({ status: 200, data: "metered /", amount: "7000" });
        await succeed(client, "get_balance");
        for (const args of [{}, { period: "day" }, { period: "week" }, { from: "2020-01-01T00:00:00Z", to: "2020-01-02T00:00:00Z" }]) {
          await succeed(client, "get_spending_report", args);
        }
      } finally {
        await client.close();
      }

      const keyless = new Client({ name: "agenttab-x402-test", version: "1.0.0" });
      await keyless.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, "mcp", "--x402"], env: { PATH: process.env.PATH ?? "", AGENTTAB_API_URL: apiUrl }, stderr: "pipe" }));
      try {
        await keyless.listTools();
        await discoverAll(keyless);
      } finally {
        await keyless.close();
      }
    } finally {
      await metered.close();
      await demo.close();
    }
  }, 120_000);
});

/** The URL the HTTP server announces on stderr. */
function urlFrom(server: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`no URL announced:\n${stderr}`)), 30_000);
    server.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /at (http:\/\/\S+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    server.once("exit", (code) => reject(new Error(`exited ${code}:\n${stderr}`)));
  });
}

/** A raw POST with chosen Host/Origin headers (fetch would not let a test forge Host). */
function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
