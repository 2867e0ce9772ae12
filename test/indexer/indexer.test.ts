import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { getAgentAccount, getIndexerStatus } from "../../indexer/read/index.ts";
import { agentTabEscrowAbi, mockUsdcAbi } from "../../sdk/src/index.ts";
import { startIndexerStack } from "./helpers/stack.ts";
import type { IndexerStack } from "./helpers/stack.ts";

const agentKey = (label: string) => privateKeyToAccount(keccak256(toHex(label)));

describe("indexer: chain → Ponder → views → read module", () => {
  let stack: IndexerStack;

  beforeAll(async () => {
    stack = await startIndexerStack();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("shows a deposit in the views within 2 s", async () => {
    const agent = agentKey("indexer agent 1");
    const wallet = await stack.walletFor(agent);
    await stack.mint(agent.address, 5_000_000n);
    await stack.mined(wallet.writeContract({ address: stack.deployment.usdc, abi: mockUsdcAbi, functionName: "approve", args: [stack.deployment.escrow, 5_000_000n] }));
    await stack.mined(wallet.writeContract({ address: stack.deployment.escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [5_000_000n] }));
    const { value, ms } = await stack.waitFor(
      () => getAgentAccount(stack.reader, { account: agent.address }),
      (account) => account?.balance === 5_000_000n,
    );
    console.log(`deposit visible in the views ${ms.toFixed(0)} ms after it was mined`);
    expect(ms).toBeLessThan(2_000);
    expect(value?.deposited).toBe(5_000_000n);
    const status = await getIndexerStatus(stack.reader, { chainId: 31337, chainHead: await stack.publicClient.getBlockNumber() });
    expect(status.ready).toBe(true);
    expect(status.lagBlocks).toBe(0n);
  });
});
