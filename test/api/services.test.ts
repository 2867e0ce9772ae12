import type { Address, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { signServiceDelisting, signServiceRegistration } from "@agenttab/sdk";
import type { ServiceRegistration } from "@agenttab/sdk";

import { buildApp } from "../../api/src/app.ts";
import { depositAs, settleAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";

type Draft = Partial<Omit<ServiceRegistration, "nonce" | "deadline">> & { serviceId: string };
type Json = Record<string, unknown>;

const now = () => BigInt(Math.floor(Date.now() / 1000));
let lastNonce = 0n;
/** Strictly increasing nonces, as a provider would use (e.g. a millisecond clock). */
const nextNonce = () => (lastNonce += 1n);

describe("api: service registration and discovery", () => {
  let stack: ApiStack;
  let chainId: number;
  let escrow: Address;

  const owner = testAccount("services owner");
  const intruder = testAccount("services intruder");
  const catalogA = testAccount("services catalog a");
  const catalogB = testAccount("services catalog b");
  const pager = testAccount("services pager");
  const reliable = testAccount("services reliable provider");
  const flaky = testAccount("services flaky provider");
  const newcomer = testAccount("services new provider");

  /** A registration signed by `signer`; `provider` defaults to the signer. Amounts as decimal strings. */
  async function signedRegistration(
    signer: LocalAccount,
    draft: Draft,
    { nonce = nextNonce(), deadline = now() + 300n, provider = signer.address }: { nonce?: bigint; deadline?: bigint; provider?: Address } = {},
  ): Promise<Json> {
    const registration: ServiceRegistration = {
      name: `Service ${draft.serviceId}`,
      description: "",
      category: "misc",
      tags: [],
      capabilities: [],
      upstreamUrl: `https://${draft.serviceId}.upstream.example/v1`,
      pricing: "fixed",
      price: 1_000n,
      maxPrice: draft.price ?? 1_000n,
      usageHeader: "",
      exampleInput: "",
      exampleOutput: "",
      ...draft,
      nonce,
      deadline,
    };
    const signature = await signServiceRegistration(signer, { chainId, escrow, registration });
    return {
      ...registration,
      price: registration.price.toString(),
      maxPrice: registration.maxPrice.toString(),
      nonce: nonce.toString(),
      deadline: deadline.toString(),
      provider,
      signature,
    };
  }

  async function signedDelisting(
    signer: LocalAccount,
    serviceId: string,
    { nonce = nextNonce(), deadline = now() + 300n, provider = signer.address }: { nonce?: bigint; deadline?: bigint; provider?: Address } = {},
  ): Promise<Json> {
    const signature = await signServiceDelisting(signer, { chainId, escrow, delisting: { serviceId, nonce, deadline } });
    return { provider, nonce: nonce.toString(), deadline: deadline.toString(), signature };
  }

  const post = (payload: Json) => stack.app.inject({ method: "POST", url: "/v1/services", payload });
  const remove = (serviceId: string, payload: Json) => stack.app.inject({ method: "DELETE", url: `/v1/services/${serviceId}`, payload });
  const get = (url: string) => stack.app.inject({ method: "GET", url });
  const register = async (signer: LocalAccount, draft: Draft) => {
    const res = await post(await signedRegistration(signer, draft));
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };
  const ids = async (query: string) => {
    const res = await get(`/v1/services?${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().items as Json[]).map((item) => item.id);
  };

  beforeAll(async () => {
    stack = await startApiStack();
    ({ chainId, escrow } = stack.chain.deployment);

    // Evidence for reputations: settled calls for two providers (one flawless, one half failed).
    const agentA = testAccount("services agent a");
    const agentB = testAccount("services agent b");
    await depositAs(stack.chain, agentA, 1_000_000n);
    await depositAs(stack.chain, agentB, 1_000_000n);
    await settleAs(stack.chain, {
      batchLabel: "services reliable",
      entries: [{ agent: agentA.address, signer: agentA, cumulative: 300_000n, debit: 300_000n }],
      provider: reliable.address,
      callsServed: 30,
    });
    await settleAs(stack.chain, {
      batchLabel: "services flaky",
      entries: [{ agent: agentB.address, signer: agentB, cumulative: 50_000n, debit: 50_000n }],
      provider: flaky.address,
      callsServed: 5,
      callsFailed: 5,
    });

    // The catalog the filter tests search.
    await register(catalogA, { serviceId: "cat-alpha", category: "vision", tags: ["image", "ocr"], capabilities: ["ocr"], price: 1_000n });
    await register(catalogB, {
      serviceId: "cat-beta",
      category: "vision",
      tags: ["image"],
      capabilities: ["classify"],
      pricing: "metered",
      price: 5n,
      maxPrice: 5_000n,
      usageHeader: "x-units",
    });
    await register(catalogA, { serviceId: "cat-gamma", category: "text", tags: ["nlp", "ocr"], capabilities: ["summarize", "ocr"], price: 200n });
    await register(catalogB, { serviceId: "cat-delta", category: "text", tags: ["nlp"], capabilities: ["translate"], price: 3_000n });
    await register(catalogA, { serviceId: "cat-epsilon", category: "text", tags: ["nlp"], capabilities: ["translate"], price: 200n });

    await register(reliable, { serviceId: "rep-good", category: "rep", price: 9_000n });
    await register(flaky, { serviceId: "rep-mixed", category: "rep", price: 10n });
    await register(newcomer, { serviceId: "rep-new", category: "rep", price: 500n });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  describe("registration", () => {
    it("registers a service (201) and shows it, unrated, without its upstream URL", async () => {
      const body = await signedRegistration(owner, {
        serviceId: "weather-api",
        name: "Weather",
        description: "Current weather by city",
        category: "weather",
        tags: ["weather", "geo"],
        capabilities: ["forecast"],
        upstreamUrl: "https://secret-upstream.example/v1?key=provider-secret",
        price: 2_500n,
        exampleInput: JSON.stringify({ city: "Lisbon", days: [1, 2] }),
      });
      const res = await post(body);
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ id: "weather-api", provider: owner.address, status: "active", nonce: body.nonce, price: "2500", maxPrice: "2500" });

      const shown = await get("/v1/services/weather-api");
      expect(shown.statusCode).toBe(200);
      expect(shown.json()).toMatchObject({
        id: "weather-api",
        provider: owner.address,
        name: "Weather",
        description: "Current weather by city",
        category: "weather",
        tags: ["weather", "geo"],
        capabilities: ["forecast"],
        pricing: "fixed",
        price: "2500",
        maxPrice: "2500",
        usageHeader: null,
        exampleInput: { city: "Lisbon", days: [1, 2] },
        exampleOutput: null,
        reputation: { score: null, callsServed: 0, callsFailed: 0, feedbackCount: 0 },
      });
      expect(shown.body).not.toContain("secret");
      expect(shown.body).not.toContain("upstream");
      expect((await get("/v1/services?category=weather")).body).not.toContain("secret");
    });

    it("updates a service with a higher nonce (200)", async () => {
      const res = await post(
        await signedRegistration(owner, {
          serviceId: "weather-api",
          name: "Weather v2",
          category: "weather",
          pricing: "metered",
          price: 3n,
          maxPrice: 3_000n,
          usageHeader: "X-Weather-Units",
          exampleOutput: "[1,2,3]",
        }),
      );
      expect(res.statusCode, res.body).toBe(200);
      expect((await get("/v1/services/weather-api")).json()).toMatchObject({
        name: "Weather v2",
        pricing: "metered",
        price: "3",
        maxPrice: "3000",
        usageHeader: "X-Weather-Units",
        exampleInput: null,
        exampleOutput: [1, 2, 3],
        tags: [],
      });
    });

    it("refuses a replayed request and any nonce not above the stored one (409 stale_nonce)", async () => {
      const body = await signedRegistration(owner, { serviceId: "replay-svc", category: "misc" });
      expect((await post(body)).statusCode).toBe(201);
      const replay = await post(body);
      expect(replay.statusCode).toBe(409);
      expect(replay.json()).toMatchObject({ code: "stale_nonce" });
      const lower = await post(await signedRegistration(owner, { serviceId: "replay-svc", name: "older" }, { nonce: BigInt(body.nonce as string) - 1n }));
      expect(lower.json()).toMatchObject({ code: "stale_nonce" });
      expect((await get("/v1/services/replay-svc")).json().name).toBe("Service replay-svc");
    });

    it("refuses a signature that does not recover to the provider (401 invalid_signature)", async () => {
      const byIntruder = await post(await signedRegistration(intruder, { serviceId: "forged-svc" }, { provider: owner.address }));
      expect(byIntruder.statusCode).toBe(401);
      expect(byIntruder.json()).toMatchObject({ code: "invalid_signature" });

      const tampered = { ...(await signedRegistration(owner, { serviceId: "forged-svc" })), upstreamUrl: "https://attacker.example" };
      expect((await post(tampered)).json()).toMatchObject({ code: "invalid_signature" });
      expect((await get("/v1/services/forged-svc")).statusCode).toBe(404);
    });

    it("refuses an expired deadline and one more than a day ahead", async () => {
      const expired = await post(await signedRegistration(owner, { serviceId: "late-svc" }, { deadline: now() - 1n }));
      expect(expired.statusCode).toBe(400);
      expect(expired.json()).toMatchObject({ code: "deadline_expired" });
      const tooFar = await post(await signedRegistration(owner, { serviceId: "late-svc" }, { deadline: now() + 86_400n + 120n }));
      expect(tooFar.json()).toMatchObject({ code: "deadline_too_far" });
      expect((await post(await signedRegistration(owner, { serviceId: "late-svc" }, { deadline: now() + 86_000n }))).statusCode).toBe(201);
    });

    it("lets only the service's provider update it (403 not_service_owner)", async () => {
      const res = await post(await signedRegistration(intruder, { serviceId: "weather-api", name: "Hijacked", category: "weather" }));
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: "not_service_owner" });
      expect((await get("/v1/services/weather-api")).json()).toMatchObject({ name: "Weather v2", provider: owner.address });
    });

    it("refuses private upstreams unless allowPrivateUpstreams is set", async () => {
      const strict = await buildApp({ ...stack.app.config, allowPrivateUpstreams: false }, { logger: false });
      try {
        for (const upstreamUrl of ["http://localhost:8080/api", "http://127.0.0.1:9/", "http://169.254.169.254/latest", "http://[fd00::1]/", "http://10.0.0.8/"]) {
          const res = await strict.inject({ method: "POST", url: "/v1/services", payload: await signedRegistration(owner, { serviceId: "private-svc", upstreamUrl }) });
          expect(res.statusCode, upstreamUrl).toBe(400);
          expect(res.json()).toMatchObject({ code: "upstream_not_allowed" });
        }
      } finally {
        await strict.close();
      }
      // The test stack allows them (its upstreams run on 127.0.0.1).
      expect((await post(await signedRegistration(owner, { serviceId: "private-svc", upstreamUrl: "http://127.0.0.1:9/" }))).statusCode).toBe(201);
    });

    it("delists (kept, hidden, 410) and relists with a higher nonce", async () => {
      await register(owner, { serviceId: "delist-svc", category: "delist" });
      expect(await ids("category=delist")).toEqual(["delist-svc"]);

      const foreign = await remove("delist-svc", await signedDelisting(intruder, "delist-svc"));
      expect(foreign.statusCode).toBe(403);
      expect(foreign.json()).toMatchObject({ code: "not_service_owner" });
      const forged = await remove("delist-svc", await signedDelisting(intruder, "delist-svc", { provider: owner.address }));
      expect(forged.json()).toMatchObject({ code: "invalid_signature" });
      // A delisting signed for another service does not delist this one.
      const otherId = await signedDelisting(owner, "weather-api");
      expect((await remove("delist-svc", otherId)).json()).toMatchObject({ code: "invalid_signature" });

      const delisting = await signedDelisting(owner, "delist-svc");
      const res = await remove("delist-svc", delisting);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ id: "delist-svc", status: "delisted", nonce: delisting.nonce });
      expect((await remove("delist-svc", delisting)).json()).toMatchObject({ code: "stale_nonce" });

      const gone = await get("/v1/services/delist-svc");
      expect(gone.statusCode).toBe(410);
      expect(gone.json()).toMatchObject({ code: "service_delisted" });
      expect(await ids("category=delist")).toEqual([]);
      expect(await ids("limit=100")).not.toContain("delist-svc");
      const [row] = await stack.app.sql`SELECT status FROM services WHERE id = 'delist-svc'`;
      expect(row?.status).toBe("delisted");

      // The delisting's nonce counts too: a registration signed before it cannot relist.
      const stale = await post(await signedRegistration(owner, { serviceId: "delist-svc", category: "delist" }, { nonce: BigInt(delisting.nonce as string) - 1n }));
      expect(stale.json()).toMatchObject({ code: "stale_nonce" });
      const relisted = await post(await signedRegistration(owner, { serviceId: "delist-svc", category: "delist" }));
      expect(relisted.statusCode).toBe(200);
      expect(relisted.json()).toMatchObject({ status: "active" });
      expect((await get("/v1/services/delist-svc")).statusCode).toBe(200);
      expect(await ids("category=delist")).toEqual(["delist-svc"]);

      expect((await remove("no-such-svc", await signedDelisting(owner, "no-such-svc"))).json()).toMatchObject({ code: "service_not_found" });
    });

    it("answers 404 service_not_found for an unknown id", async () => {
      const res = await get("/v1/services/no-such-svc");
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: "service_not_found" });
    });
  });

  describe("discovery", () => {
    it("filters by category, tags (all), capability, provider and max_price (metered: its per-call maximum)", async () => {
      expect(await ids("category=vision&sort=price")).toEqual(["cat-alpha", "cat-beta"]);
      expect(await ids("tags=image&sort=price")).toEqual(["cat-alpha", "cat-beta"]);
      expect(await ids("tags=image,ocr")).toEqual(["cat-alpha"]);
      expect(await ids("tags=ocr,image")).toEqual(["cat-alpha"]);
      expect(await ids("tags=image,nlp")).toEqual([]);
      expect(await ids("capability=ocr&sort=price")).toEqual(["cat-gamma", "cat-alpha"]);
      expect(await ids(`provider=${catalogA.address}&sort=price`)).toEqual(["cat-epsilon", "cat-gamma", "cat-alpha"]);
      expect(await ids(`provider=${catalogB.address.toLowerCase()}`)).toEqual(["cat-beta", "cat-delta"]);
      // cat-beta costs 5 per unit but up to 5,000 per call.
      expect(await ids("category=vision&max_price=1000")).toEqual(["cat-alpha"]);
      expect(await ids("category=vision&max_price=5000")).toEqual(["cat-alpha", "cat-beta"]);
      expect(await ids("category=text&capability=translate&max_price=200")).toEqual(["cat-epsilon"]);
      expect(await ids("category=nothing-here")).toEqual([]);
    });

    it("returns each item with its public fields and never the upstream URL", async () => {
      const res = await get("/v1/services?category=vision&sort=price");
      const [alpha, beta] = res.json().items as Json[];
      expect(Object.keys(alpha ?? {}).sort()).toEqual(
        [
          "capabilities",
          "category",
          "createdAt",
          "description",
          "discovery",
          "exampleInput",
          "exampleOutput",
          "id",
          "maxPrice",
          "name",
          "price",
          "pricing",
          "provider",
          "reputation",
          "tags",
          "updatedAt",
          "usageHeader",
        ].sort(),
      );
      expect(beta).toMatchObject({ pricing: "metered", price: "5", maxPrice: "5000", usageHeader: "x-units", provider: catalogB.address });
      // Registered without discovery fields: GET without an example input, the defaults, and its bazaar extension.
      expect(alpha?.discovery).toEqual({
        httpMethod: "GET",
        bodyType: null,
        resourcePath: "/",
        inputDescription: "",
        outputDescription: "",
        bazaar: expect.objectContaining({ info: { input: { type: "http", method: "GET" } } }),
      });
      expect(res.body).not.toContain("upstream");
    });

    it("sorts by price (ascending max price, ties by id)", async () => {
      expect(await ids("category=text&sort=price")).toEqual(["cat-epsilon", "cat-gamma", "cat-delta"]);
    });

    it("scores providers with settled calls, shows the rest unrated, and sorts by reputation", async () => {
      // The indexer picks the settlements up shortly after they were mined.
      const { value: good } = await stack.chain.waitFor(
        () => get("/v1/services/rep-good"),
        (r) => r.json().reputation.callsServed === 30,
      );
      expect(good.json().reputation).toEqual({ score: (30 + 10) / 50, callsServed: 30, callsFailed: 0, feedbackCount: 0 });
      const { value: mixed } = await stack.chain.waitFor(
        () => get("/v1/services/rep-mixed"),
        (r) => r.json().reputation.callsFailed === 5,
      );
      expect(mixed.json().reputation).toEqual({ score: 0.5, callsServed: 5, callsFailed: 5, feedbackCount: 0 });
      expect((await get("/v1/services/rep-new")).json().reputation.score).toBeNull();

      // Default sort: reputation, descending, unrated last.
      expect(await ids("category=rep")).toEqual(["rep-good", "rep-mixed", "rep-new"]);
      expect(await ids("category=rep&sort=reputation")).toEqual(["rep-good", "rep-mixed", "rep-new"]);
      expect(await ids("category=rep&sort=price")).toEqual(["rep-mixed", "rep-new", "rep-good"]);
      // Unrated services tie, then go by id.
      expect(await ids("category=text")).toEqual(["cat-delta", "cat-epsilon", "cat-gamma"]);
    });

    it("filters by min_reputation, which excludes unrated services", async () => {
      expect(await ids("category=rep&min_reputation=0.6")).toEqual(["rep-good"]);
      expect(await ids("category=rep&min_reputation=0.5")).toEqual(["rep-good", "rep-mixed"]);
      expect(await ids("category=rep&min_reputation=0")).toEqual(["rep-good", "rep-mixed"]);
      expect(await ids("category=rep&min_reputation=0.81")).toEqual([]);
      expect(await ids("min_reputation=0&limit=100")).toEqual(["rep-good", "rep-mixed"]);
    });

    it("paginates both sorts without duplicates or gaps", async () => {
      for (let i = 0; i < 7; i++) {
        // Prices with ties, so that pages split inside runs of equal keys.
        await register(pager, { serviceId: `page-${i}`, category: "paging", price: BigInt(100 * (i % 3)) });
      }
      for (const sort of ["reputation", "price"] as const) {
        const all = await ids(`sort=${sort}&limit=100`);
        expect(all.length).toBeGreaterThan(15);
        const seen: unknown[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `sort=${sort}&limit=4${cursor ? `&cursor=${cursor}` : ""}`;
          const res = await get(`/v1/services?${query}`);
          expect(res.statusCode, res.body).toBe(200);
          const body = res.json() as { items: Json[]; nextCursor: string | null };
          expect(body.items.length).toBeLessThanOrEqual(4);
          seen.push(...body.items.map((item) => item.id));
          cursor = body.nextCursor;
          pages++;
        } while (cursor !== null);
        expect(seen).toEqual(all);
        expect(new Set(seen).size).toBe(seen.length);
        expect(pages).toBe(Math.ceil(all.length / 4));
      }

      // Within a filter, and with the default page size of 20.
      const first = (await get("/v1/services?category=paging&sort=price&limit=3")).json();
      expect(first.items.map((i: Json) => i.id)).toEqual(["page-0", "page-3", "page-6"]);
      const second = (await get(`/v1/services?category=paging&sort=price&limit=3&cursor=${first.nextCursor}`)).json();
      expect(second.items.map((i: Json) => i.id)).toEqual(["page-1", "page-4", "page-2"]);
      const third = (await get(`/v1/services?category=paging&sort=price&limit=3&cursor=${second.nextCursor}`)).json();
      expect(third).toEqual({ items: [expect.objectContaining({ id: "page-5" })], nextCursor: null });
      expect((await get("/v1/services")).json().items).toHaveLength(20);
    });
  });

  describe("bad input: always a 4xx with a stable code, never a 500", () => {
    const big128 = (2n ** 128n).toString();

    it("refuses bad registrations", async () => {
      const valid = await signedRegistration(owner, { serviceId: "bad-input-svc" });
      const cases: [string, Json | string, number, string][] = [
        ["missing name", { ...valid, name: undefined }, 400, "invalid_request"],
        ["empty name", { ...valid, name: "" }, 400, "invalid_request"],
        ["long name", { ...valid, name: "x".repeat(101) }, 400, "invalid_request"],
        ["short id", { ...valid, serviceId: "ab" }, 400, "invalid_service_id"],
        ["uppercase id", { ...valid, serviceId: "Weather" }, 400, "invalid_service_id"],
        ["id starting with a dash", { ...valid, serviceId: "-abc" }, 400, "invalid_service_id"],
        ["id too long", { ...valid, serviceId: "a".repeat(65) }, 400, "invalid_service_id"],
        ["fractional price", { ...valid, price: "1.5" }, 400, "invalid_amount"],
        ["negative price", { ...valid, price: "-1" }, 400, "invalid_amount"],
        ["exponent price", { ...valid, price: "1e6" }, 400, "invalid_amount"],
        ["leading zero", { ...valid, price: "01" }, 400, "invalid_amount"],
        ["price 2^128", { ...valid, price: big128, maxPrice: big128 }, 400, "invalid_amount"],
        ["40-digit maxPrice", { ...valid, maxPrice: "1".repeat(40) }, 400, "invalid_amount"],
        ["fixed with maxPrice != price", { ...valid, maxPrice: "2000" }, 400, "invalid_pricing"],
        ["fixed with a usageHeader", { ...valid, usageHeader: "x-units" }, 400, "invalid_pricing"],
        ["metered without usageHeader", { ...valid, pricing: "metered", maxPrice: "5000" }, 400, "invalid_pricing"],
        ["metered maxPrice below price", { ...valid, pricing: "metered", price: "10", maxPrice: "9", usageHeader: "x-units" }, 400, "invalid_pricing"],
        ["bad usageHeader", { ...valid, pricing: "metered", usageHeader: "x units" }, 400, "invalid_request"],
        ["unknown pricing", { ...valid, pricing: "free" }, 400, "invalid_request"],
        ["17 tags", { ...valid, tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }, 400, "invalid_request"],
        ["uppercase tag", { ...valid, tags: ["Weather"] }, 400, "invalid_request"],
        ["duplicate tags", { ...valid, tags: ["a", "a"] }, 400, "invalid_request"],
        ["17 capabilities", { ...valid, capabilities: Array.from({ length: 17 }, (_, i) => `c${i}`) }, 400, "invalid_request"],
        ["tags not an array", { ...valid, tags: { a: 1 } }, 400, "invalid_request"],
        ["uppercase category", { ...valid, category: "Data" }, 400, "invalid_request"],
        ["ftp upstream", { ...valid, upstreamUrl: "ftp://files.example/" }, 400, "invalid_upstream_url"],
        ["upstream with credentials", { ...valid, upstreamUrl: "https://user:pw@api.example/" }, 400, "invalid_upstream_url"],
        ["relative upstream", { ...valid, upstreamUrl: "/api" }, 400, "invalid_upstream_url"],
        ["empty upstream", { ...valid, upstreamUrl: "" }, 400, "invalid_upstream_url"],
        ["example not JSON", { ...valid, exampleInput: "{not json" }, 400, "invalid_example"],
        ["example too long", { ...valid, exampleOutput: `"${"x".repeat(20_000)}"` }, 400, "invalid_request"],
        ["bad provider", { ...valid, provider: "0x1234" }, 400, "invalid_request"],
        ["short signature", { ...valid, signature: "0xdead" }, 400, "invalid_signature"],
        ["zero signature", { ...valid, signature: `0x${"00".repeat(65)}` }, 401, "invalid_signature"],
        ["nonce not a number", { ...valid, nonce: "abc" }, 400, "invalid_request"],
        ["nonce above 2^256", { ...valid, nonce: (2n ** 256n).toString() }, 400, "invalid_nonce"],
        ["deadline not a number", { ...valid, deadline: "soon" }, 400, "invalid_request"],
        ["huge deadline", { ...valid, deadline: "99999999999999999999" }, 400, "deadline_too_far"],
        ["body is an array", [valid] as unknown as Json, 400, "invalid_request"],
        ["body is null", "null", 400, "invalid_request"],
        ["malformed JSON", "{", 400, "invalid_json"],
        ["a JSON string", '"hi"', 400, "invalid_request"],
      ];
      for (const [label, payload, status, code] of cases) {
        const res = await stack.app.inject({
          method: "POST",
          url: "/v1/services",
          headers: { "content-type": "application/json" },
          payload: typeof payload === "string" ? payload : JSON.stringify(payload),
        });
        expect({ label, status: res.statusCode, code: res.json().code }).toEqual({ label, status, code });
        expect(res.json().message, label).toEqual(expect.any(String));
      }
      const text = await stack.app.inject({ method: "POST", url: "/v1/services", headers: { "content-type": "application/xml" }, payload: "<a/>" });
      expect(text.statusCode).toBe(415);
      expect(text.json().code).toBe("unsupported_media_type");
      // None of the above was stored.
      expect((await get("/v1/services/bad-input-svc")).statusCode).toBe(404);
    });

    it("refuses bad delistings", async () => {
      const valid = await signedDelisting(owner, "weather-api");
      const cases: [string, string, Json | undefined, number, string][] = [
        ["bad id", "Weather", valid, 400, "invalid_service_id"],
        ["no body", "weather-api", undefined, 400, "invalid_request"],
        ["bad provider", "weather-api", { ...valid, provider: "owner" }, 400, "invalid_request"],
        ["expired", "weather-api", { ...valid, deadline: "1" }, 400, "deadline_expired"],
        ["short signature", "weather-api", { ...valid, signature: "0x00" }, 400, "invalid_signature"],
      ];
      for (const [label, id, payload, status, code] of cases) {
        const res = await stack.app.inject({ method: "DELETE", url: `/v1/services/${id}`, ...(payload ? { payload } : {}) });
        expect({ label, status: res.statusCode, code: res.json().code }).toEqual({ label, status, code });
      }
      expect((await get("/v1/services/weather-api")).statusCode).toBe(200);
    });

    it("refuses bad discovery queries and ids", async () => {
      const priceCursor = (await get("/v1/services?sort=price&limit=1")).json().nextCursor as string;
      const cases: [string, number, string][] = [
        ["limit=0", 400, "invalid_request"],
        ["limit=101", 400, "invalid_request"],
        ["limit=abc", 400, "invalid_request"],
        ["limit=2.5", 400, "invalid_request"],
        ["max_price=abc", 400, "invalid_amount"],
        ["max_price=-1", 400, "invalid_amount"],
        [`max_price=${big128}`, 400, "invalid_amount"],
        ["min_reputation=2", 400, "invalid_request"],
        ["min_reputation=-0.1", 400, "invalid_request"],
        ["min_reputation=high", 400, "invalid_request"],
        ["sort=name", 400, "invalid_request"],
        ["provider=0xnope", 400, "invalid_request"],
        ["tags=Image", 400, "invalid_request"],
        ["tags=a,,b", 400, "invalid_request"],
        ["category=A%20B", 400, "invalid_request"],
        ["cursor=!!!", 400, "invalid_cursor"],
        [`cursor=${Buffer.from("not json").toString("base64url")}`, 400, "invalid_cursor"],
        [`cursor=${Buffer.from('{"sort":"reputation","id":5}').toString("base64url")}`, 400, "invalid_cursor"],
        [`cursor=${Buffer.from('{"sort":"price","id":"x","maxPrice":"-1"}').toString("base64url")}&sort=price`, 400, "invalid_cursor"],
        [`cursor=${priceCursor}&sort=reputation`, 400, "invalid_cursor"],
      ];
      for (const [query, status, code] of cases) {
        const res = await get(`/v1/services?${query}`);
        expect({ query, status: res.statusCode, code: res.json().code }).toEqual({ query, status, code });
      }
      expect((await get(`/v1/services?cursor=${priceCursor}&sort=price`)).statusCode).toBe(200);
      for (const id of ["AB", "x", "has_underscore", "a".repeat(65)]) {
        const res = await get(`/v1/services/${id}`);
        expect({ id, status: res.statusCode, code: res.json().code }).toEqual({ id, status: 400, code: "invalid_service_id" });
      }
    });
  });
});
