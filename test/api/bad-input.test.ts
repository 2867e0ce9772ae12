import { encodePaymentSignatureHeader } from "@x402/core/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { signVoucher } from "@agenttab/sdk";

import { voucherRequirements } from "../../api/src/payments/x402.ts";
import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 10_000n;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64");

/**
 * Every kind of bad input the issue lists, against the paid route: each gets a 4xx with a stable
 * snake_case code and a message, none is a 500, and nothing is ever charged or left reserved.
 */
describe("api: bad input to the paid call", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let upstreamHits = 0;
  const agent = testAccount("bad input agent");
  const hot = testAccount("bad input hot key");
  const expiring = testAccount("bad input expiring key");
  const provider = testAccount("bad input provider");
  const otherProvider = testAccount("bad input other provider");

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => {
      upstreamHits++;
      res.writeHead(200).end("ok");
    });
    stack = await startApiStack();
    await listService(stack, { id: "target", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await listService(stack, { id: "retired", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await stack.app.sql`UPDATE services SET status = 'delisted' WHERE id = 'retired'`;
    await depositAs(stack.chain, agent, 1_000_000n);
    await escrowAs(stack.chain, agent, "authorizeDelegate", [hot.address, 100_000n, 0]);
    await escrowAs(stack.chain, agent, "revokeDelegate", [hot.address]);
    // Expires within the reservation window, so the proxy must refuse it.
    const now = (await stack.chain.publicClient.getBlock()).timestamp;
    await escrowAs(stack.chain, agent, "authorizeDelegate", [expiring.address, 100_000n, Number(now) + 30]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: agent.address, delegate: expiring.address }), (d) => d?.active === true);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);
    // One real charge, so that "below what was charged" has something to be below.
    const first = await stack.app.inject({ method: "GET", url: "/v1/proxy/target/x", headers: { "payment-signature": await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: PRICE }) } });
    expect(first.statusCode).toBe(200);
    upstreamHits = 0;
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("answers every case with its 4xx and code, never a 500, and charges nothing", async () => {
    const { deployment } = stack.chain;
    const good = (max = 10n * PRICE) => voucherHeader(deployment, { signer: agent, provider: provider.address, maxCumulative: max });
    const sign = (overrides: { chainId?: number; escrow?: `0x${string}`; provider?: `0x${string}`; maxCumulative?: bigint } = {}) =>
      signVoucher(agent, { chainId: deployment.chainId, escrow: deployment.escrow, account: agent.address, provider: provider.address, maxCumulative: 10n * PRICE, ...overrides });
    const requirements = voucherRequirements({ deployment, amount: PRICE, provider: provider.address });
    const payload = async (overrides: { accepted?: Record<string, unknown>; payload?: Record<string, unknown>; x402Version?: number }) => {
      const signature = await sign();
      return encodePaymentSignatureHeader({
        x402Version: overrides.x402Version ?? 2,
        accepted: { ...requirements, ...overrides.accepted },
        payload: { account: agent.address, signer: agent.address, provider: provider.address, maxCumulative: (10n * PRICE).toString(), signature, ...overrides.payload },
      } as never);
    };
    // The requirements' shape before vouchers named their provider: the escrow in payTo, no extra.escrow.
    const { escrow: _escrow, ...extraWithoutEscrow } = requirements.extra as Record<string, unknown>;
    const oldShape = (payTo: `0x${string}`) => ({ payTo, extra: extraWithoutEscrow });
    const validSignature = await sign();
    const s = BigInt(`0x${validSignature.slice(66, 130)}`);
    const v = Number.parseInt(validSignature.slice(130), 16);
    const malleable = `0x${validSignature.slice(2, 66)}${(N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}`;
    const otherEscrowSignature = await sign({ escrow: deployment.reputation });
    const otherChainSignature = await sign({ chainId: 8453 });
    const otherProviderSignature = await sign({ provider: otherProvider.address });

    const cases: { name: string; url?: string; method?: string; headers: Record<string, string>; body?: Buffer; status: number; code: string }[] = [
      { name: "missing payment header", headers: {}, status: 402, code: "payment_required" },
      { name: "garbled payment header", headers: { "payment-signature": "%%%not-base64%%%" }, status: 400, code: "invalid_payment_header" },
      { name: "base64 of not-JSON", headers: { "payment-signature": b64("hello") }, status: 400, code: "invalid_payment_header" },
      { name: "oversized payment header", headers: { "payment-signature": "A".repeat(5_000) }, status: 400, code: "payment_header_too_large" },
      { name: "x402 v1", headers: { "payment-signature": await payload({ x402Version: 1 }) }, status: 400, code: "unsupported_x402_version" },
      { name: "wrong scheme", headers: { "payment-signature": await payload({ accepted: { scheme: "upto" } }) }, status: 400, code: "unsupported_scheme" },
      // Taken for an `exact` payment, whose payTo must be the escrow (a voucher's is the provider).
      { name: "voucher labelled exact", headers: { "payment-signature": await payload({ accepted: { scheme: "exact" } }) }, status: 400, code: "wrong_pay_to" },
      { name: "wrong network", headers: { "payment-signature": await payload({ accepted: { network: "eip155:8453" } }) }, status: 400, code: "wrong_network" },
      { name: "drawn on another escrow", headers: { "payment-signature": await payload({ accepted: { extra: { ...requirements.extra, escrow: deployment.reputation } } }) }, status: 400, code: "wrong_escrow" },
      { name: "drawn on another escrow (old shape: payTo)", headers: { "payment-signature": await payload({ accepted: oldShape(deployment.reputation) }) }, status: 400, code: "wrong_escrow" },
      // The old shape naming this escrow passes the escrow check; this voucher is below what was charged.
      { name: "old shape, this escrow", headers: { "payment-signature": await payload({ accepted: oldShape(deployment.escrow), payload: { maxCumulative: PRICE.toString(), signature: await sign({ maxCumulative: PRICE }) } }) }, status: 402, code: "voucher_too_low" },
      { name: "provider swapped after signing", headers: { "payment-signature": await payload({ payload: { provider: otherProvider.address } }) }, status: 402, code: "invalid_signature" },
      { name: "voucher paying another provider", headers: { "payment-signature": await payload({ payload: { provider: otherProvider.address, signature: otherProviderSignature } }) }, status: 402, code: "wrong_provider" },
      { name: "provider not an address", headers: { "payment-signature": await payload({ payload: { provider: "0x1234" } }) }, status: 400, code: "invalid_voucher" },
      { name: "provider missing", headers: { "payment-signature": await payload({ payload: { provider: undefined } }) }, status: 400, code: "invalid_voucher" },
      { name: "voucher signed for another contract", headers: { "payment-signature": await payload({ payload: { signature: otherEscrowSignature } }) }, status: 402, code: "invalid_signature" },
      { name: "voucher signed for another chain", headers: { "payment-signature": await payload({ payload: { signature: otherChainSignature } }) }, status: 402, code: "invalid_signature" },
      { name: "malleable signature", headers: { "payment-signature": await payload({ payload: { signature: malleable } }) }, status: 402, code: "invalid_signature" },
      { name: "zero signature", headers: { "payment-signature": await payload({ payload: { signature: `0x${"00".repeat(65)}` } }) }, status: 402, code: "invalid_signature" },
      { name: "short signature", headers: { "payment-signature": await payload({ payload: { signature: "0x1234" } }) }, status: 400, code: "invalid_signature" },
      { name: "negative amount", headers: { "payment-signature": await payload({ payload: { maxCumulative: "-1" } }) }, status: 400, code: "invalid_amount" },
      { name: "overflowing amount", headers: { "payment-signature": await payload({ payload: { maxCumulative: (1n << 256n).toString() } }) }, status: 400, code: "invalid_amount" },
      { name: "amount above 2^128", headers: { "payment-signature": await payload({ payload: { maxCumulative: (1n << 128n).toString() } }) }, status: 400, code: "invalid_amount" },
      { name: "not an address", headers: { "payment-signature": await payload({ payload: { account: "0x1234" } }) }, status: 400, code: "invalid_voucher" },
      { name: "cumulative below what was charged", headers: { "payment-signature": await good(PRICE) }, status: 402, code: "voucher_too_low" },
      { name: "revoked delegate", headers: { "payment-signature": await voucherHeader(deployment, { signer: hot, account: agent.address, provider: provider.address, maxCumulative: 10n * PRICE }) }, status: 402, code: "delegate_not_authorized" },
      { name: "expiring delegate", headers: { "payment-signature": await voucherHeader(deployment, { signer: expiring, account: agent.address, provider: provider.address, maxCumulative: 10n * PRICE }) }, status: 402, code: "delegate_expired" },
      { name: "unknown service", url: "/v1/proxy/no-such-service/x", headers: { "payment-signature": await good() }, status: 404, code: "service_not_found" },
      { name: "malformed service id", url: "/v1/proxy/NOT_A_SLUG/x", headers: { "payment-signature": await good() }, status: 400, code: "invalid_request" },
      { name: "delisted service", url: "/v1/proxy/retired/x", headers: { "payment-signature": await good() }, status: 410, code: "service_delisted" },
      { name: "body over the limit", method: "POST", headers: { "payment-signature": await good(), "content-type": "application/octet-stream" }, body: Buffer.alloc(1_048_577), status: 413, code: "body_too_large" },
      { name: "path traversal", url: "/v1/proxy/target/..%2F..%2Fadmin", headers: { "payment-signature": await good() }, status: 400, code: "invalid_path" },
      { name: "encoded dot segments", url: "/v1/proxy/target/%2e%2e/admin", headers: { "payment-signature": await good() }, status: 400, code: "invalid_path" },
      { name: "garbled max amount", headers: { "payment-signature": await good(), "x-payment-max-amount": "lots" }, status: 400, code: "invalid_max_amount" },
    ];

    const outcomes = [];
    for (const c of cases) {
      const res = await stack.app.inject({ method: (c.method ?? "GET") as "GET", url: c.url ?? "/v1/proxy/target/x", headers: c.headers, ...(c.body ? { payload: c.body } : {}) });
      const body = res.json();
      outcomes.push({ name: c.name, status: res.statusCode, code: body.code, hasMessage: typeof body.message === "string" && body.message.length > 0 });
    }
    expect(outcomes).toEqual(cases.map((c) => ({ name: c.name, status: c.status, code: c.code, hasMessage: true })));
    expect(upstreamHits).toBe(0);
    const [ledger] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${agent.address.toLowerCase()}`;
    expect(ledger).toEqual({ charged: PRICE.toString(), reserved: "0" });
    const [{ n }] = (await stack.app.sql`SELECT count(*)::int AS n FROM charges`) as unknown as [{ n: number }];
    expect(n).toBe(1);
    const tracks = await stack.app.sql`SELECT provider, charged, reserved FROM spend_tracks WHERE account = ${agent.address.toLowerCase()}`;
    expect(tracks).toEqual([{ provider: provider.address.toLowerCase(), charged: PRICE.toString(), reserved: "0" }]);
  });
});
