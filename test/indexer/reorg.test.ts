import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getIndexerStatus } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "./helpers/actions.ts";
import { startIndexerStack } from "./helpers/stack.ts";
import type { IndexerStack } from "./helpers/stack.ts";

describe("indexer: reorgs", () => {
  let stack: IndexerStack;
  const agent = testAccount("reorg agent");

  beforeAll(async () => {
    stack = await startIndexerStack();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("drops a reorged-out deposit from the balance and keeps the one that stayed", async () => {
    await depositAs(stack, agent, 1_000_000n);
    await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);

    const snapshot = (await stack.publicClient.request({ method: "evm_snapshot" as never })) as string;
    const reorged = await depositAs(stack, agent, 2_000_000n);
    await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.balance === 3_000_000n);

    // Replace the blocks that held the second deposit with a longer chain without it.
    await stack.publicClient.request({ method: "evm_revert" as never, params: [snapshot] as never });
    await stack.publicClient.request({ method: "hardhat_mine" as never, params: ["0x5"] as never });
    const head = await stack.publicClient.getBlockNumber();
    expect(head).toBeGreaterThan(reorged.blockNumber);
    const replaced = await stack.publicClient.getBlock({ blockNumber: reorged.blockNumber });
    expect(replaced.hash).not.toBe(reorged.blockHash);

    const { value, ms } = await stack.waitFor(
      () => getAgentAccount(stack.reader, { account: agent.address }),
      (a) => a?.balance === 1_000_000n,
    );
    console.log(`reorged-out deposit removed ${ms.toFixed(0)} ms after the reorg`);
    expect(value?.deposited).toBe(1_000_000n);
    const deposits = await stack.sql`SELECT amount FROM ${stack.sql(stack.reader.viewsSchema)}.deposit WHERE account = ${agent.address.toLowerCase()}`;
    expect(deposits).toEqual([{ amount: "1000000" }]);
    const { value: status } = await stack.waitFor(
      () => getIndexerStatus(stack.reader, { chainId: 31337, chainHead: head }),
      (s) => s.lagBlocks === 0n,
    );
    expect(status.indexedBlock).toBe(head);
  });
});
