import type { AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { AgentTabClient, agentTabEscrowAbi, createChainAccess, getChainTime } from "@agenttab/sdk";

import { startApiStack } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { testAccount } from "../indexer/helpers/actions.ts";

const THREE_DAYS = 3 * 24 * 3_600;

// Its own stack: the chain's time is moved ahead of the wall clock for good.
describe("sdk: signed deposit windows follow the chain's clock, not the wall clock", () => {
  let stack: ApiStack;
  let apiUrl: string;
  const gasless = testAccount("sdk clock gasless agent");
  const permitAgent = testAccount("sdk clock permit agent");
  const escrowBalance = async (account: `0x${string}`) =>
    (await stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "accountOf", args: [account] })).balance;

  beforeAll(async () => {
    stack = await startApiStack();
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    await stack.chain.publicClient.request({ method: "evm_increaseTime" as never, params: [THREE_DAYS] as never });
    await stack.chain.publicClient.request({ method: "evm_mine" as never, params: [] as never });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("deposits gaslessly (EIP-3009) and by permit (EIP-2612) on a chain three days ahead", async () => {
    const { timestamp } = await stack.chain.publicClient.getBlock({ blockTag: "latest" });
    expect(Number(timestamp) - Date.now() / 1000).toBeGreaterThan(THREE_DAYS - 60);
    await stack.chain.mint(gasless.address, 3_000_000n);
    await stack.chain.mint(permitAgent.address, 2_000_000n);

    const client = await AgentTabClient.connect({ apiUrl, signer: gasless, rpcUrl: stack.chain.rpcUrl });
    expect(await getChainTime(createChainAccess({ rpcUrl: stack.chain.rpcUrl, chainId: stack.chain.deployment.chainId, signer: gasless }))).toBeGreaterThanOrEqual(timestamp);
    const gaslessResult = await client.deposit(3_000_000n);
    expect(gaslessResult).toMatchObject({ method: "authorization", relayed: true });
    expect(await escrowBalance(gasless.address)).toBe(3_000_000n);

    const permitClient = await AgentTabClient.connect({ apiUrl, signer: permitAgent, rpcUrl: stack.chain.rpcUrl });
    expect(await permitClient.deposit(2_000_000n, { method: "permit" })).toMatchObject({ method: "permit", relayed: true });
    expect(await escrowBalance(permitAgent.address)).toBe(2_000_000n);
  });
});
