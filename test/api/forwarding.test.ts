import { request as httpRequest } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { authorizationHeader, signIn } from "@agenttab/sdk";

import { buildApp } from "../../api/src/app.ts";
import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 1_000n;

type Seen = { url: string; headers: IncomingHttpHeaders };

/** One request with its request-target sent verbatim (node:http writes `path` as given). */
function rawCall(port: number, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method, headers, timeout: 20_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout on ${path}`)));
    req.on("error", reject);
    req.end();
  });
}

/** A loopback HTTP server that must never be reached: counts every connection and request. */
async function startCanary() {
  const hits = { connections: 0, requests: 0 };
  const server = await startUpstream((_req, res) => {
    hits.requests++;
    res.writeHead(200, { "content-type": "text/plain" }).end("canary reached");
  });
  server.server.on("connection", () => hits.connections++);
  return { ...server, port: Number(new URL(server.url).port), hits };
}

describe("api: forwarding never leaves the registered origin (issue 12)", () => {
  let stack: ApiStack;
  let port: number;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let upstreamConnections = 0;
  let canary: Awaited<ReturnType<typeof startCanary>>;
  const seen: Seen[] = [];
  const agent = testAccount("forwarding agent");
  const provider = testAccount("forwarding provider");
  let spent = 0n;

  const charged = async () => {
    const [row] = await stack.app.sql<{ charged: string; reserved: string }[]>`SELECT charged, reserved FROM ledger_accounts WHERE account = ${agent.address.toLowerCase()}`;
    return { charged: BigInt(row?.charged ?? 0), reserved: BigInt(row?.reserved ?? 0) };
  };
  const paid = async () => ({ "payment-signature": await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: spent + PRICE }) });

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      seen.push({ url: req.url ?? "", headers: req.headers });
      req.resume().on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(`upstream saw ${req.url}`));
    });
    upstream.server.on("connection", () => upstreamConnections++);
    canary = await startCanary();
    stack = await startApiStack(); // development setting: private upstreams allowed, so a loopback upstream can be listed
    // A path-less upstream: the case the protocol-relative reference used to take over.
    await listService(stack, { id: "pathless", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await listService(stack, { id: "based", provider: provider.address, upstreamUrl: `${upstream.url}/base/`, price: PRICE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    port = (stack.app.server.address() as AddressInfo).port;
    await depositAs(stack.chain, agent, 1_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
    await canary?.close();
  });

  it("refuses every protocol-relative and empty-segment form before anything is reserved or sent", async () => {
    const c = canary.port;
    const attacks = [
      `//127.0.0.1:${c}/x`,
      `%2f%2f127.0.0.1:${c}/x`,
      `%2F%2F127.0.0.1:${c}/x`,
      `///127.0.0.1:${c}/x`,
      `//2130706433:${c}/x`,
      `//0x7f000001:${c}/x`,
      `//[::1]:${c}/x`,
      `//[::ffff:127.0.0.1]:${c}/x`,
      `//localhost:${c}/x`,
      `/\\127.0.0.1:${c}/x`,
      `%5c%5c127.0.0.1:${c}/x`,
      `//127.0.0.1:${c}`,
      `a//b`,
      `a/../../x`,
      `%2e%2e/x`,
    ];
    const before = await charged();
    const requestsBefore = seen.length;
    for (const attack of attacks) {
      const res = await rawCall(port, `/v1/proxy/pathless/${attack}`, await paid());
      expect({ attack, status: res.status, code: (JSON.parse(res.body) as { code: string }).code }).toEqual({ attack, status: 400, code: "invalid_path" });
    }
    expect(canary.hits).toEqual({ connections: 0, requests: 0 });
    expect(seen.length).toBe(requestsBefore);
    expect(await charged()).toEqual(before);
  });

  it("forwards the path exactly as sent: encoded characters stay encoded and never split the path", async () => {
    const cases: [string, string][] = [
      ["a%3Finjected=1", "/a%3Finjected=1"],
      ["a%23b/c", "/a%23b/c"],
      ["a%2541", "/a%2541"],
      ["a%20b/c?q=1&r=%2F", "/a%20b/c?q=1&r=%2F"],
      ["a/", "/a/"],
      ["", "/"],
    ];
    for (const [sent, expected] of cases) {
      const before = seen.length;
      const res = await rawCall(port, `/v1/proxy/pathless/${sent}`, await paid());
      expect({ sent, status: res.status }).toEqual({ sent, status: 200 });
      spent += PRICE;
      expect(seen.slice(before).map((s) => s.url)).toEqual([expected]);
    }
    const before = seen.length;
    expect((await rawCall(port, "/v1/proxy/based/x%2Fy", await paid())).status).toBe(400); // an encoded slash is refused
    expect((await rawCall(port, "/v1/proxy/based/v%3F1", await paid())).status).toBe(200);
    spent += PRICE;
    expect(seen.slice(before).map((s) => s.url)).toEqual(["/base/v%3F1"]);
    expect(canary.hits.connections).toBe(0);
    expect((await charged()).charged).toBe(spent);
  });

  it("never forwards an AgentTab sign-in token, whatever its casing", async () => {
    const token = await signIn(agent, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow });
    const value = authorizationHeader(token).replace(/^AgentTab /, "");
    for (const scheme of ["AgentTab", "agenttab", "AGENTTAB", "aGeNtTaB"]) {
      const before = seen.length;
      const res = await rawCall(port, "/v1/proxy/pathless/me", { ...(await paid()), authorization: `${scheme} ${value}` });
      expect(res.status).toBe(200);
      spent += PRICE;
      expect(seen.slice(before)[0]?.headers.authorization).toBeUndefined();
    }
    // The upstream's own credentials still pass.
    const before = seen.length;
    expect((await rawCall(port, "/v1/proxy/pathless/me", { ...(await paid()), authorization: "Bearer provider-key" })).status).toBe(200);
    spent += PRICE;
    expect(seen.slice(before)[0]?.headers.authorization).toBe("Bearer provider-key");
  });

  describe("with private upstreams off (the production default), on the same ledger", () => {
    let production: FastifyInstance;

    beforeAll(async () => {
      production = await buildApp({ ...stack.app.config, allowPrivateUpstreams: false }, { logger: false });
      await production.ready();
      // Services listed while private upstreams were allowed, each pointing at loopback.
      await listService(stack, { id: "literal-v4", provider: provider.address, upstreamUrl: `http://127.0.0.1:${canary.port}`, price: PRICE });
      await listService(stack, { id: "literal-v6", provider: provider.address, upstreamUrl: `http://[::ffff:127.0.0.1]:${canary.port}/`, price: PRICE });
      await listService(stack, { id: "literal-int", provider: provider.address, upstreamUrl: `http://2130706433:${canary.port}/`, price: PRICE });
      await listService(stack, { id: "named-loopback", provider: provider.address, upstreamUrl: `http://localhost:${canary.port}/`, price: PRICE });
    }, 60_000);

    afterAll(async () => {
      await production?.close();
    });

    it("calls no IP-literal upstream it would refuse: refused before any 402, reservation or connection", async () => {
      const before = await charged();
      for (const id of ["literal-v4", "literal-v6", "literal-int"]) {
        const unpaid = await production.inject({ method: "GET", url: `/v1/proxy/${id}/x` });
        expect({ id, status: unpaid.statusCode, code: unpaid.json().code }).toEqual({ id, status: 502, code: "upstream_not_allowed" });
        const res = await production.inject({ method: "GET", url: `/v1/proxy/${id}/x`, headers: await paid() });
        expect({ id, status: res.statusCode, code: res.json().code }).toEqual({ id, status: 502, code: "upstream_not_allowed" });
      }
      expect(canary.hits).toEqual({ connections: 0, requests: 0 });
      expect(await charged()).toEqual(before);
    });

    it("refuses a name that resolves to loopback at connect time, and charges nothing", async () => {
      const before = await charged();
      const res = await production.inject({ method: "GET", url: "/v1/proxy/named-loopback/x", headers: await paid() });
      expect(res.statusCode).toBe(502);
      expect(canary.hits).toEqual({ connections: 0, requests: 0 });
      expect(await charged()).toEqual(before);
    });
  });
});
