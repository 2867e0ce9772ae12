import type { AddressInfo } from "node:net";

import { x402Client } from "@x402/core/client";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, HTTPFacilitatorClient } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired } from "@x402/core/types";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import {
  extractDiscoveryInfo,
  extractDiscoveryInfoFromExtension,
  sanitizeResourceServiceMetadata,
  validateDiscoveryExtension,
  validateDiscoveryExtensionSpec,
  withBazaar,
} from "@x402/extensions/bazaar";
import type { DiscoveredHTTPResource, DiscoveryExtension, DiscoveryResource, DiscoveryResourcesResponse, SearchDiscoveryResourcesResponse } from "@x402/extensions/bazaar";
import { wrapFetchWithPayment } from "@x402/fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ProviderClient } from "@agenttab/sdk";
import { testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService } from "./helpers/payments.ts";

const WEATHER_PRICE = 25_000n;

/**
 * Issue 18: AgentTab's services, discovered the standard way by stock x402 tooling, on the real
 * stack. Checked with @x402/extensions' own client and validators:
 * - `withBazaar(new HTTPFacilitatorClient({ url }))`: `extensions.bazaar.listResources` and
 *   `extensions.bazaar.search` against our API (typed `DiscoveryResourcesResponse`,
 *   `SearchDiscoveryResourcesResponse`, `DiscoveryResource`);
 * - the `bazaar` extension of our 402s and listings: `validateDiscoveryExtensionSpec` (protocol
 *   rules), `validateDiscoveryExtension` (info against its JSON Schema, Ajv 2020-12, no external
 *   `$ref`), `extractDiscoveryInfoFromExtension` and `extractDiscoveryInfo` (what a facilitator
 *   catalogues from a payment echoing it, typed `DiscoveredHTTPResource`), and
 *   `sanitizeResourceServiceMetadata` (our `serviceName` and `tags` survive its rules unchanged);
 * - a stock `@x402/fetch` + `@x402/evm` exact client paying a discovered resource, no AgentTab code.
 */
