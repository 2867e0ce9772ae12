import type { AddressInfo } from "node:net";

import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getProviderAccount } from "../../indexer/read/index.ts";
import type { SettleChain } from "../../scripts/settle/chain.ts";
import { settle } from "../../scripts/settle/run.ts";
import {
  AgentTabClient,
  ApiRequestError,
  ChainAccessError,
  InsufficientEarningsError,
  NothingToWithdrawError,
  ProviderClient,
  ServiceNotFoundError,
  agentTabEscrowAbi,
  fiatTokenAbi,
} from "@agenttab/sdk";
import type { ProviderService } from "@agenttab/sdk";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";

const PRICE = 30_000n;
const CALLS = 4;

describe("sdk: ProviderClient registers services, reads earnings and withdraws them", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let apiUrl: string;
  let provider: ProviderClient;
  const owner = testAccount("sdk provider owner");
  const rival = testAccount("sdk provider rival");
  const agent = testAccount("sdk provider agent");
  const coldWallet = testAccount("sdk provider cold wallet").address;
  let service: ProviderService;

  const usdcOf = (holder: Address) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [holder] });
  const earningsOf = (holder: Address) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [holder] });
  /** What one call earns the provider: its price less the fee, rounded as the settlement does. */
  const net = (price: bigint) => price - (price * BigInt(stack.chain.deployment.feeBps)) / 10_000n;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url })));
    stack = await startApiStack();
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    await stack.chain.walletFor(owner); // the provider pays the gas of its withdrawals
    provider = await ProviderClient.connect({ apiUrl, signer: owner, rpcUrl: stack.chain.rpcUrl });
    service = {
      serviceId: "sdk-echo",
      name: "Echo",
      description: "Says back what it was asked",
      category: "tools",
      tags: ["echo", "test"],
      capabilities: ["echo"],
      upstreamUrl: `${upstream.url}/api`,
      pricing: "fixed",
      price: 20_000n,
      exampleInput: JSON.stringify({ say: "hi" }),
    };
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("registers, updates, lists and delists its services with signed requests", async () => {
    const listed = await provider.register(service);
    expect(listed).toMatchObject({ id: "sdk-echo", provider: owner.address, status: "active", created: true, price: 20_000n, maxPrice: 20_000n, tags: ["echo", "test"] });
    expect(listed.nonce).toBeGreaterThan(0n);

    const updated = await provider.update({ ...service, price: PRICE, description: "Echo, now dearer" });
    expect(updated).toMatchObject({ created: false, price: PRICE, maxPrice: PRICE, description: "Echo, now dearer" });
    expect(updated.nonce).toBeGreaterThan(listed.nonce);

    const metered = await provider.register({
      serviceId: "sdk-metered",
      name: "Metered",
      category: "tools",
      upstreamUrl: `${upstream.url}/metered`,
      pricing: "metered",
      price: 10n,
      maxPrice: 5_000n,
      usageHeader: "x-units",
    });
    expect(metered).toMatchObject({ created: true, pricing: "metered", price: 10n, maxPrice: 5_000n, usageHeader: "x-units", description: "" });
    expect((await provider.listServices()).map((s) => [s.id, s.price])).toEqual([
      ["sdk-metered", 10n],
      ["sdk-echo", PRICE],
    ]);

    // Another provider cannot take the id over; a bad price is refused before anything is stored.
    const rivalClient = await ProviderClient.connect({ apiUrl, signer: rival });
    await expect(rivalClient.register({ ...service, price: 1n })).rejects.toMatchObject({ name: "ApiRequestError", status: 403, code: "not_service_owner" });
    await expect(provider.register({ ...service, serviceId: "sdk-bad", maxPrice: 1n })).rejects.toMatchObject({ status: 400, code: "invalid_pricing" });
    expect(await rivalClient.listServices()).toEqual([]);

    const delisted = await provider.delist("sdk-metered");
    expect(delisted).toMatchObject({ id: "sdk-metered", status: "delisted" });
    expect((await provider.listServices()).map((s) => s.id)).toEqual(["sdk-echo"]);
    const agentClient = await AgentTabClient.connect({ apiUrl, signer: agent });
    await expect(agentClient.call("sdk-metered")).rejects.toBeInstanceOf(ServiceNotFoundError);
    await expect(rivalClient.delist("sdk-echo")).rejects.toMatchObject({ status: 403, code: "not_service_owner" });
    await expect(provider.delist("sdk-never-listed")).rejects.toBeInstanceOf(ApiRequestError);
  });

  it("shows earnings pending before the settlement and withdrawable after it, then withdraws them on-chain", async () => {
    await expect(provider.withdraw()).rejects.toBeInstanceOf(NothingToWithdrawError);
    expect(await provider.getEarnings()).toMatchObject({ pending: 0n, pendingCalls: 0, settled: 0n, withdrawable: 0n, withdrawn: 0n });

    await depositAs(stack.chain, agent, 1_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);
    const agentClient = await AgentTabClient.connect({ apiUrl, signer: agent });
    for (let i = 0; i < CALLS; i++) expect((await agentClient.call("sdk-echo", { path: `/q/${i}` })).amount).toBe(PRICE);
    const earned = net(PRICE) * BigInt(CALLS);
    expect(await provider.getEarnings()).toMatchObject({ pending: earned, pendingCalls: CALLS, settled: 0n, withdrawable: 0n });

    const chain: SettleChain = { publicClient: stack.chain.publicClient, walletClient: stack.chain.deployer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow };
    expect((await settle({ sql: stack.app.sql, chain })).status).toBe("settled");
    await stack.chain.waitFor(() => getProviderAccount(stack.chain.reader, { provider: owner.address }), (p) => p?.credited === earned);
    expect(await provider.getEarnings()).toMatchObject({ pending: 0n, pendingCalls: 0, settled: earned, withdrawable: earned, withdrawn: 0n });
    expect(await earningsOf(owner.address)).toBe(earned);

    // Part of it to a cold wallet, more than is left is refused without gas, then the rest to itself.
    const part = 50_000n;
    const first = await provider.withdraw({ amount: part, to: coldWallet });
    expect(first).toMatchObject({ amount: part, to: coldWallet, remaining: earned - part });
    expect(first.gasUsed).toBeGreaterThan(0n);
    expect(await usdcOf(coldWallet)).toBe(part);
    const tooMuch = await provider.withdraw({ amount: earned }).catch((e: unknown) => e);
    expect(tooMuch).toBeInstanceOf(InsufficientEarningsError);
    expect(tooMuch).toMatchObject({ name: "InsufficientEarningsError", balance: earned - part, amount: earned });
    const ownBefore = await usdcOf(owner.address);
    const rest = await provider.withdraw();
    expect(rest).toMatchObject({ amount: earned - part, to: owner.address, remaining: 0n });
    expect(await usdcOf(owner.address)).toBe(ownBefore + earned - part);
    expect(await earningsOf(owner.address)).toBe(0n);
    await expect(provider.withdraw()).rejects.toBeInstanceOf(NothingToWithdrawError);

    await stack.chain.waitFor(() => getProviderAccount(stack.chain.reader, { provider: owner.address }), (p) => p?.withdrawn === earned);
    expect(await provider.getEarnings()).toMatchObject({ settled: earned, withdrawable: 0n, withdrawn: earned });
    // Without an RPC URL the client says what it needs.
    const readOnly = await ProviderClient.connect({ apiUrl, signer: owner });
    await expect(readOnly.withdraw()).rejects.toMatchObject({ name: "ChainAccessError", missing: "rpcUrl" });
    expect(ChainAccessError.name).toBe("ChainAccessError");
  });
});
