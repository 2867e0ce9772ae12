import { request as httpRequest } from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import type { Address, Hex, LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildApp } from "../../api/src/app.ts";
import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import { voucherRequirements } from "../../api/src/payments/x402.ts";
import { agentTabEscrowAbi, authorizationHeader, mockSmartWalletAbi, fiatTokenAbi, signIn, signVoucher } from "@agenttab/sdk";
import { mockSmartWalletBytecode } from "@agenttab/sdk/bytecode";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService, voucherHeader, voucherPaymentHeader } from "../api/helpers/payments.ts";
import { escrowAs, testAccount } from "../indexer/helpers/actions.ts";
import { fundAgents } from "./helpers.ts";

const PRICE = 1_000n;
const BIG = 10n ** 15n;
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
// The shared stack's upstream timeout is generous, so a stall of a loaded machine never turns a
// property's forwarded call into a 504; the slow-body test builds its own app with a short one.
const UPSTREAM_TIMEOUT_MS = 10_000;
const SHORT_UPSTREAM_TIMEOUT_MS = 1_000;
const RUNS = 150;

const agent = testAccount("hostile agent");
const victim = testAccount("hostile victim");
const victimDelegate = testAccount("hostile victim's delegate");
const revokedDelegate = testAccount("hostile revoked delegate");
const attacker = testAccount("hostile attacker");
const provider = testAccount("hostile provider");
const otherProvider = testAccount("hostile other provider");

type Seen = { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: Buffer };

/**
 * Hostile input against the real app: properties (fast-check) over payment headers, vouchers,
 * paths and bodies — never a 5xx, nothing forwarded or charged when refused — plus what needs a
 * real socket (oversize and smuggled headers, slow clients), and reads of someone else's data.
 */
