import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { charge, release, reserve } from "@agenttab/ledger";
import type { Reservation } from "@agenttab/ledger";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";

const PRICE = 1_000n;

/**
 * Group commit (migration 013): calls reserved, charged and released together go in one
 * statement and one transaction. Each keeps its own outcome: a charge whose reservation is gone
 * fails alone, and a refusal in the middle of a batch neither refuses nor un-reserves the others.
 */
describe("api ledger: batched reserve, charge and release", () => {
  let stack: ApiStack;
  const provider = testAccount("batch provider").address;

  beforeAll(async () => {
    stack = await startApiStack();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const reserveOne = (account: `0x${string}`, maxAmount = PRICE, voucherMax = 1_000_000n) =>
    reserve(stack.app.sql, {
      requestId: randomUUID(),
      account,
      signer: account,
      provider,
      serviceId: "batch-svc",
      maxAmount,
      voucherMax,
      signature: `0x${"11".repeat(65)}`,
      viewsSchema: stack.app.config.chainViewsSchema,
      ttlMs: 60_000,
    });

  const details = (amount: bigint) => ({ amount, fee: 0n, method: "GET", path: "/", upstreamStatus: 200, latencyMs: 1, issuedAt: 1n });

  it("charges every call of a batch but the one whose reservation was swept, which fails alone", async () => {
    const agent = testAccount("batch agent 1");
    await depositAs(stack.chain, agent, PRICE * 10n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === PRICE * 10n);

    const reservations = await Promise.all([1, 2, 3, 4].map(() => reserveOne(agent.address)));
    // The sweeper takes one back (its time ran out) before the call is charged.
    expect(await release(stack.app.sql, reservations[1] as Reservation)).toBe(true);

    const results = await Promise.allSettled(reservations.map((r) => charge(stack.app.sql, r, details(PRICE))));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/is gone/);
    const cumulatives = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.cumulative] : []));
    expect(cumulatives.sort()).toEqual([PRICE, 2n * PRICE, 3n * PRICE]);

    const account = agent.address.toLowerCase();
    const [ledger] = await stack.app.sql`SELECT charged::text, reserved::text FROM ledger_accounts WHERE account = ${account}`;
    expect(ledger).toEqual({ charged: (3n * PRICE).toString(), reserved: "0" });
    const [track] = await stack.app.sql`SELECT charged::text, reserved::text FROM spend_tracks WHERE account = ${account}`;
    expect(track).toEqual({ charged: (3n * PRICE).toString(), reserved: "0" });
    const counted = await stack.app.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM charges WHERE account = ${account}`;
    expect(counted[0]?.n).toBe(3);
  });

  it("reserves exactly what the balance covers when one batch holds more calls than that, across accounts", async () => {
    const rich = testAccount("batch agent rich");
    const poor = testAccount("batch agent poor");
    await depositAs(stack.chain, rich, PRICE * 5n);
    await depositAs(stack.chain, poor, PRICE * 2n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: poor.address }), (a) => a?.balance === PRICE * 2n);

    const calls = [rich, poor, rich, poor, poor, rich, poor].map((agent) => reserveOne(agent.address).then(
      (r) => ({ agent: agent.address, ok: true as const, r }),
      (error: { code?: string }) => ({ agent: agent.address, ok: false as const, code: error.code }),
    ));
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o.agent === rich.address && o.ok)).toHaveLength(3);
    expect(outcomes.filter((o) => o.agent === poor.address && o.ok)).toHaveLength(2);
    expect(outcomes.filter((o) => !o.ok).map((o) => (o.ok ? "" : o.code))).toEqual(["insufficient_funds", "insufficient_funds"]);

    const released = await Promise.all(outcomes.flatMap((o) => (o.ok ? [release(stack.app.sql, o.r)] : [])));
    expect(released).toEqual([true, true, true, true, true]);
    const rows = await stack.app.sql`SELECT reserved::text FROM ledger_accounts WHERE account IN ${stack.app.sql([rich.address.toLowerCase(), poor.address.toLowerCase()])}`;
    expect(rows.map((r) => r.reserved)).toEqual(["0", "0"]);
  });
});
