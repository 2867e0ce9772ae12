import type { AddressInfo } from "node:net";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { AgentTabClient, ProviderClient, discoverBazaar, listBazaarResources, searchBazaarResources } from "@agenttab/sdk";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService } from "../api/helpers/payments.ts";
import { testAccount } from "../indexer/helpers/actions.ts";
import { agenttab } from "./helpers/cliWorld.ts";

const BIN = path.resolve(import.meta.dirname, "../../sdk/src/cli/main.ts");
/** Where the other Bazaar below serves discovery: under a path, as hosted facilitators do. */
const OTHER_BAZAAR_PATH = "/platform/v2/x402";
/** A resource of another Bazaar, in the x402 v2 specification's shape (Unix-seconds `lastUpdated`, its own `metadata`). */
const OTHER_RESOURCE = {
  resource: "https://api.example.com/premium-data",
  type: "http",
  x402Version: 2,
  accepts: [{ scheme: "exact", network: "eip155:84532", amount: "10000", asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", maxTimeoutSeconds: 60, extra: { name: "USDC", version: "2" } }],
  lastUpdated: 1703123456,
  metadata: { category: "finance", provider: "Example Corp" },
};

/**
 * Issue 18: the SDK, the `agenttab` CLI and the MCP server's `discover_services` read any x402
 * Bazaar discovery endpoint: AgentTab's own (the running API) and another one (a loopback server
 * answering in the specification's shape under a path prefix).
 */
describe("sdk, cli and mcp: discovery through any x402 Bazaar endpoint", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let otherBazaar: Awaited<ReturnType<typeof startUpstream>>;
  let apiUrl: string;
  let otherBazaarUrl: string;
  const provider = testAccount("bazaar sdk provider");
  const otherRequests: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    otherBazaar = await startUpstream((req, res) => {
      otherRequests.push(req.url ?? "");
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (url.pathname === `${OTHER_BAZAAR_PATH}/discovery/resources`) {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ x402Version: 2, items: [OTHER_RESOURCE], pagination: { limit: 10, offset: 0, total: 1 } }));
      } else if (url.pathname === `${OTHER_BAZAAR_PATH}/discovery/search`) {
        // A Bazaar that does not paginate its search.
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ x402Version: 2, resources: [OTHER_RESOURCE] }));
      } else {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ code: "not_found", message: "no such page" }));
      }
    });
    otherBazaarUrl = `${otherBazaar.url}${OTHER_BAZAAR_PATH}`;
    stack = await startApiStack();
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    const providerClient = await ProviderClient.connect({ apiUrl, signer: provider });
    await providerClient.register({
      serviceId: "sdk-weather",
      name: "SDK Weather",
      description: "Weather forecasts by city.",
      category: "data",
      tags: ["weather"],
      upstreamUrl: `${upstream.url}/weather`,
      pricing: "fixed",
      price: 20_000n,
      exampleInput: JSON.stringify({ city: "oslo" }),
      discovery: { httpMethod: "GET", resourcePath: "/forecast" },
    });
    await listService(stack, { id: "sdk-echo", provider: provider.address, upstreamUrl: `${upstream.url}/echo`, price: 1_000n });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
    await otherBazaar?.close();
  });

  it("the SDK lists, searches and pages AgentTab's Bazaar and another one, with plain fetch", async () => {
    const listed = await listBazaarResources({ bazaarUrl: apiUrl, type: "http" });
    expect(listed.pagination).toEqual({ limit: 20, offset: 0, total: 2 });
    expect(listed.items.map((item) => item.resource).sort()).toEqual([`${apiUrl}/v1/proxy/sdk-echo/`, `${apiUrl}/v1/proxy/sdk-weather/forecast`]);

    const found = await searchBazaarResources({ bazaarUrl: apiUrl, query: "weather" });
    expect(found).toMatchObject({ partialResults: false, pagination: { limit: 20, cursor: null } });
    expect(found.resources.map((item) => item.resource)).toEqual([`${apiUrl}/v1/proxy/sdk-weather/forecast`]);
    expect(found.resources[0]?.metadata).toMatchObject({ serviceId: "sdk-weather", paidCalls: { paid: 0, settled: 0 } });

    // One cursor for both: a listing's is the next offset.
    const first = await discoverBazaar({ bazaarUrl: apiUrl, limit: 1 });
    expect(first.nextCursor).toBe("1");
    const second = await discoverBazaar({ bazaarUrl: apiUrl, limit: 1, cursor: first.nextCursor! });
    expect(second.nextCursor).toBeNull();
    expect([...first.resources, ...second.resources].map((item) => item.resource)).toEqual(listed.items.map((item) => item.resource));

    const client = await AgentTabClient.connect({ apiUrl, signer: testAccount("bazaar sdk agent") });
    expect((await client.discoverBazaar({ query: "forecast" })).resources.map((item) => item.resource)).toEqual([`${apiUrl}/v1/proxy/sdk-weather/forecast`]);
    expect(await client.discoverBazaar({ bazaarUrl: otherBazaarUrl, scheme: "exact" })).toEqual({ resources: [OTHER_RESOURCE], nextCursor: null });
    expect(await client.discoverBazaar({ bazaarUrl: otherBazaarUrl, query: "premium" })).toEqual({ resources: [OTHER_RESOURCE], nextCursor: null });
    expect(otherRequests).toEqual([`${OTHER_BAZAAR_PATH}/discovery/resources?scheme=exact&offset=0`, `${OTHER_BAZAAR_PATH}/discovery/search?query=premium`]);
    await expect(discoverBazaar({ bazaarUrl: apiUrl, cursor: "next" })).rejects.toThrow(RangeError);
  });

  it("the CLI: `agenttab services --bazaar-url` and `--query`", async () => {
    const env = { AGENTTAB_API_URL: apiUrl };
    const own = await agenttab(["services", "--bazaar-url", apiUrl, "--json"], env);
    expect(own.code).toBe(0);
    const ownPage = JSON.parse(own.stdout) as { resources: { resource: string; accepts: { scheme: string }[] }[]; nextCursor: string | null };
    expect(ownPage.resources).toHaveLength(2);
    expect(ownPage.resources.find((r) => r.resource.endsWith("/sdk-weather/forecast"))?.accepts.map((a) => a.scheme)).toEqual(["agenttab-voucher", "exact"]);

    const searched = await agenttab(["services", "--query", "weather", "--format", "tsv"], env);
    expect(searched).toMatchObject({ code: 0, stderr: "" });
    const [header, row, ...rest] = searched.stdout.trim().split("\n");
    expect(header?.split("\t")).toEqual(["resource", "name", "offers (atomic units)", "reputation"]);
    expect(row?.split("\t").slice(0, 2)).toEqual([`${apiUrl}/v1/proxy/sdk-weather/forecast`, "SDK Weather"]);
    expect(rest).toEqual([]);

    const other = await agenttab(["services", "--bazaar-url", otherBazaarUrl, "--format", "tsv"], env);
    expect(other.code).toBe(0);
    expect(other.stdout).toContain(`${OTHER_RESOURCE.resource}\t\texact 10000@eip155:84532\t`);

    const mixed = await agenttab(["services", "--bazaar-url", apiUrl, "--category", "data"], env);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/option_not_supported/);
    const stray = await agenttab(["services", "--scheme", "exact"], env);
    expect(stray.code).toBe(2);
    const badUrl = await agenttab(["services", "--bazaar-url", "ftp://example.com"], env);
    expect(badUrl.code).toBe(2);
  });

  it("the MCP server: discover_services with query and with bazaar_url", async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, "mcp", "--x402"], env: { PATH: process.env.PATH ?? "", AGENTTAB_API_URL: apiUrl }, stderr: "pipe" });
    const client = new Client({ name: "agenttab-bazaar-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      const call = async (args: Record<string, unknown>) => (await client.callTool({ name: "discover_services", arguments: args })) as CallToolResult;
      const own = await call({ query: "weather forecast" });
      expect(own.isError).toBeFalsy();
      expect(own.structuredContent).toMatchObject({
        services: [],
        nextCursor: null,
        resources: [
          {
            resource: `${apiUrl}/v1/proxy/sdk-weather/forecast`,
            name: "SDK Weather",
            description: "Weather forecasts by city.",
            tags: ["weather"],
            input: { type: "http", method: "GET", queryParams: { city: "oslo" } },
            metadata: { serviceId: "sdk-weather" },
          },
        ],
      });

      const other = await call({ bazaar_url: otherBazaarUrl });
      expect(other.structuredContent).toEqual({
        services: [],
        nextCursor: null,
        resources: [{ resource: OTHER_RESOURCE.resource, name: null, description: null, tags: [], accepts: OTHER_RESOURCE.accepts, input: null, output: null, metadata: OTHER_RESOURCE.metadata }],
      });
      expect((other.content[0] as { text: string }).text).toContain("exact 10000 on eip155:84532");

      // Without either, it is the AgentTab catalogue as before.
      const catalogue = await call({ sort: "price" });
      expect((catalogue.structuredContent as { services: { id: string }[] }).services.map((s) => s.id)).toEqual(["sdk-echo", "sdk-weather"]);
    } finally {
      await client.close();
    }
  });
});