describe("reliability: hostile input", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let baseUrl: string;
  const seen: Seen[] = [];
  let agentPayment: string;

  const ledgerTotals = async () => {
    const [row] = await stack.app.sql<{ charged: string; reserved: string; charges: number }[]>`
      SELECT (SELECT coalesce(sum(charged), 0) FROM ledger_accounts)::text AS charged,
             (SELECT coalesce(sum(reserved), 0) FROM ledger_accounts)::text AS reserved,
             (SELECT count(*) FROM charges)::int AS charges`;
    return { charged: BigInt(row!.charged), reserved: BigInt(row!.reserved), charges: row!.charges };
  };
  const get = (url: string, headers: Record<string, string>) => stack.app.inject({ method: "GET", url, headers });
  /** A GET on a real socket with the request-target exactly as given (inject would normalize it). */
  const rawGet = (port: number, target: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: target, headers, timeout: 20_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer to ${target}`)));
      req.on("error", reject);
      req.end();
    });
  /** Sends raw bytes on a fresh connection and returns everything the server answers before closing. */
  const rawExchange = (bytes: string | Buffer, { endAfterMs = 3_000, until, url = baseUrl }: { endAfterMs?: number; until?: (answer: string) => boolean; url?: string } = {}) =>
    new Promise<string>((resolve, reject) => {
      const port = Number(new URL(url).port);
      const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
      let answer = "";
      socket.on("data", (chunk) => {
        answer += chunk.toString("latin1");
        if (until?.(answer)) socket.destroy();
      });
      socket.on("error", reject);
      socket.on("close", () => resolve(answer));
      setTimeout(() => socket.destroy(), endAfterMs).unref();
    });

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      });
    });
    stack = await startApiStack({ upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS, rateLimit: { max: 1_000_000, windowMs: 60_000 } });
    await listService(stack, { id: "target", provider: provider.address, upstreamUrl: `${upstream.url}/base`, price: PRICE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    await fundAgents(stack.chain, [agent, victim], 100_000_000n);
    await escrowAs(stack.chain, victim, "authorizeDelegate", [victimDelegate.address, 1_000_000n, 0]);
    await escrowAs(stack.chain, victim, "authorizeDelegate", [revokedDelegate.address, 1_000_000n, 0]);
    await escrowAs(stack.chain, victim, "revokeDelegate", [revokedDelegate.address]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: victim.address, delegate: victimDelegate.address }), (d) => d?.active === true);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: victim.address, delegate: revokedDelegate.address }), (d) => d?.active === false);
    // One generous voucher: the balance and the price, not the voucher, bound what a call costs.
    agentPayment = await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: BIG });
    // The victim has charges and a provider has earnings, so there is data to leak.
    const victimPaid = await get("/v1/proxy/target/private", { "payment-signature": await voucherHeader(stack.chain.deployment, { signer: victim, provider: provider.address, maxCumulative: PRICE }) });
    expect(victimPaid.statusCode).toBe(200);
    seen.length = 0;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    upstream?.server.closeAllConnections();
    await upstream?.close();
  });

  describe("payment headers and vouchers (properties)", () => {
    it("never answers 5xx to an arbitrary PAYMENT-SIGNATURE, forwards nothing and charges nothing", async () => {
      const before = await ledgerTotals();
      const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 5_000 });
      const base64Of = (arb: fc.Arbitrary<string>) => arb.map((s) => Buffer.from(s).toString("base64"));
      const header = fc.oneof(printable, base64Of(fc.json({ maxDepth: 4 })), base64Of(printable), fc.base64String({ maxLength: 600 }));
      await fc.assert(
        fc.asyncProperty(header, async (value) => {
          fc.pre(value.trim() !== "");
          const res = await get("/v1/proxy/target/x", { "payment-signature": value });
          expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, res.body).toBeLessThan(500);
          expect(res.json().code).toMatch(/^[a-z][a-z0-9_]*$/);
        }),
        { numRuns: RUNS },
      );
      expect(seen).toEqual([]);
      expect(await ledgerTotals()).toEqual(before);
    });

    it("refuses structurally valid payloads with hostile fields: replays across chain and contract, zero and high-s signatures, other people's accounts", async () => {
      const { deployment } = stack.chain;
      const sign = (
        signer: LocalAccount,
        { chainId = deployment.chainId, escrow = deployment.escrow, account = signer.address, payee = provider.address, max = BIG }: { chainId?: number; escrow?: Address; account?: Address; payee?: Address; max?: bigint } = {},
      ) => signVoucher(signer, { chainId, escrow, account, provider: payee, maxCumulative: max });
      const good = await sign(agent);
      const s = BigInt(`0x${good.slice(66, 130)}`);
      const v = Number.parseInt(good.slice(130), 16);
      const highS = `0x${good.slice(2, 66)}${(SECP256K1_N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}` as Hex;
      const forVictim = await sign(attacker, { account: victim.address });
      const forOtherProvider = await sign(agent, { payee: otherProvider.address });
      const pool: Hex[] = [
        await sign(agent, { chainId: 8453 }),
        await sign(agent, { chainId: 84532 }),
        await sign(agent, { escrow: deployment.reputation }),
        await sign(agent, { escrow: deployment.usdc }),
        await sign(agent, { max: BIG + 1n }),
        forOtherProvider,
        await sign(attacker, { account: victim.address, payee: otherProvider.address }),
        highS,
        `0x${"00".repeat(65)}`,
        `0x${"ff".repeat(65)}`,
        forVictim,
        await sign(attacker),
        await sign(privateKeyToAccount(generatePrivateKey())),
      ];
      const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => `0x${Buffer.from(b).toString("hex")}`);
      const hex = fc.uint8Array({ maxLength: 80 }).map((b) => `0x${Buffer.from(b).toString("hex")}`);
      const payload = fc.record({
        x402Version: fc.oneof(fc.constant<unknown>(2), fc.constant<unknown>(2), fc.integer(), fc.constant<unknown>("2")),
        scheme: fc.oneof(fc.constant("agenttab-voucher"), fc.constant("agenttab-voucher"), fc.constant("exact"), fc.string()),
        network: fc.oneof(fc.constant(deployment.network as string), fc.constant(deployment.network as string), fc.constantFrom("eip155:8453", "eip155:84532", "eip155:1"), fc.string()),
        // The provider paid; the escrow in `extra.escrow`, or (older clients) in payTo with no extra.escrow.
        payTo: fc.oneof(fc.constant(provider.address as string), fc.constant(deployment.escrow as string), fc.constantFrom(deployment.reputation, deployment.usdc), address),
        extraEscrow: fc.oneof(fc.constant<string | undefined>(deployment.escrow), fc.constant<string | undefined>(deployment.escrow), fc.constant<string | undefined>(undefined), fc.constantFrom(deployment.reputation, deployment.usdc), address),
        provider: fc.oneof(fc.constant(provider.address as string), fc.constant(provider.address as string), fc.constant(otherProvider.address as string), address, fc.string()),
        account: fc.oneof(fc.constant(agent.address as string), fc.constant(victim.address as string), fc.constant(attacker.address as string), address, fc.string()),
        signer: fc.oneof(fc.constant(agent.address as string), fc.constant(victim.address as string), fc.constant(attacker.address as string), address, fc.string()),
        maxCumulative: fc.oneof(fc.constant(BIG.toString()), fc.bigInt({ min: -10n, max: 1n << 260n }).map(String), fc.constantFrom("1e18", "0x10", " 1", "", "01"), fc.string()),
        signature: fc.oneof(fc.constantFrom(...pool), hex, fc.string()),
      });
      // Every pool signature, plus each envelope refusal, in an otherwise valid payload: these run on
      // every seed, so the refusals asserted at the end are reached by construction, not by luck
      // (eight independent fields all landing on valid values is rare in a few hundred random runs).
      const valid = {
        x402Version: 2 as unknown,
        scheme: "agenttab-voucher",
        network: deployment.network as string,
        payTo: provider.address as string,
        extraEscrow: deployment.escrow as string | undefined,
        provider: provider.address as string,
        account: agent.address as string,
        signer: agent.address as string,
        maxCumulative: BIG.toString(),
        signature: good as string,
      };
      const examples: [typeof valid][] = [
        ...pool.map((signature): [typeof valid] => [{ ...valid, signature }]),
        [{ ...valid, account: victim.address, signer: attacker.address, signature: forVictim }],
        [{ ...valid, network: "eip155:8453" }],
        [{ ...valid, extraEscrow: deployment.reputation }],
        [{ ...valid, payTo: deployment.usdc, extraEscrow: undefined }],
        [{ ...valid, provider: otherProvider.address, signature: forOtherProvider }],
        [{ ...valid, maxCumulative: "1e18" }],
      ];
      const before = await ledgerTotals();
      const codes = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(payload, async (p) => {
          const header = Buffer.from(
            JSON.stringify({
              x402Version: p.x402Version,
              accepted: {
                scheme: p.scheme,
                network: p.network,
                amount: PRICE.toString(),
                asset: deployment.usdc,
                payTo: p.payTo,
                maxTimeoutSeconds: 60,
                extra: p.extraEscrow === undefined ? {} : { escrow: p.extraEscrow },
              },
              payload: { account: p.account, signer: p.signer, provider: p.provider, maxCumulative: p.maxCumulative, signature: p.signature },
            }),
          ).toString("base64");
          const res = await get("/v1/proxy/target/x", { "payment-signature": header });
          expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, res.body).toBeLessThan(500);
          const body = res.json();
          expect(body.code).toMatch(/^[a-z][a-z0-9_]*$/);
          codes.set(body.code, (codes.get(body.code) ?? 0) + 1);
          // A refusal never tells one account's totals to a payer who did not sign for it: at most
          // (wrong_provider) the signer's own track on it, empty for a signer that may not spend there.
          if (p.account.toLowerCase() === victim.address.toLowerCase()) expect(res.body).not.toMatch(/"(charged|spent)":"[1-9]/);
        }),
        { numRuns: RUNS * 2, examples },
      );
      expect(seen).toEqual([]);
      expect(await ledgerTotals()).toEqual(before);
      // The examples reached past the envelope checks into signature and ledger refusals.
      expect([...codes.keys()]).toEqual(expect.arrayContaining(["invalid_signature", "wrong_network", "wrong_escrow", "wrong_provider", "invalid_amount"]));
    });
  });

  it("gives an ERC-1271 wallet that lies nothing: the proxy takes only ECDSA vouchers, so it never asks the wallet", async () => {
    const { deployment } = stack.chain;
    const owner = testAccount("hostile lying wallet owner");
    const ownerWallet = await stack.chain.walletFor(owner);
    const deployed = await stack.chain.mined(ownerWallet.deployContract({ abi: mockSmartWalletAbi, bytecode: mockSmartWalletBytecode, args: [owner.address] }));
    const wallet = deployed.contractAddress!;
    await stack.chain.mined(ownerWallet.writeContract({ address: wallet, abi: mockSmartWalletAbi, functionName: "setLying", args: [true] }));
    await stack.chain.mint(owner.address, 10_000_000n);
    await stack.chain.mined(ownerWallet.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [deployment.escrow, 10_000_000n] }));
    await stack.chain.mined(ownerWallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "depositFor", args: [wallet, 10_000_000n] }));
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: wallet }), (a) => a?.balance === 10_000_000n);
    const before = await ledgerTotals();
    const hits = seen.length;
    const header = (signer: `0x${string}`, signature: Hex) =>
      voucherPaymentHeader({ accepted: voucherRequirements({ deployment, amount: 0n, provider: provider.address }), account: wallet, signer, provider: provider.address, maxCumulative: BIG, signature });
    const ownerSigned = await signVoucher(owner, { chainId: deployment.chainId, escrow: deployment.escrow, account: wallet, provider: provider.address, maxCumulative: BIG });
    const cases: [string, string, number, string][] = [
      ["the owner's signature, as the wallet", header(wallet, ownerSigned), 402, "invalid_signature"],
      ["a zero signature, as the wallet", header(wallet, `0x${"00".repeat(65)}`), 402, "invalid_signature"],
      ["junk the lying wallet would accept", header(wallet, `0x${"ab".repeat(65)}`), 402, "invalid_signature"],
      ["the attacker's own signature on the wallet's account", header(attacker.address, await signVoucher(attacker, { chainId: deployment.chainId, escrow: deployment.escrow, account: wallet, provider: provider.address, maxCumulative: BIG })), 402, "delegate_not_authorized"],
    ];
    for (const [name, payment, status, code] of cases) {
      const res = await get("/v1/proxy/target/x", { "payment-signature": payment });
      expect({ name, status: res.statusCode, code: res.json().code }).toEqual({ name, status, code });
    }
    expect(seen.length).toBe(hits);
    expect(await ledgerTotals()).toEqual(before);
  });

  it("does not forward to a name that now resolves to a private address (DNS rebinding), and charges nothing", async () => {
    // Registration refuses private hosts; this service's name resolved publicly then and points at
    // loopback now (written straight to the ledger, as a rebinding would leave it).
    await stack.app.sql`
      INSERT INTO services (id, provider, name, category, upstream_url, pricing, price, max_price, nonce)
      VALUES ('rebound', ${provider.address.toLowerCase()}, 'rebound', 'test', ${`http://localhost:${new URL(upstream.url).port}/base`}, 'fixed', ${PRICE.toString()}, ${PRICE.toString()}, 1)`;
    const guarded: FastifyInstance = await buildApp(
      { ...stack.app.config, allowPrivateUpstreams: false },
      { logger: false },
    );
    try {
      await guarded.ready();
      const before = await ledgerTotals();
      const hits = seen.length;
      const res = await guarded.inject({ method: "GET", url: "/v1/proxy/rebound/x", headers: { "payment-signature": agentPayment } });
      expect(res.statusCode, res.body).toBe(502);
      expect(res.json()).toMatchObject({ code: "upstream_unreachable" });
      expect(seen.length).toBe(hits);
      expect(await ledgerTotals()).toEqual(before);
    } finally {
      await guarded.close();
    }
  });

  describe("paths, bodies and headers (properties)", () => {
    it("never lets a path climb out of the provider's base URL; refused paths are not charged", async () => {
      const segment = fc.oneof(
        fc.constantFrom("..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2e", "%2f", "%2F", "%5c", "..%2f", "..%5c", "%00", "%0d%0a", "%0aSet-Cookie:x", "%252e%252e", "%c0%ae%c0%ae", "..;", ";", "", "~", "%20", "%zz"),
        fc.stringMatching(/^[A-Za-z0-9._~-]{1,8}$/),
      );
      const pathArb = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.option(fc.stringMatching(/^[A-Za-z0-9=&%._-]{0,20}$/))).map(([segments, query]) => `${segments.join("/")}${query === null ? "" : `?${query}`}`);
      let okCalls = 0;
      const before = await ledgerTotals();
      await fc.assert(
        fc.asyncProperty(pathArb, async (path) => {
          const hits = seen.length;
          const res = await get(`/v1/proxy/target/${path}`, { "payment-signature": agentPayment });
          expect(res.statusCode, `${path}: ${res.body}`).toBeLessThan(500);
          if (res.statusCode === 200) {
            okCalls++;
            const forwarded = seen.at(-1)!.url.split("?")[0]!;
            expect(forwarded.startsWith("/base/"), forwarded).toBe(true);
            for (const part of forwarded.split("/")) expect([".", ".."]).not.toContain(decodeURIComponent(part));
          } else {
            expect(res.statusCode, `${path}: ${res.body}`).toBeGreaterThanOrEqual(400);
            expect(seen.length).toBe(hits);
          }
        }),
        { numRuns: RUNS },
      );
      const after = await ledgerTotals();
      expect(after.charges - before.charges).toBe(okCalls);
      expect(after.charged - before.charged).toBe(PRICE * BigInt(okCalls));
      expect(after.reserved).toBe(0n);
    });

    it("never sends a call to another origin from a path-less upstream, whatever the path; the path reaches it as sent (issue 12)", async () => {
      // A loopback canary that no call may ever reach, and a path-less service: the shape under
      // which `//host` used to replace the upstream's host.
      let canaryConnections = 0;
      const canary = await startUpstream((_req, res) => res.writeHead(200).end("canary"));
      canary.server.on("connection", () => canaryConnections++);
      const c = new URL(canary.url).port;
      await listService(stack, { id: "pathless", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
      try {
        const hostLike = fc.constantFrom(`127.0.0.1:${c}`, `localhost:${c}`, `[::1]:${c}`, `[::ffff:127.0.0.1]:${c}`, `2130706433:${c}`, `0x7f000001:${c}`, `%2f127.0.0.1:${c}`, `\\127.0.0.1:${c}`, `%5c127.0.0.1:${c}`, "169.254.169.254");
        const segment = fc.oneof(fc.constant(""), fc.constant(""), hostLike, fc.constantFrom("..", "%2e%2e", "%2f", "%3F", "%23", "%25", "a%2541", "@", ":", ";"), fc.stringMatching(/^[A-Za-z0-9._~-]{1,8}$/));
        const pathArb = fc
          .tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.option(fc.stringMatching(/^[A-Za-z0-9=&%._/:-]{0,20}$/)))
          .map(([segments, query]) => `${segments.join("/")}${query === null ? "" : `?${query}`}`);
        const port = Number(new URL(baseUrl).port);
        const before = await ledgerTotals();
        let okCalls = 0;
        await fc.assert(
          fc.asyncProperty(pathArb, async (path) => {
            const hits = seen.length;
            const res = await rawGet(port, `/v1/proxy/pathless/${path}`, { "payment-signature": agentPayment });
            expect(res.status, `${path}: ${res.body}`).toBeLessThan(500);
            if (res.status === 200) {
              okCalls++;
              // Exactly what was sent, joined to the upstream's (empty) base path.
              expect(seen.at(-1)!.url).toBe(`/${path}`);
              expect(seen.at(-1)!.url.startsWith("//")).toBe(false);
            } else {
              expect(res.status, `${path}: ${res.body}`).toBeGreaterThanOrEqual(400);
              expect(seen.length).toBe(hits);
            }
          }),
          {
            numRuns: RUNS,
            // Every host form, in every encoding, as a protocol-relative path: on every seed.
            examples: [`//127.0.0.1:${c}/x`, `///127.0.0.1:${c}/x`, `%2f%2f127.0.0.1:${c}/x`, `//[::1]:${c}/`, `//2130706433:${c}/x`, `/\\127.0.0.1:${c}/x`, "a//b", "a/"].map((p) => [p.replace(/^\//, "")] as [string]),
          },
        );
        expect(canaryConnections).toBe(0);
        const after = await ledgerTotals();
        expect(after.charges - before.charges).toBe(okCalls);
        expect(after.reserved).toBe(0n);
      } finally {
        await canary.close();
      }
    });

    it("forwards any body byte for byte, whatever its content type, and charges each call once", async () => {
      const before = await ledgerTotals();
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("POST", "PUT", "PATCH", "DELETE"),
          fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "garbage/%%", undefined),
          fc.uint8Array({ minLength: 1, maxLength: 4_096 }),
          async (method, contentType, bytes) => {
            const res = await stack.app.inject({
              method,
              url: "/v1/proxy/target/echo",
              headers: { "payment-signature": agentPayment, ...(contentType ? { "content-type": contentType } : {}) },
              payload: Buffer.from(bytes),
            });
            expect(res.statusCode, res.body).toBe(200);
            calls++;
            expect(seen.at(-1)!.method).toBe(method);
            expect(Buffer.compare(seen.at(-1)!.body, Buffer.from(bytes))).toBe(0);
          },
        ),
        { numRuns: 60 },
      );
      const after = await ledgerTotals();
      expect(after.charges - before.charges).toBe(calls);
      expect(after.charged - before.charged).toBe(PRICE * BigInt(calls));
    });

    it("strips payment, billing and sign-in headers and the caller's forwarding claims before the upstream", async () => {
      const { chainId, escrow } = stack.chain.deployment;
      const res = await get("/v1/proxy/target/headers", {
        "payment-signature": agentPayment,
        authorization: authorizationHeader(await signIn(agent, { chainId, escrow, ttlSeconds: 600 })),
        "x-acf-amount": "0",
        "x-payment-max-amount": "1000000",
        "x-forwarded-for": "169.254.169.254",
        "x-payment": "legacy",
        "proxy-authorization": "Basic Zm9vOmJhcg==",
        te: "trailers",
      });
      expect(res.statusCode).toBe(200);
      const headers = seen.at(-1)!.headers;
      for (const name of ["payment-signature", "authorization", "x-acf-amount", "x-payment-max-amount", "x-payment", "proxy-authorization", "te"]) expect(headers[name], name).toBeUndefined();
      expect(headers["x-forwarded-for"]).toBe("127.0.0.1");
    });
  });

  describe("on a real socket", () => {
    it("answers 431 to oversize headers, and 400 to smuggling and header-injection attempts, none forwarded or charged", async () => {
      const before = await ledgerTotals();
      const hits = seen.length;
      const head = (lines: string[]) => `${["GET /v1/proxy/target/x HTTP/1.1", "Host: 127.0.0.1", `Payment-Signature: ${agentPayment}`, ...lines].join("\r\n")}\r\n\r\n`;
      const oversize = await rawExchange(head([`X-Filler: ${"a".repeat(20_000)}`]));
      expect(oversize).toMatch(/^HTTP\/1\.1 431 /);
      const manyHeaders = await rawExchange(head(Array.from({ length: 600 }, (_, i) => `X-H${i}: ${"b".repeat(40)}`)));
      expect(manyHeaders).toMatch(/^HTTP\/1\.1 431 /);
      const smuggled = await rawExchange(`${head(["Content-Length: 5", "Transfer-Encoding: chunked"]).slice(0, -2)}\r\n0\r\n\r\nGET /v1/proxy/target/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(smuggled).toMatch(/^HTTP\/1\.1 400 /);
      const folded = await rawExchange(head(["X-Folded: a", " Injected: yes"]));
      expect(folded).toMatch(/^HTTP\/1\.1 400 /);
      const bareLf = await rawExchange(`GET /v1/proxy/target/x HTTP/1.1\r\nHost: 127.0.0.1\r\nPayment-Signature: ${agentPayment}\nX-Injected: yes\r\n\r\n`);
      expect(bareLf).toMatch(/^HTTP\/1\.1 400 /);
      const badName = await rawExchange(head(["X Bad Name: 1"]));
      expect(badName).toMatch(/^HTTP\/1\.1 400 /);
      const crlfInPath = await fetch(`${baseUrl}/v1/proxy/target/x%0d%0aSet-Cookie:%20a=b`, { headers: { "payment-signature": agentPayment } });
      expect(crlfInPath.status).toBe(400);
      expect(await crlfInPath.json()).toMatchObject({ code: "invalid_path" });
      expect(seen.length).toBe(hits);
      expect(await ledgerTotals()).toEqual(before);
    });

    it("does not let a client that sends its body slowly hold a reservation: 504 at the upstream timeout, not charged", async () => {
      // The same app on the same ledger, with a short upstream timeout so the test is quick.
      const short: FastifyInstance = await buildApp({ ...stack.app.config, allowPrivateUpstreams: true, upstreamTimeoutMs: SHORT_UPSTREAM_TIMEOUT_MS }, { logger: false });
      try {
        await short.listen({ host: "127.0.0.1", port: 0 });
        const url = `http://127.0.0.1:${(short.server.address() as AddressInfo).port}`;
        const before = await ledgerTotals();
        const started = performance.now();
        const answer = await rawExchange(
          `POST /v1/proxy/target/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nPayment-Signature: ${agentPayment}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789`,
          { url, endAfterMs: SHORT_UPSTREAM_TIMEOUT_MS + 8_000, until: (answer) => answer.endsWith("}") },
        );
        expect(answer).toMatch(/^HTTP\/1\.1 504 /);
        expect(answer).toContain('"code":"upstream_timeout"');
        expect(performance.now() - started).toBeLessThan(SHORT_UPSTREAM_TIMEOUT_MS + 6_000);
        const after = await ledgerTotals();
        expect(after).toEqual({ ...before, reserved: 0n });
      } finally {
        await short.close();
      }
    });

    it("closes a connection whose headers never finish (slowloris) once the request timeout passes", async () => {
      // The production app's server: a finite request timeout tied to the upstream timeout.
      expect(stack.app.server.requestTimeout).toBe(UPSTREAM_TIMEOUT_MS + 10_000);
      // The same app with a short timeout and a fast sweep of idle connections, so the test is quick.
      const strict: FastifyInstance = await buildApp(
        { ...stack.app.config, allowPrivateUpstreams: true },
        // `http` goes to node:http's createServer (Fastify passes it through; its types leave it out).
        { logger: false, requestTimeout: 1_000, ...{ http: { connectionsCheckingInterval: 200 } } },
      );
      try {
        await strict.listen({ host: "127.0.0.1", port: 0 });
        const port = (strict.server.address() as AddressInfo).port;
        const started = performance.now();
        const answer = await new Promise<string>((resolve) => {
          const socket = net.connect(port, "127.0.0.1");
          let received = "";
          socket.write("GET /v1/proxy/target/x HTTP/1.1\r\nHost: 127.0.0.1\r\n");
          const drip = setInterval(() => socket.write("X-Slow: a\r\n"), 200);
          socket.on("data", (chunk) => (received += chunk.toString("latin1")));
          socket.on("error", () => {});
          socket.on("close", () => {
            clearInterval(drip);
            resolve(received);
          });
          setTimeout(() => socket.destroy(), 8_000).unref();
        });
        expect(answer).toMatch(/^HTTP\/1\.1 408 /);
        expect(performance.now() - started).toBeLessThan(7_000);
      } finally {
        await strict.close();
      }
    });
  });

  describe("someone else's data", () => {
    it("answers 403 with nothing else to every read of another agent's money or another provider's earnings", async () => {
      const { chainId, escrow } = stack.chain.deployment;
      const as = async (account: LocalAccount) => authorizationHeader(await signIn(account, { chainId, escrow, ttlSeconds: 600 }));
      const reads = (address: string) => [
        `/v1/agents/${address}/balance`,
        `/v1/agents/${address}/transactions`,
        `/v1/agents/${address}/transactions?limit=100&service_id=target`,
        `/v1/agents/${address}/spending`,
        `/v1/agents/${address}/spending?period=day`,
      ];
      const forms = (address: string) => [address, address.toLowerCase(), `0x${address.slice(2).toUpperCase()}`];
      const cases: [string, string, string][] = [];
      for (const [who, header] of [
        ["another agent", await as(agent)],
        ["the attacker", await as(attacker)],
        ["a revoked delegate", await as(revokedDelegate)],
        ["the provider", await as(provider)],
      ] as const) {
        for (const form of forms(victim.address)) for (const url of reads(form)) cases.push([who, url, header]);
      }
      for (const [who, header] of [
        ["an agent who paid it", await as(victim)],
        ["another provider", await as(otherProvider)],
        ["the victim's delegate", await as(victimDelegate)],
      ] as const) {
        for (const form of forms(provider.address)) cases.push([who, `/v1/providers/${form}/earnings`, header]);
      }
      // A delegate reads the account it spends from, never another.
      for (const url of reads(agent.address)) cases.push(["the victim's delegate", url, await as(victimDelegate)]);

      const bodies = new Set<string>();
      const wrong: string[] = [];
      for (const [who, url, authorization] of cases) {
        const res = await get(url, { authorization });
        if (res.statusCode !== 403) wrong.push(`${who} ${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        bodies.add(res.body);
      }
      expect(wrong).toEqual([]);
      // One fixed body per kind of read (agent data, provider earnings): nothing about the target.
      expect(bodies.size).toBeLessThanOrEqual(2);
      for (const body of bodies) {
        expect(Object.keys(JSON.parse(body)).sort()).toEqual(["code", "message"]);
        expect(JSON.parse(body).code).toBe("forbidden");
        expect(body).not.toMatch(/0x[0-9a-fA-F]{6}|[0-9]{4}/);
      }
      // The same reads by their owners work, so the 403s above are not a broken route.
      expect((await get(`/v1/agents/${victim.address}/transactions`, { authorization: await as(victim) })).json().items).toHaveLength(1);
      expect((await get(`/v1/agents/${victim.address}/balance`, { authorization: await as(victimDelegate) })).statusCode).toBe(200);
      expect((await get(`/v1/providers/${provider.address}/earnings`, { authorization: await as(provider) })).statusCode).toBe(200);
      // Without a sign-in, or with one for another chain, nothing either.
      expect((await get(`/v1/agents/${victim.address}/balance`, {})).statusCode).toBe(401);
      const otherChain = authorizationHeader(await signIn(victim, { chainId: 8453, escrow, ttlSeconds: 600 }));
      expect((await get(`/v1/agents/${victim.address}/balance`, { authorization: otherChain })).statusCode).toBe(401);
    });
  });
});
