import http from "node:http";
import type { AddressInfo } from "node:net";

import { x402Client } from "@x402/core/client";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { ExactEvmScheme, registerExactEvmScheme } from "@x402/evm/exact/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import type { FastifyInstance } from "fastify";
import { getAddress } from "viem";
import type { Address, Hex, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildApp } from "../../api/src/app.ts";
import { exactClientKey } from "../../api/src/payments/exactRateLimit.ts";
import { pruneExactPayments } from "../../api/src/payments/exactReconcile.ts";
import { mockSmartWalletBytecode } from "@agenttab/sdk/bytecode";
import { agentTabEscrowAbi, mockSmartWalletAbi, fiatTokenAbi } from "@agenttab/sdk";
import { testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { awaitFreshWindow } from "./helpers/clockWindow.ts";
import { listService } from "./helpers/payments.ts";

const PRICE = 25_000n;
const FEE = PRICE / 100n; // the local deployment's 1%
const UPSTREAM_TIMEOUT_MS = 1_000;
const BLOCK_INTERVAL_MS = 2_500;
const MAX_RESPONSE = 4 * 1024 * 1024;
/** A response bigger than undici's and the sockets' buffers: it cannot all arrive while nobody reads it. */
const REPORT = Buffer.from(Array.from({ length: 2 * 1024 * 1024 }, (_, i) => (i * 7) % 251));
const HUGE = Buffer.alloc(MAX_RESPONSE + 1024, 1);
// The rate-limited app's window: one hour, so that a run of attempts never straddles a boundary.
const WINDOW_MS = 3_600_000;
// The methods an exact attempt's checks and settlement use (the apps' head polling uses none of them).
const PAYMENT_RPC = ["eth_call", "eth_getCode", "eth_estimateGas", "eth_sendRawTransaction"];

/** A JSON-RPC relay on 127.0.0.1 in front of the chain that counts the calls passing through it, by method. */
async function startCountingRelay(target: string) {
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      try {
        for (const call of [JSON.parse(body.toString()) as { method: string } | { method: string }[]].flat()) counts.set(call.method, (counts.get(call.method) ?? 0) + 1);
      } catch {
        // Not JSON: forwarded as it is, for the chain to refuse.
      }
      fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body })
        .then(async (answer) => res.writeHead(answer.status, { "content-type": "application/json" }).end(Buffer.from(await answer.arrayBuffer())))
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** The calls so far that only a payment attempt makes. */
    paymentCalls: () => PAYMENT_RPC.reduce((sum, method) => sum + (counts.get(method) ?? 0), 0),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("the x402 exact path", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let apiUrl: string;
  let upstreamCalls = 0;
  const provider = testAccount("exact path provider");
  const url = (path: string) => `${apiUrl}/v1/proxy/${path}`;

  const read = {
    usdc: (owner: Address) => stack.chain.publicClient.readContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [owner] }),
    earnings: () => stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider.address] }),
    relayerNonce: () => stack.chain.publicClient.getTransactionCount({ address: stack.app.relayer?.address as Address, blockTag: "pending" }),
  };
  const rowsOf = (payer: Address) =>
    stack.app.sql<{ status: string; tx_hash: string | null; upstream_status: number | null; error: string | null }[]>`
      SELECT status, tx_hash, upstream_status, error FROM exact_payments WHERE payer = ${payer.toLowerCase()} ORDER BY created_at`;

  /** A stock x402 client with only @x402/evm's exact scheme, allowed to pay the local FiatToken. */
  const exactClient = (signer: Pick<LocalAccount, "address" | "signTypedData">) => {
    const client = new x402Client();
    registerExactEvmScheme(client, { signer });
    return client.setSpendControls({ allowedAssets: [{ network: stack.chain.deployment.network, asset: stack.chain.deployment.usdc }] });
  };
  /** The `exact` offer of `app`'s 402 for an unpaid call. */
  const exactOffer = async (app: FastifyInstance, path: string): Promise<PaymentRequirements> => {
    const res = await app.inject({ url: `/v1/proxy/${path}` });
    expect(res.statusCode).toBe(402);
    const offer = decodePaymentRequiredHeader(res.headers["payment-required"] as string).accepts.find((a) => a.scheme === "exact");
    if (!offer) throw new Error("no exact offer");
    return offer;
  };
  /** A PAYMENT-SIGNATURE header the stock exact scheme signs for `requirements`. */
  const exactHeader = async (requirements: PaymentRequirements, signer: Pick<LocalAccount, "address" | "signTypedData">) => {
    const { payload } = await new ExactEvmScheme(signer).createPaymentPayload(2, requirements);
    return encodePaymentSignatureHeader({ x402Version: 2, accepted: requirements, payload });
  };

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      upstreamCalls += 1;
      const route = req.url?.replace(/^\/api/, "") ?? "";
      if (route.startsWith("/report")) {
        res.writeHead(200, { "content-type": "application/octet-stream" }).end(REPORT);
      } else if (route.startsWith("/cut")) {
        // Headers and a quarter of the body, then the connection drops.
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(REPORT.length) });
        res.write(REPORT.subarray(0, REPORT.length / 4), () => setTimeout(() => res.socket?.destroy(), 50));
      } else if (route.startsWith("/dribble")) {
        // One byte every 200 ms of 40: still arriving at the upstream deadline.
        res.writeHead(200, { "content-type": "text/plain", "content-length": "40" });
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed || sent === 40) return clearInterval(timer);
          sent += 1;
          res.write("x");
        }, 200);
        res.on("close", () => clearInterval(timer));
      } else if (route.startsWith("/huge-declared")) {
        res.writeHead(200, { "content-type": "application/octet-stream" }).end(HUGE);
      } else if (route.startsWith("/huge-chunked")) {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.write(HUGE.subarray(0, MAX_RESPONSE / 2));
        res.end(HUGE.subarray(MAX_RESPONSE / 2));
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url }));
      }
    });
    stack = await startApiStack({ upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS, maxExactResponseBytes: MAX_RESPONSE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    await listService(stack, { id: "echo", provider: provider.address, upstreamUrl: `${upstream.url}/api`, price: PRICE });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  describe("item 7: the payer gets the whole response it paid for, or pays nothing (slow blocks)", () => {
    const payers = {
      report: testAccount("exact path report payer"),
      small: testAccount("exact path small-answer payer"),
      cut: testAccount("exact path cut-body payer"),
      dribble: testAccount("exact path dribble payer"),
      huge: testAccount("exact path huge-body payer"),
    };
    const mining = (automine: boolean, intervalMs: number) =>
      Promise.all([
        stack.chain.publicClient.request({ method: "evm_setAutomine" as never, params: [automine] as never }),
        stack.chain.publicClient.request({ method: "evm_setIntervalMining" as never, params: [intervalMs] as never }),
      ]);
    /** Returns just after a block is mined: the next one is a whole interval away. */
    const nextBlock = async () => {
      const start = await stack.chain.publicClient.getBlockNumber({ cacheTime: 0 });
      for (let i = 0; i < (2 * BLOCK_INTERVAL_MS) / 20; i++) {
        if ((await stack.chain.publicClient.getBlockNumber({ cacheTime: 0 })) > start) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error("no block within two intervals");
    };
    /** Pays `path` with the stock client as `payer`: what it got, its whole body read (or how reading it failed). */
    const payAs = async (payer: LocalAccount, path: string) => {
      const res = await wrapFetchWithPayment(fetch, exactClient(payer))(url(path));
      const body = await res.arrayBuffer().then(
        (bytes) => Buffer.from(bytes),
        (error: unknown) => error as Error,
      );
      const json = () => {
        try {
          return JSON.parse(body.toString()) as { code?: string };
        } catch {
          return { body: body instanceof Error ? `read failed: ${body.message}` : `${body.length} bytes` };
        }
      };
      return { res, body, got: { status: res.status, ...json(), paymentResponse: res.headers.get("payment-response") !== null } };
    };
    /** What the payer's call left: USDC paid, the provider's credit, relayer transactions, its rows. */
    const effects = async (payer: LocalAccount, before: { usdc: bigint; earnings: bigint; relayerNonce: number }) => ({
      paid: before.usdc - (await read.usdc(payer.address)),
      credited: (await read.earnings()) - before.earnings,
      transactions: (await read.relayerNonce()) - before.relayerNonce,
      rows: await rowsOf(payer.address),
    });
    const snapshot = async (payer: LocalAccount) => ({ usdc: await read.usdc(payer.address), earnings: await read.earnings(), relayerNonce: await read.relayerNonce() });

    beforeAll(async () => {
      for (const payer of Object.values(payers)) await stack.chain.mint(payer.address, 1_000_000n);
      await mining(false, BLOCK_INTERVAL_MS);
    });
    afterAll(async () => {
      await mining(true, 0);
    });

    it.each([
      { answer: "a 2 MiB body", payer: "report", path: "echo/report", expected: REPORT },
      { answer: "a small JSON body", payer: "small", path: "echo/small", expected: Buffer.from(JSON.stringify({ path: "/api/small" })) },
    ] as const)("a prompt upstream ($answer) whose settlement outlasts the upstream deadline: 200, the whole body and PAYMENT-RESPONSE, settled once", async ({ payer, path, expected }) => {
      const before = await snapshot(payers[payer]);
      // The call starts just after a block: its settlement is mined a whole interval later, well
      // past the upstream deadline.
      await nextBlock();
      const started = performance.now();
      const { res, body, got } = await payAs(payers[payer], path);
      const tookMs = performance.now() - started;
      expect({ status: got.status, paymentResponse: got.paymentResponse, whole: body instanceof Buffer && body.equals(expected), got }).toMatchObject({ status: 200, paymentResponse: true, whole: true });
      expect(tookMs).toBeGreaterThan(UPSTREAM_TIMEOUT_MS);
      const settle = decodePaymentResponseHeader(res.headers.get("payment-response") as string);
      expect(settle).toMatchObject({ success: true, payer: payers[payer].address, amount: PRICE.toString() });
      const receipt = await stack.chain.publicClient.getTransactionReceipt({ hash: settle.transaction as Hex });
      expect(receipt.status).toBe("success");

      expect(await effects(payers[payer], before)).toEqual({
        paid: PRICE,
        credited: PRICE - FEE,
        transactions: 1,
        rows: [{ status: "settled", tx_hash: settle.transaction, upstream_status: 200, error: null }],
      });
    });

    it("an upstream that cuts its body midway: 502, and nothing settles (no USDC moves, the row is released)", async () => {
      const before = await snapshot(payers.cut);
      await nextBlock();
      const { got } = await payAs(payers.cut, "echo/cut");
      // Were a settlement under way, it would be mined within the interval: wait it out.
      await nextBlock();
      expect({ got, effects: await effects(payers.cut, before) }).toEqual({
        got: { status: 502, code: "upstream_unreachable", message: expect.any(String), paymentResponse: false },
        effects: { paid: 0n, credited: 0n, transactions: 0, rows: [{ status: "released", tx_hash: null, upstream_status: null, error: expect.any(String) }] },
      });
    });

    it("a body still arriving at the upstream deadline: 504 upstream_timeout, nothing settles", async () => {
      const before = await snapshot(payers.dribble);
      const { got } = await payAs(payers.dribble, "echo/dribble");
      await nextBlock();
      expect({ got, effects: await effects(payers.dribble, before) }).toMatchObject({
        got: { status: 504, code: "upstream_timeout", paymentResponse: false },
        effects: { paid: 0n, credited: 0n, transactions: 0, rows: [{ status: "released", tx_hash: null }] },
      });
    });

    it("a response over maxExactResponseBytes, declared or not: 502 upstream_response_too_large, nothing settles", async () => {
      const before = await snapshot(payers.huge);
      const got = [(await payAs(payers.huge, "echo/huge-declared")).got, (await payAs(payers.huge, "echo/huge-chunked")).got];
      await nextBlock();
      const refused = { status: 502, code: "upstream_response_too_large", paymentResponse: false };
      expect({ got, effects: await effects(payers.huge, before) }).toMatchObject({
        got: [refused, refused],
        effects: { paid: 0n, credited: 0n, transactions: 0, rows: [{ status: "released" }, { status: "released" }] },
      });
    });
  });

  describe("item 6: exact attempts are rate-limited per payer and per client before any RPC call", () => {
    let relay: Awaited<ReturnType<typeof startCountingRelay>>;
    let limited: FastifyInstance;
    const limits = { perPayer: 3, perClient: 5, windowMs: WINDOW_MS };

    /** One attempt on the rate-limited app: its status, code, Retry-After and the payment RPC calls it made. */
    const attempt = async (header: string, remoteAddress: string) => {
      const rpcBefore = relay.paymentCalls();
      const res = await limited.inject({ url: "/v1/proxy/echo/limited", headers: { "payment-signature": header }, remoteAddress });
      return { status: res.statusCode, code: (res.json() as { code: string }).code, retryAfter: res.headers["retry-after"], rpc: relay.paymentCalls() - rpcBefore };
    };
    const refusedAt429 = (retryAfter: unknown) => ({ status: 429, code: "rate_limited", retryAfter, rpc: 0 });

    beforeAll(async () => {
      relay = await startCountingRelay(stack.chain.rpcUrl);
      // A second app on the same database and chain, reaching the chain only through the relay.
      limited = await buildApp({ ...stack.app.config, rpcUrl: relay.url, exactRateLimit: limits }, { logger: false });
      await limited.ready();
    });
    afterAll(async () => {
      await limited?.close();
      await relay?.close();
    });

    it("refuses a payer's attempts past its limit, from any address, with 429 and Retry-After: no RPC call, no row", async () => {
      await awaitFreshWindow(WINDOW_MS, 30_000);
      const payer = testAccount("exact path broke payer"); // holds no USDC: the simulation refuses it
      const offer = await exactOffer(limited, "echo/limited");
      const calls = upstreamCalls;
      const results = [];
      for (let i = 0; i < limits.perPayer + 2; i++) results.push(await attempt(await exactHeader(offer, payer), `198.51.100.${i + 1}`));

      for (const allowed of results.slice(0, limits.perPayer)) {
        expect(allowed).toMatchObject({ status: 402, code: "insufficient_funds" });
        expect(allowed.rpc).toBeGreaterThan(0);
      }
      for (const refused of results.slice(limits.perPayer)) {
        expect(refused).toEqual(refusedAt429(expect.stringMatching(/^\d+$/)));
        expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(Number(refused.retryAfter)).toBeLessThanOrEqual(WINDOW_MS / 1000);
      }
      expect((await rowsOf(payer.address)).map((r) => r.status)).toEqual(["released", "released", "released"]);
      expect(upstreamCalls).toBe(calls);
    });

    it("refuses a client address's attempts past its limit, whoever the payers; an IPv6 client by its /64", async () => {
      await awaitFreshWindow(WINDOW_MS, 30_000);
      const offer = await exactOffer(limited, "echo/limited");
      const payers = Array.from({ length: 2 * limits.perClient + 4 }, (_, i) => testAccount(`exact path client payer ${i}`));
      const next = () => exactHeader(offer, payers.shift() as LocalAccount);

      const v4 = [];
      for (let i = 0; i < limits.perClient + 2; i++) v4.push(await attempt(await next(), "203.0.113.9"));
      expect(v4.slice(0, limits.perClient).map((r) => [r.status, r.code, r.rpc > 0])).toEqual(Array(limits.perClient).fill([402, "insufficient_funds", true]));
      expect(v4.slice(limits.perClient)).toEqual([refusedAt429(expect.any(String)), refusedAt429(expect.any(String))]);

      // Five addresses of one /64 share a count; another /64 has its own.
      const v6 = [];
      for (let i = 0; i < limits.perClient; i++) v6.push(await attempt(await next(), `2001:db8:7:1::${i + 1}`));
      v6.push(await attempt(await next(), "2001:db8:7:1:ffff:ffff:ffff:fffe"));
      v6.push(await attempt(await next(), "2001:db8:7:2::1"));
      expect(v6.map((r) => r.status)).toEqual([402, 402, 402, 402, 402, 429, 402]);
      expect(v6[5]?.rpc).toBe(0);
      expect(exactClientKey("::ffff:203.0.113.9")).toBe(exactClientKey("203.0.113.9"));
      expect(exactClientKey("2001:db8:7:1::1")).toBe("exact-ip:2001:db8:7:1::/64");
    });

    it("attempts naming a payer they cannot sign for count against their client only, not against that payer", async () => {
      await awaitFreshWindow(WINDOW_MS, 30_000);
      const offer = await exactOffer(limited, "echo/limited");
      const victim = testAccount("exact path victim");
      const attacker = testAccount("exact path attacker");
      const forged = () => exactHeader(offer, { address: victim.address, signTypedData: attacker.signTypedData });
      const forgeries = [];
      for (let i = 0; i < limits.perClient + 1; i++) forgeries.push(await attempt(await forged(), "192.0.2.50"));
      // Not an ECDSA signature of `from`: only a contract wallet could be it, which the chain tells (one eth_getCode).
      expect(forgeries.slice(0, limits.perClient).map((r) => [r.status, r.code, r.rpc])).toEqual(Array(limits.perClient).fill([402, "invalid_signature", 1]));
      expect(forgeries[limits.perClient]).toEqual(refusedAt429(expect.any(String)));

      // The victim's own allowance is whole.
      const own = [];
      for (let i = 0; i < limits.perPayer + 1; i++) own.push(await attempt(await exactHeader(offer, victim), `192.0.2.${60 + i}`));
      expect(own.map((r) => [r.status, r.code])).toEqual([...Array(limits.perPayer).fill([402, "insufficient_funds"]), [429, "rate_limited"]]);
      expect(await rowsOf(victim.address)).toHaveLength(limits.perPayer);
    });

    it("holds a contract wallet to its payer limit once the simulation has proven its signature", async () => {
      await awaitFreshWindow(WINDOW_MS, 60_000);
      const owner = testAccount("exact path wallet owner");
      const deployed = await stack.chain.mined(stack.chain.deployer.deployContract({ abi: mockSmartWalletAbi, bytecode: mockSmartWalletBytecode, args: [owner.address] }));
      const wallet = getAddress(deployed.contractAddress as Address);
      await stack.chain.mint(wallet, 1_000_000n);
      const offer = await exactOffer(limited, "echo/limited");
      const signer = { address: wallet, signTypedData: owner.signTypedData };
      const results = [];
      for (let i = 0; i < limits.perPayer + 1; i++) results.push(await attempt(await exactHeader(offer, signer), `100.64.0.${i + 1}`));
      expect(results.map((r) => [r.status, r.code])).toEqual([...Array(limits.perPayer).fill([200, undefined]), [429, "rate_limited"]]);
      expect(await read.usdc(wallet)).toBe(1_000_000n - BigInt(limits.perPayer) * PRICE);
      expect((await rowsOf(wallet)).map((r) => [r.status, r.error])).toEqual([...Array(limits.perPayer).fill(["settled", null]), ["released", "rate_limited"]]);
    });
  });

  describe("what exact attempts leave behind", () => {
    it("refuses an authorization valid for longer than a day: its record could not be dropped once it moved no money", async () => {
      const payer = testAccount("exact path long-lived payer");
      const offer = await exactOffer(stack.app, "echo/x");
      const res = await fetch(url("echo/x"), { headers: { "payment-signature": await exactHeader({ ...offer, maxTimeoutSeconds: 2 * 86_400 }, payer) } });
      expect(res.status).toBe(402);
      expect(await res.json()).toMatchObject({ code: "authorization_too_long" });
      expect(await rowsOf(payer.address)).toEqual([]);
    });

    it("drops rows that moved no money once expired and a day old; keeps settled and pending ones, and recent ones", async () => {
      const payer = testAccount("exact path pruned payer");
      const now = Math.floor(Date.now() / 1000);
      const rows = [
        { label: "released, old, expired", status: "released", age: "2 days", validBefore: now - 86_400, dropped: true },
        { label: "failed, old, expired", status: "failed", age: "2 days", validBefore: now - 86_400, dropped: true },
        { label: "released, old, still valid", status: "released", age: "2 days", validBefore: now + 600, dropped: false },
        { label: "released, recent, expired", status: "released", age: "1 hour", validBefore: now - 60, dropped: false },
        { label: "settled, old, expired", status: "settled", age: "2 days", validBefore: now - 86_400, dropped: false },
        { label: "pending, old, expired", status: "pending", age: "2 days", validBefore: now - 86_400, dropped: false },
      ];
      for (const [i, row] of rows.entries()) {
        await stack.app.sql`
          INSERT INTO exact_payments (request_id, payer, nonce, service_id, provider, value, fee, valid_before, signature, status, method, path, error, created_at, updated_at)
          VALUES (${crypto.randomUUID()}, ${payer.address.toLowerCase()}, ${`0x${String(i).padStart(64, "0")}`}, 'echo', ${provider.address.toLowerCase()},
            ${PRICE.toString()}, ${FEE.toString()}, ${row.validBefore}, '0x', ${row.status}, 'GET', '/x', ${row.label},
            now() - ${row.age}::interval, now() - ${row.age}::interval)`;
      }
      expect(await pruneExactPayments(stack.app.sql, { olderThanMs: 86_400_000 })).toBeGreaterThanOrEqual(2);
      expect((await rowsOf(payer.address)).map((r) => r.error).sort()).toEqual(rows.filter((r) => !r.dropped).map((r) => r.label).sort());
    });

    it("a settled authorization whose row is gone is still refused, by USDC (its nonce is used), before the upstream and with nothing charged", async () => {
      const payer = testAccount("exact path replayed payer");
      await stack.chain.mint(payer.address, 1_000_000n);
      const offer = await exactOffer(stack.app, "echo/x");
      const header = await exactHeader({ ...offer, maxTimeoutSeconds: 600 }, payer);
      const paid = await fetch(url("echo/paid"), { headers: { "payment-signature": header } });
      expect(paid.status).toBe(200);
      await paid.arrayBuffer();
      await stack.app.sql`DELETE FROM exact_payments WHERE payer = ${payer.address.toLowerCase()}`;

      const balance = await read.usdc(payer.address);
      const calls = upstreamCalls;
      const replay = await fetch(url("echo/again"), { headers: { "payment-signature": header } });
      expect(replay.status).toBe(402);
      expect(await replay.json()).toMatchObject({ code: "authorization_used" });
      expect(upstreamCalls).toBe(calls);
      expect(await read.usdc(payer.address)).toBe(balance);
      expect((await rowsOf(payer.address)).map((r) => [r.status, r.error])).toEqual([["released", "authorization_used"]]);
    });

    it("a payer USDC's issuer has blacklisted is refused with 402 account_blacklisted (FiatToken's revert), before the upstream and with nothing charged", async () => {
      const payer = testAccount("exact path blacklisted payer");
      await stack.chain.mint(payer.address, 1_000_000n);
      await stack.chain.usdcIssuer.blacklist(payer.address);
      const offer = await exactOffer(stack.app, "echo/x");
      const header = await exactHeader({ ...offer, maxTimeoutSeconds: 600 }, payer);
      const calls = upstreamCalls;
      const refused = await fetch(url("echo/listed"), { headers: { "payment-signature": header } });
      expect(refused.status).toBe(402);
      expect(await refused.json()).toMatchObject({ code: "account_blacklisted" });
      expect(upstreamCalls).toBe(calls);
      expect(await read.usdc(payer.address)).toBe(1_000_000n);
    });
  });
});
