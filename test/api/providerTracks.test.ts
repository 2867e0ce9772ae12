import type { AddressInfo } from "node:net";

import { decodePaymentRequiredHeader } from "@x402/core/http";
import type { Address, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { receiptFromPaymentResponse } from "@agenttab/sdk";

import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const ALPHA_PRICE = 10_000n;
const BETA_PRICE = 7_000n;

/**
 * Vouchers name the provider they pay (issue 13, item 2): one spend track per (account, signer,
 * provider), a voucher for one provider is refused on another's service, and a delegate's cap
 * bounds what it spends over all providers.
 */
describe("api: one spend track per provider", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let baseUrl: string;
  let forwarded = 0;
  const alphaProvider = testAccount("tracks alpha provider");
  const betaProvider = testAccount("tracks beta provider");
  const agent = testAccount("tracks agent");
  const owner = testAccount("tracks owner");
  const delegate = testAccount("tracks delegate");
  const racingOwner = testAccount("tracks racing owner");
  const racer = testAccount("tracks racer");

  async function pay(serviceId: string, { signer, account = signer.address, provider, maxCumulative }: { signer: LocalAccount; account?: Address; provider: Address; maxCumulative: bigint }) {
    const payment = await voucherHeader(stack.chain.deployment, { signer, account, provider, maxCumulative });
    const res = await fetch(`${baseUrl}/v1/proxy/${serviceId}/run`, { headers: { "payment-signature": payment } });
    const body = (await res.json().catch(() => null)) as { code?: string; details?: Record<string, unknown> } | null;
    const required = res.headers.get("payment-required");
    return {
      status: res.status,
      code: res.status === 200 ? undefined : body?.code,
      details: body?.details,
      receipt: receiptFromPaymentResponse(res.headers.get("payment-response")),
      required: required ? decodePaymentRequiredHeader(required) : undefined,
    };
  }

  /** Everything the ledger holds for an account: its totals, tracks, reservations, rate-limit windows and charges. */
  async function ledgerOf(account: Address) {
    const key = account.toLowerCase();
    const [totals] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${key}`;
    const tracks = await stack.app.sql`SELECT signer, provider, charged, reserved, voucher_max FROM spend_tracks WHERE account = ${key} ORDER BY signer, provider`;
    const [counts] = await stack.app.sql`
      SELECT (SELECT count(*)::int FROM reservations WHERE account = ${key}) AS reservations,
             (SELECT count(*)::int FROM charges WHERE account = ${key}) AS charges,
             (SELECT coalesce(sum(calls), 0)::int FROM rate_limit_windows) AS windows`;
    return { totals: totals ?? null, tracks: [...tracks], counts };
  }

  async function track(account: Address, signer: Address, provider: Address) {
    const [row] = await stack.app.sql<{ charged: string; reserved: string; voucher_max: string }[]>`
      SELECT charged, reserved, voucher_max FROM spend_tracks
      WHERE account = ${account.toLowerCase()} AND signer = ${signer.toLowerCase()} AND provider = ${provider.toLowerCase()}`;
    return row ? { charged: BigInt(row.charged), reserved: BigInt(row.reserved), voucherMax: BigInt(row.voucher_max) } : undefined;
  }

  beforeAll(async () => {
    // `/slow` keeps calls in flight together, so that concurrent reservations really race.
    upstream = await startUpstream((req, res) => {
      forwarded++;
      const delay = req.url?.includes("slow") ? 300 : 0;
      setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end("{}"), delay);
    });
    stack = await startApiStack({ rateLimit: { max: 10_000, windowMs: 60_000 } });
    await listService(stack, { id: "alpha", provider: alphaProvider.address, upstreamUrl: upstream.url, price: ALPHA_PRICE });
    await listService(stack, { id: "beta", provider: betaProvider.address, upstreamUrl: upstream.url, price: BETA_PRICE });
    await listService(stack, { id: "alpha-slow", provider: alphaProvider.address, upstreamUrl: `${upstream.url}/slow`, price: ALPHA_PRICE });
    await listService(stack, { id: "beta-slow", provider: betaProvider.address, upstreamUrl: `${upstream.url}/slow`, price: ALPHA_PRICE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    for (const account of [agent, owner, racingOwner]) await depositAs(stack.chain, account, 1_000_000n);
    await escrowAs(stack.chain, owner, "authorizeDelegate", [delegate.address, 3n * ALPHA_PRICE, 0]);
    await escrowAs(stack.chain, racingOwner, "authorizeDelegate", [racer.address, 4n * ALPHA_PRICE, 0]);
    for (const account of [agent, owner, racingOwner]) {
      await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: account.address }), (a) => a?.balance === 1_000_000n);
    }
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owner.address, delegate: delegate.address }), (d) => d?.active === true);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: racingOwner.address, delegate: racer.address }), (d) => d?.active === true);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("keeps the cumulative and the best voucher of each provider's track apart", async () => {
    const first = await pay("alpha", { signer: agent, provider: alphaProvider.address, maxCumulative: ALPHA_PRICE });
    expect(first).toMatchObject({ status: 200, receipt: { provider: alphaProvider.address.toLowerCase(), amount: ALPHA_PRICE, cumulative: ALPHA_PRICE } });
    // A fresh track for beta: its first voucher covers beta's price alone, whatever alpha was charged.
    const second = await pay("beta", { signer: agent, provider: betaProvider.address, maxCumulative: BETA_PRICE });
    expect(second).toMatchObject({ status: 200, receipt: { provider: betaProvider.address.toLowerCase(), amount: BETA_PRICE, cumulative: BETA_PRICE } });
    const third = await pay("alpha", { signer: agent, provider: alphaProvider.address, maxCumulative: 2n * ALPHA_PRICE });
    expect(third).toMatchObject({ status: 200, receipt: { amount: ALPHA_PRICE, cumulative: 2n * ALPHA_PRICE } });

    expect(await track(agent.address, agent.address, alphaProvider.address)).toEqual({ charged: 2n * ALPHA_PRICE, reserved: 0n, voucherMax: 2n * ALPHA_PRICE });
    expect(await track(agent.address, agent.address, betaProvider.address)).toEqual({ charged: BETA_PRICE, reserved: 0n, voucherMax: BETA_PRICE });
    expect((await ledgerOf(agent.address)).totals).toEqual({ charged: (2n * ALPHA_PRICE + BETA_PRICE).toString(), reserved: "0" });
    const charges = await stack.app.sql`
      SELECT service_id, provider, cumulative FROM charges WHERE account = ${agent.address.toLowerCase()} ORDER BY created_at`;
    expect([...charges]).toEqual([
      { service_id: "alpha", provider: alphaProvider.address.toLowerCase(), cumulative: ALPHA_PRICE.toString() },
      { service_id: "beta", provider: betaProvider.address.toLowerCase(), cumulative: BETA_PRICE.toString() },
      { service_id: "alpha", provider: alphaProvider.address.toLowerCase(), cumulative: (2n * ALPHA_PRICE).toString() },
    ]);
    // A voucher covering alpha's cumulative does not cover beta's next call just because it is high
    // enough for the account's total: beta's track needs its own.
    const stale = await pay("beta", { signer: agent, provider: betaProvider.address, maxCumulative: BETA_PRICE });
    expect(stale).toMatchObject({ status: 402, code: "voucher_too_low" });
    expect(stale.required?.accepts[0]?.extra).toMatchObject({ provider: betaProvider.address, charged: BETA_PRICE.toString() });
  });

  it("refuses a voucher for another provider with 402 wrong_provider naming the serving one, reserving and charging nothing", async () => {
    const before = await ledgerOf(agent.address);
    const forwardedBefore = forwarded;
    // A voucher good for alpha (it covers alpha's track and this call), sent to beta's service.
    const refused = await pay("beta", { signer: agent, provider: alphaProvider.address, maxCumulative: 10n * ALPHA_PRICE });
    expect(refused).toMatchObject({ status: 402, code: "wrong_provider", details: { provider: betaProvider.address, servedBy: "beta", charged: BETA_PRICE.toString() } });
    expect(refused.required?.error).toBe("wrong_provider");
    expect(refused.required?.accepts[0]).toMatchObject({
      scheme: "agenttab-voucher",
      amount: BETA_PRICE.toString(),
      payTo: betaProvider.address,
      extra: { escrow: stack.chain.deployment.escrow, provider: betaProvider.address, charged: BETA_PRICE.toString() },
    });
    expect(forwarded).toBe(forwardedBefore);
    expect(await ledgerOf(agent.address)).toEqual(before);

    // Re-signed for the provider the 402 named, from the charged total it gave: served.
    const charged = BigInt(refused.required?.accepts[0]?.extra?.charged as string);
    const retried = await pay("beta", { signer: agent, provider: betaProvider.address, maxCumulative: charged + BETA_PRICE });
    expect(retried).toMatchObject({ status: 200, receipt: { provider: betaProvider.address.toLowerCase(), cumulative: 2n * BETA_PRICE } });
    expect(await track(agent.address, agent.address, alphaProvider.address)).toMatchObject({ charged: 2n * ALPHA_PRICE, voucherMax: 2n * ALPHA_PRICE });
  });

  it("bounds a delegate's cap by its spend over all providers, not per provider", async () => {
    // Cap 3 × alpha's price: two alpha calls and one beta call fit…
    for (const maxCumulative of [ALPHA_PRICE, 2n * ALPHA_PRICE]) {
      expect(await pay("alpha", { signer: delegate, account: owner.address, provider: alphaProvider.address, maxCumulative })).toMatchObject({ status: 200 });
    }
    expect(await pay("beta", { signer: delegate, account: owner.address, provider: betaProvider.address, maxCumulative: BETA_PRICE })).toMatchObject({
      status: 200,
      receipt: { cumulative: BETA_PRICE },
    });
    // …a second beta call does not: beta's track alone (2 × 7 000) is within the cap, the sum is not.
    const before = await ledgerOf(owner.address);
    const refused = await pay("beta", { signer: delegate, account: owner.address, provider: betaProvider.address, maxCumulative: 2n * BETA_PRICE });
    expect(refused).toMatchObject({
      status: 402,
      code: "delegate_cap_exceeded",
      details: { cap: (3n * ALPHA_PRICE).toString(), spent: (2n * ALPHA_PRICE + BETA_PRICE).toString(), charged: BETA_PRICE.toString() },
    });
    // The 402 hands back beta's track, which the client's next voucher for beta builds on.
    expect(refused.required?.accepts[0]).toMatchObject({ payTo: betaProvider.address, extra: { provider: betaProvider.address, charged: BETA_PRICE.toString() } });
    const after = await ledgerOf(owner.address);
    // Only the rate-limit window counted the attempt.
    expect({ ...after, counts: { ...after.counts, windows: 0 } }).toEqual({ ...before, counts: { ...before.counts, windows: 0 } });
    // The owner's own voucher is not bound by the delegate's cap.
    expect(await pay("beta", { signer: owner, provider: betaProvider.address, maxCumulative: BETA_PRICE })).toMatchObject({ status: 200 });
  });

  it("holds a delegate's concurrent calls to two providers within its cap", async () => {
    // Cap 4 × the price: of 8 calls in flight together, 4 to each provider, exactly 4 are served.
    const calls = [
      ...Array.from({ length: 4 }, () => pay("alpha-slow", { signer: racer, account: racingOwner.address, provider: alphaProvider.address, maxCumulative: 4n * ALPHA_PRICE })),
      ...Array.from({ length: 4 }, () => pay("beta-slow", { signer: racer, account: racingOwner.address, provider: betaProvider.address, maxCumulative: 4n * ALPHA_PRICE })),
    ];
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(4);
    for (const o of outcomes.filter((o) => o.status !== 200)) expect(o).toMatchObject({ status: 402, code: "delegate_cap_exceeded" });
    const alpha = await track(racingOwner.address, racer.address, alphaProvider.address);
    const beta = await track(racingOwner.address, racer.address, betaProvider.address);
    expect((alpha?.charged ?? 0n) + (beta?.charged ?? 0n)).toBe(4n * ALPHA_PRICE);
    expect((await ledgerOf(racingOwner.address)).totals).toEqual({ charged: (4n * ALPHA_PRICE).toString(), reserved: "0" });
  });
});
