import type { AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 100_000n;
const AFFORDABLE = 10;
const CONCURRENT = 25;

describe("api: concurrent calls against a balance that covers exactly k of them", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let baseUrl: string;
  const provider = testAccount("concurrency provider");

  beforeAll(async () => {
    // A slow upstream keeps every call in flight at once, so the reservations really race.
    upstream = await startUpstream((_req, res) => {
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end("ok"), 50);
    });
    stack = await startApiStack({ rateLimit: { max: 10_000, windowMs: 60_000 } });
    await listService(stack, { id: "slow", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it.each([1, 2, 3])("round %i: exactly k successes and never an overdraft", async (round) => {
    const agent = testAccount(`concurrency agent ${round}`);
    await depositAs(stack.chain, agent, PRICE * BigInt(AFFORDABLE));
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === PRICE * BigInt(AFFORDABLE));
    // One voucher generous enough for every call: the balance, not the voucher, is what binds.
    const payment = await voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: PRICE * BigInt(CONCURRENT) });
    const responses = await Promise.all(
      Array.from({ length: CONCURRENT }, () => fetch(`${baseUrl}/v1/proxy/slow/x`, { headers: { "payment-signature": payment } })),
    );
    const statuses = responses.map((r) => r.status);
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(statuses.filter((s) => s === 200)).toHaveLength(AFFORDABLE);
    expect(statuses.filter((s) => s === 402)).toHaveLength(CONCURRENT - AFFORDABLE);
    for (const [i, status] of statuses.entries()) {
      if (status === 402) expect(JSON.parse(bodies[i] as string)).toMatchObject({ code: "insufficient_funds" });
    }
    const [ledger] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${agent.address.toLowerCase()}`;
    expect(ledger).toEqual({ charged: (PRICE * BigInt(AFFORDABLE)).toString(), reserved: "0" });
    const [{ n }] = (await stack.app.sql`SELECT count(*)::int AS n FROM charges WHERE account = ${agent.address.toLowerCase()}`) as unknown as [{ n: number }];
    expect(n).toBe(AFFORDABLE);
  });
});