describe("x402 discovery (Bazaar) for stock clients", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let apiUrl: string;
  const weatherProvider = testAccount("bazaar weather provider");
  const nlpProvider = testAccount("bazaar nlp provider");
  const payer = testAccount("bazaar exact payer");
  const bazaar = () => withBazaar(new HTTPFacilitatorClient({ url: apiUrl })).extensions.bazaar;
  const byService = (items: readonly DiscoveryResource[]) =>
    new Map(items.map((item) => [(item as DiscoveryResource & { metadata: { serviceId: string } }).metadata.serviceId, item]));
  const paymentRequiredOf = async (url: string, init?: RequestInit): Promise<PaymentRequired> => {
    const res = await fetch(url, init);
    expect(res.status).toBe(402);
    return decodePaymentRequiredHeader(res.headers.get("payment-required") as string);
  };

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ method: req.method, url: req.url, forecast: "sunny" }));
    });
    stack = await startApiStack();
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;

    const weather = await ProviderClient.connect({ apiUrl, signer: weatherProvider });
    await weather.register({
      serviceId: "bazaar-weather",
      name: "Bazaar Weather",
      description: "Weather forecasts for any city, by the hour.",
      category: "data",
      tags: ["weather", "forecast"],
      capabilities: ["forecast"],
      upstreamUrl: `${upstream.url}/weather`,
      pricing: "fixed",
      price: WEATHER_PRICE,
      exampleInput: JSON.stringify({ city: "paris", days: 2 }),
      exampleOutput: JSON.stringify({ city: "paris", hourly: [{ hour: 0, celsius: 11.5 }] }),
      discovery: { httpMethod: "GET", resourcePath: "/forecast", inputDescription: "city: a city name; days: 1 to 7.", outputDescription: "Hourly temperatures in Celsius." },
    });
    const nlp = await ProviderClient.connect({ apiUrl, signer: nlpProvider });
    await nlp.register({
      serviceId: "bazaar-sentiment",
      name: "Bazaar Sentiment",
      description: "Scores the sentiment of English text.",
      category: "nlp",
      tags: ["sentiment", "text"],
      capabilities: ["sentiment-analysis"],
      upstreamUrl: `${upstream.url}/nlp`,
      pricing: "metered",
      price: 100n,
      maxPrice: 10_000n,
      usageHeader: "x-units",
      exampleInput: JSON.stringify({ text: "what a forecast" }),
      exampleOutput: JSON.stringify({ score: 0.7 }),
      discovery: { resourcePath: "/score", inputDescription: "The text to score." },
    });
    await nlp.register({
      serviceId: "bazaar-forecast-text",
      name: "Forecast summaries",
      description: "Turns a forecast into a sentence.",
      category: "nlp",
      tags: ["text"],
      capabilities: ["summarize"],
      upstreamUrl: `${upstream.url}/summary`,
      pricing: "fixed",
      price: 5_000n,
    });
    // A service listed before issue 18, with none of the discovery fields.
    await listService(stack, { id: "bazaar-legacy", provider: nlpProvider.address, upstreamUrl: `${upstream.url}/legacy`, price: 1_000n });
    await stack.chain.mint(payer.address, 1_000_000n);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("the stock Bazaar client lists our services with the payment requirements their 402s offer", async () => {
    const page: DiscoveryResourcesResponse = await bazaar().listResources({ type: "http", limit: 10 });
    expect(page).toMatchObject({ x402Version: 2, pagination: { limit: 10, offset: 0, total: 4 } });
    const items = byService(page.items);
    expect([...items.keys()].sort()).toEqual(["bazaar-forecast-text", "bazaar-legacy", "bazaar-sentiment", "bazaar-weather"]);

    const weather = items.get("bazaar-weather")!;
    expect(weather).toMatchObject({
      resource: `${apiUrl}/v1/proxy/bazaar-weather/forecast`,
      type: "http",
      x402Version: 2,
      lastUpdated: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      description: "Weather forecasts for any city, by the hour.",
      serviceName: "Bazaar Weather",
      tags: ["weather", "forecast"],
      metadata: {
        serviceId: "bazaar-weather",
        provider: weatherProvider.address,
        category: "data",
        capabilities: ["forecast"],
        pricing: "fixed",
        price: WEATHER_PRICE.toString(),
        maxPrice: WEATHER_PRICE.toString(),
        reputation: { score: null, feedbackCount: 0, providerCallsServed: 0, providerCallsFailed: 0 },
        paidCalls: { paid: 0, settled: 0 },
      },
    });
    // Exactly the offers of the paid call's 402: the voucher, and exact (fixed price, relayer).
    for (const item of page.items) {
      const required = await paymentRequiredOf(item.resource);
      expect(item.accepts).toEqual(required.accepts);
      expect(item.extensions?.bazaar).toBeDefined();
    }
    expect(weather.accepts.map((offer) => offer.scheme)).toEqual(["agenttab-voucher", "exact"]);
    expect(items.get("bazaar-sentiment")!.accepts.map((offer) => offer.scheme)).toEqual(["agenttab-voucher"]);

    const second = await bazaar().listResources({ limit: 1, offset: 1 });
    expect(second.pagination).toEqual({ limit: 1, offset: 1, total: 4 });
    expect(second.items.map((item) => item.resource)).toEqual([page.items[1]!.resource]);
  });

  it("filters by type, scheme, network, payTo and extensions, all within one offer", async () => {
    const ids = async (params: Parameters<ReturnType<typeof bazaar>["listResources"]>[0]) => [...byService((await bazaar().listResources(params)).items).keys()].sort();
    const { network, escrow } = stack.chain.deployment;
    expect(await ids({ scheme: "exact" })).toEqual(["bazaar-forecast-text", "bazaar-legacy", "bazaar-weather"]);
    expect(await ids({ scheme: "exact", payTo: escrow })).toEqual(["bazaar-forecast-text", "bazaar-legacy", "bazaar-weather"]);
    expect(await ids({ payTo: weatherProvider.address.toLowerCase() })).toEqual(["bazaar-weather"]);
    // The voucher pays the provider, exact pays the escrow: no single offer is both.
    expect(await ids({ scheme: "agenttab-voucher", payTo: escrow })).toEqual([]);
    expect(await ids({ network })).toHaveLength(4);
    expect(await ids({ network: "eip155:1" })).toEqual([]);
    expect(await ids({ type: "mcp" })).toEqual([]);
    expect(await ids({ extensions: "bazaar" })).toHaveLength(4);
    expect(await ids({ extensions: "bazaar,sign-in-with-x" })).toEqual([]);
  });

  it("every 402 carries a bazaar extension that @x402/extensions' validators accept, as the listing does", async () => {
    const { items } = await bazaar().listResources({ limit: 10 });
    const weather = byService(items).get("bazaar-weather")!;
    const required = await paymentRequiredOf(`${weather.resource}?city=paris&days=2`);
    const extension = required.extensions?.bazaar as DiscoveryExtension;
    expect(extension).toEqual(weather.extensions?.bazaar);
    expect(extension.info).toEqual({
      input: { type: "http", method: "GET", queryParams: { city: "paris", days: 2 } },
      output: { type: "json", example: { city: "paris", hourly: [{ hour: 0, celsius: 11.5 }] } },
    });
    expect(extension.schema).toMatchObject({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      properties: {
        input: { properties: { queryParams: { type: "object", description: "city: a city name; days: 1 to 7." } } },
        output: { properties: { example: { type: "object", description: "Hourly temperatures in Celsius." } } },
      },
    });
    // What the stock service-metadata rules keep is everything we sent.
    expect(sanitizeResourceServiceMetadata(required.resource)).toEqual({ serviceName: "Bazaar Weather", tags: ["weather", "forecast"] });

    for (const item of items) {
      const fromListing = item.extensions?.bazaar as DiscoveryExtension;
      const fromPaymentRequired = (await paymentRequiredOf(item.resource)).extensions?.bazaar as DiscoveryExtension;
      for (const candidate of [fromListing, fromPaymentRequired]) {
        expect({ service: item.resource, spec: validateDiscoveryExtensionSpec(candidate as unknown as Record<string, unknown>) }).toEqual({ service: item.resource, spec: { valid: true } });
        expect({ service: item.resource, schema: validateDiscoveryExtension(candidate) }).toEqual({ service: item.resource, schema: { valid: true } });
        expect(extractDiscoveryInfoFromExtension(candidate).input.type).toBe("http");
      }
    }
    const sentiment = byService(items).get("bazaar-sentiment")!;
    expect((sentiment.extensions?.bazaar as DiscoveryExtension).info.input).toEqual({ type: "http", method: "POST", bodyType: "json", body: { text: "what a forecast" } });

    // A facilitator cataloguing a payment that echoes the extension, as the bazaar spec asks clients to.
    const payload: PaymentPayload = { x402Version: 2, resource: required.resource, accepted: required.accepts[0]!, payload: {}, extensions: required.extensions };
    const discovered = extractDiscoveryInfo(payload, required.accepts[0]!) as DiscoveredHTTPResource;
    expect(discovered).toMatchObject({ resourceUrl: `${apiUrl}/v1/proxy/bazaar-weather/forecast`, method: "GET", x402Version: 2, serviceName: "Bazaar Weather" });
  });

  it("the stock client searches names, descriptions, tags and capabilities, with cursor pages", async () => {
    const found: SearchDiscoveryResourcesResponse = await bazaar().search({ query: "weather forecast" });
    expect(found).toMatchObject({ x402Version: 2, partialResults: false, pagination: { limit: 20, cursor: null } });
    // Both words are in its name, description and tags; the summaries' only mention a forecast.
    expect(found.resources.map((item) => item.resource)).toEqual([`${apiUrl}/v1/proxy/bazaar-weather/forecast`]);

    expect(byService((await bazaar().search({ query: "sentiment" })).resources).has("bazaar-sentiment")).toBe(true);
    expect(byService((await bazaar().search({ query: "summarize" })).resources).has("bazaar-forecast-text")).toBe(true);

    // "forecast" matches two services: a page of one, then the other, then nothing more.
    const first = await bazaar().search({ query: "forecast", limit: 1 });
    expect(first.resources).toHaveLength(1);
    expect(first.pagination?.cursor).toEqual(expect.any(String));
    const second = await bazaar().search({ query: "forecast", limit: 1, cursor: first.pagination!.cursor! });
    expect(second.pagination?.cursor).toBeNull();
    expect([...first.resources, ...second.resources].map((item) => item.resource).sort()).toEqual([
      `${apiUrl}/v1/proxy/bazaar-forecast-text/`,
      `${apiUrl}/v1/proxy/bazaar-weather/forecast`,
    ]);
    expect((await bazaar().search({ query: "forecast", scheme: "agenttab-voucher", payTo: nlpProvider.address })).resources.map((item) => item.resource)).toEqual([
      `${apiUrl}/v1/proxy/bazaar-forecast-text/`,
    ]);

    const refused = async (query: string) => {
      const res = await fetch(`${apiUrl}/discovery/search?${query}`);
      return { status: res.status, code: ((await res.json()) as { code: string }).code };
    };
    expect(await refused(`query=weather&cursor=${first.pagination!.cursor!}`)).toEqual({ status: 400, code: "invalid_cursor" });
    expect(await refused("query=")).toEqual({ status: 400, code: "invalid_query" });
    expect(await refused("limit=5")).toEqual({ status: 400, code: "invalid_query" });
    expect(await refused("query=a&limit=0")).toEqual({ status: 400, code: "invalid_limit" });
    expect(await refused("query=a&cursor=%25%25")).toEqual({ status: 400, code: "invalid_cursor" });
    const badOffset = await fetch(`${apiUrl}/discovery/resources?offset=-1`);
    expect({ status: badOffset.status, code: ((await badOffset.json()) as { code: string }).code }).toEqual({ status: 400, code: "invalid_offset" });
  });

  it("GET /.well-known/x402 lists every resource", async () => {
    const res = await fetch(`${apiUrl}/.well-known/x402`);
    expect(res.status).toBe(200);
    const manifest = (await res.json()) as { version: number; resources: string[]; instructions: string };
    expect(manifest.version).toBe(1);
    expect(manifest.resources.sort()).toEqual(
      ["bazaar-forecast-text/", "bazaar-legacy/", "bazaar-sentiment/score", "bazaar-weather/forecast"].map((path) => `${apiUrl}/v1/proxy/${path}`),
    );
    expect(manifest.instructions).toContain("/discovery/resources");
  });

  it("a stock x402 client goes from discovery to a paid call with no AgentTab code (exact), and the paid call counts", async () => {
    const { items } = await bazaar().listResources({ scheme: "exact", network: stack.chain.deployment.network });
    const weather = items.find((item) => item.resource.endsWith("/bazaar-weather/forecast"))!;
    const { queryParams } = (weather.extensions?.bazaar as DiscoveryExtension).info.input as { queryParams: Record<string, string | number> };
    const url = `${weather.resource}?${new URLSearchParams(Object.entries(queryParams).map(([key, value]) => [key, String(value)]))}`;

    const client = new x402Client();
    registerExactEvmScheme(client, { signer: payer });
    client.setSpendControls({ allowedAssets: [{ network: stack.chain.deployment.network, asset: stack.chain.deployment.usdc }] });
    const res = await wrapFetchWithPayment(fetch, client)(url);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ method: "GET", url: "/weather/forecast?city=paris&days=2", forecast: "sunny" });
    expect(decodePaymentResponseHeader(res.headers.get("payment-response") as string)).toMatchObject({ success: true, payer: payer.address, amount: WEATHER_PRICE.toString() });

    const after = byService((await bazaar().listResources({ payTo: weatherProvider.address })).items).get("bazaar-weather") as DiscoveryResource & {
      metadata: { paidCalls: { paid: number; settled: number } };
    };
    expect(after.metadata.paidCalls).toEqual({ paid: 1, settled: 1 });
  });

  it("registration refuses bad discovery fields with a 4xx and a stable code, before the signature is checked", async () => {
    const base = {
      serviceId: "bazaar-bad",
      name: "Bad",
      category: "misc",
      upstreamUrl: `${upstream.url}/bad`,
      pricing: "fixed",
      price: "1000",
      maxPrice: "1000",
      nonce: "1",
      deadline: String(Math.floor(Date.now() / 1000) + 300),
      provider: weatherProvider.address,
      signature: `0x${"11".repeat(65)}`,
    };
    const codeOf = async (fields: Record<string, unknown>) => {
      const res = await stack.app.inject({ method: "POST", url: "/v1/services", payload: { ...base, ...fields } });
      return { status: res.statusCode, code: (res.json() as { code: string }).code };
    };
    expect(await codeOf({ discovery: { httpMethod: "FETCH" } })).toEqual({ status: 400, code: "invalid_http_method" });
    expect(await codeOf({ discovery: { bodyType: "xml" } })).toEqual({ status: 400, code: "invalid_body_type" });
    expect(await codeOf({ discovery: { httpMethod: "GET", bodyType: "json" } })).toEqual({ status: 400, code: "invalid_body_type" });
    expect(await codeOf({ discovery: { resourcePath: "/a/../b" } })).toEqual({ status: 400, code: "invalid_resource_path" });
    expect(await codeOf({ discovery: { resourcePath: "/a?b=1" } })).toEqual({ status: 400, code: "invalid_resource_path" });
    expect(await codeOf({ discovery: { resourcePath: "//evil.example" } })).toEqual({ status: 400, code: "invalid_resource_path" });
    expect(await codeOf({ discovery: { inputDescription: "x".repeat(2_001) } })).toEqual({ status: 400, code: "invalid_description" });
    expect(await codeOf({ discovery: "GET" })).toEqual({ status: 400, code: "invalid_discovery" });
    expect(await codeOf({ exampleInput: JSON.stringify({ nested: { a: 1 } }), discovery: { httpMethod: "GET" } })).toEqual({ status: 400, code: "invalid_example" });
    expect(await codeOf({ exampleInput: "[1,2]", discovery: { httpMethod: "DELETE" } })).toEqual({ status: 400, code: "invalid_example" });
    // Well-formed discovery fields get as far as the signature.
    expect(await codeOf({ exampleInput: JSON.stringify({ q: "x" }), discovery: { httpMethod: "GET", resourcePath: "/search" } })).toEqual({ status: 401, code: "invalid_signature" });
  });
});
