import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  AgentTabClient,
  InsufficientBalanceError,
  PriceExceedsMaxError,
  ServiceNotFoundError,
  SpendLimitError,
  UpstreamFailedError,
  verifyReceipt,
} from "@agenttab/sdk";

import type { ApiStack } from "../api/helpers/apiStack.ts";
import { testAccount } from "../indexer/helpers/actions.ts";
import { startEchoStack } from "./helpers/echoStack.ts";
import type { EchoStack } from "./helpers/echoStack.ts";
import { recordingSigner } from "./helpers/recordingSigner.ts";

const PRICE = 25_000n;
const DEPOSIT = 1_000_000n;

describe("sdk: AgentTabClient against the real API", () => {
  let stack: ApiStack;
  let world: EchoStack;
  let apiUrl: string;
  const agent = testAccount("sdk client agent");
  const poor = testAccount("sdk client poor agent");
  const provider = testAccount("sdk client provider");

  const clientFor = (signer: typeof agent, options: { maxSpend?: bigint; maxCatchUp?: bigint } = {}) =>
    new AgentTabClient({ apiUrl, signer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, ...options });
  const charged = (account: `0x${string}`) => world.ledger(account);

  beforeAll(async () => {
    world = await startEchoStack({ price: PRICE, provider: provider.address, funded: [{ account: agent, amount: DEPOSIT }, { account: poor, amount: 100_000n }] });
    ({ stack, apiUrl } = world);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  it("discovers services", async () => {
    const page = await clientFor(agent).discover({ sort: "price", maxPrice: PRICE });
    expect(page.items.map((s) => s.id)).toEqual(["echo"]);
    expect(page.items[0]).toMatchObject({ price: PRICE, maxPrice: PRICE, pricing: "fixed" });
  });

  it("pays for a call and returns its data and a verifiable receipt", async () => {
    const client = clientFor(agent);
    const result = await client.call("echo", { path: "/weather?city=paris", method: "POST", body: { hello: "world" }, maxAmount: PRICE });
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ path: "/api/weather?city=paris", method: "POST", body: '{"hello":"world"}' });
    expect(result.amount).toBe(PRICE);
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(result.receipt).toMatchObject({ payer: agent.address, amount: PRICE, cumulative: PRICE });
    const { chainId, reputation, receiptSigner } = stack.chain.deployment;
    expect(await verifyReceipt({ chainId, reputation, receipt: result.receipt, signature: result.receipt.signature, signer: receiptSigner })).toBe(true);
    expect(client.knownCharged).toBe(PRICE);

    // Ten concurrent calls from the same client: non-overlapping vouchers, all paid.
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => client.call("echo", { path: `/n/${i}` })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const total = results.reduce((sum, r) => sum + r.amount, result.amount);
    expect(await charged(agent.address)).toEqual({ charged: total, reserved: 0n });
    expect(client.knownCharged).toBe(total);
  });

  it("recovers from the corrective 402 after a restart", async () => {
    const before = (await charged(agent.address)).charged;
    const { signer: recording, signed } = recordingSigner(agent);
    // A restarted client knows nothing of what its key was charged: it believes the proxy's total up to maxCatchUp.
    const fresh = new AgentTabClient({ apiUrl, signer: recording, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, maxCatchUp: before });
    const result = await fresh.call("echo", { path: "/again" });
    // The first voucher (knowing nothing) is refused as too low; the second covers the charged total.
    expect(signed).toEqual([PRICE, before + PRICE]);
    expect(result.status).toBe(200);
    expect(result.receipt.cumulative).toBe(before + PRICE);
    expect(fresh.knownCharged).toBe(before + PRICE);
  });

  it("refuses to sign past maxSpend", async () => {
    const before = await charged(agent.address);
    let signed = 0;
    const counting = { address: agent.address, signTypedData: (typedData: Parameters<typeof agent.signTypedData>[0]) => ((signed += 1), agent.signTypedData(typedData)) };
    const capped = new AgentTabClient({ apiUrl, signer: counting, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, maxSpend: PRICE });
    // Knowing nothing yet, it signs PRICE; the corrective 402 tells it the real total, and it stops before signing again.
    const error = await capped.call("echo").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpendLimitError);
    expect(error).toMatchObject({ name: "SpendLimitError", maxSpend: PRICE, wouldSign: before.charged + PRICE });
    expect(signed).toBe(1);
    await expect(capped.call("echo")).rejects.toBeInstanceOf(SpendLimitError);
    expect(signed).toBe(1);
    expect(await charged(agent.address)).toEqual(before);
  });

  it("throws typed errors", async () => {
    const client = clientFor(agent, { maxCatchUp: DEPOSIT });
    await expect(client.call("no-such-service")).rejects.toBeInstanceOf(ServiceNotFoundError);
    const tooDear = await client.call("pricey", { maxAmount: 1_000n }).catch((e: unknown) => e);
    expect(tooDear).toBeInstanceOf(PriceExceedsMaxError);
    expect(tooDear).toMatchObject({ name: "PriceExceedsMaxError", status: 402, code: "price_exceeds_max", price: 400_000n, max: 1_000n });
    const failed = await client.call("echo", { path: "/fail" }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ name: "UpstreamFailedError", status: 502, code: "upstream_failed", upstreamStatus: 503 });
    expect(failed).toBeInstanceOf(UpstreamFailedError);
    const broke = await clientFor(poor).call("pricey").catch((e: unknown) => e);
    expect(broke).toBeInstanceOf(InsufficientBalanceError);
    expect(broke).toMatchObject({ name: "InsufficientBalanceError", code: "insufficient_funds", available: 100_000n, required: 400_000n });
    expect((await charged(poor.address)).charged).toBe(0n);
  });

  it("reads its balance, transactions and spending with a cached sign-in", async () => {
    const client = clientFor(agent);
    const total = (await charged(agent.address)).charged;
    const balance = await client.getBalance();
    expect(balance).toMatchObject({ deposited: DEPOSIT, balance: DEPOSIT, unsettled: total, reserved: 0n, available: DEPOSIT - total });
    const page = await client.getTransactions({ limit: 100, serviceId: "echo" });
    expect(page.items).toHaveLength(Number(total / PRICE));
    expect(page.items[0]?.cumulative).toBe(total);
    const report = await client.getSpendingReport({ period: "day" });
    expect(report).toMatchObject({ total, calls: Number(total / PRICE), byService: [{ serviceId: "echo", total }] });
    const ranged = await client.getSpendingReport({ from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) });
    expect(ranged.total).toBe(total);
  });
});
