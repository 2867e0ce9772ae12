import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "./helpers/actions.ts";
import { startIndexerStack } from "./helpers/stack.ts";
import type { IndexerStack } from "./helpers/stack.ts";

describe("indexer: restarts", () => {
  let stack: IndexerStack;
  const agent = testAccount("restart agent");

  beforeAll(async () => {
    stack = await startIndexerStack();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const depositRows = async () =>
    (await stack.sql`SELECT count(*)::int AS n, coalesce(sum(amount), 0)::text AS total FROM ${stack.sql(stack.reader.viewsSchema)}.deposit WHERE account = ${agent.address.toLowerCase()}`)[0];

  it("resumes after a graceful restart without losing or duplicating rows", async () => {
    await depositAs(stack, agent, 1_000_000n);
    await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);
    await stack.restartIndexer({
      signal: "SIGTERM",
      whileDown: async () => {
        await depositAs(stack, agent, 2_000_000n);
      },
    });
    const { value } = await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.balance === 3_000_000n);
    expect(value?.deposited).toBe(3_000_000n);
    expect(await depositRows()).toEqual({ n: 2, total: "3000000" });
  });

  it("recovers from a crash (SIGKILL) without losing or duplicating rows", async () => {
    await depositAs(stack, agent, 4_000_000n);
    await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.balance === 7_000_000n);
    const started = performance.now();
    await stack.restartIndexer({
      signal: "SIGKILL",
      whileDown: async () => {
        await depositAs(stack, agent, 8_000_000n);
      },
    });
    console.log(`indexer back after a crash in ${((performance.now() - started) / 1000).toFixed(1)} s (Ponder waits for the dead process's schema lock to expire)`);
    const { value } = await stack.waitFor(() => getAgentAccount(stack.reader, { account: agent.address }), (a) => a?.balance === 15_000_000n);
    expect(value?.deposited).toBe(15_000_000n);
    expect(await depositRows()).toEqual({ n: 4, total: "15000000" });
  }, 120_000);
});
