import type { AddressInfo } from "node:net";

import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { buildStackApp, startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 100_000n;
const AFFORDABLE = 12;
const CONCURRENT = 30;
const rateLimit = { max: 10_000, windowMs: 60_000 };

/**
 * Two proxy instances (two apps, each with its own pool, listening on its own port) on one ledger
 * database and one chain index: the account row lock in `reserve_call` is what serializes an
 * agent's calls, not anything held in one process, so exactly k of N calls split across both get
 * through when the balance covers k.
 */
describe("api: two instances on one ledger, concurrent calls against a balance that covers exactly k", () => {
  let stack: ApiStack;
  let second: FastifyInstance;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let urls: [string, string];
  // Two services of two providers: calls to different providers are on different spend tracks and
  // rate-limit rows, so only the account's ledger row serializes them.
  const providers = [testAccount("two instances provider A"), testAccount("two instances provider B")];
  const services = ["slow-a", "slow-b"];

  beforeAll(async () => {
    // A slow upstream keeps every call in flight at once, so the reservations on both instances race.
    upstream = await startUpstream((_req, res) => {
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end("ok"), 50);
    });
    stack = await startApiStack({ rateLimit });
    second = await buildStackApp(stack.chain, { rateLimit });
    for (const [i, id] of services.entries()) {
      await listService(stack, { id, provider: (providers[i] as (typeof providers)[number]).address, upstreamUrl: upstream.url, price: PRICE });
    }
    const listen = async (app: FastifyInstance) => {
      await app.listen({ host: "127.0.0.1", port: 0 });
      return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    };
    urls = [await listen(stack.app), await listen(second)];
  }, 120_000);

  afterAll(async () => {
    await second?.close();
    await stack?.stop();
    await upstream?.close();
  });

  it.each([1, 2, 3])("round %i: exactly k successes across both instances, k charges, nothing left reserved", async (round) => {
    const agent = testAccount(`two instances agent ${round}`);
    const account = agent.address.toLowerCase();
    await depositAs(stack.chain, agent, PRICE * BigInt(AFFORDABLE));
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === PRICE * BigInt(AFFORDABLE));
    // One voucher per provider covering all N calls. A track's charged + reserved never exceeds the
    // balance (k calls), so a reservation needs at most (k + 1) × price ≤ N × price: `voucher_too_low`
    // cannot be legitimate here, and the only refusal is the balance's, `insufficient_funds`.
    const payments = await Promise.all(
      providers.map((provider) => voucherHeader(stack.chain.deployment, { signer: agent, provider: provider.address, maxCumulative: PRICE * BigInt(CONCURRENT) })),
    );
    // Call i goes to instance i mod 2 and to service ⌊i / 2⌋ mod 2: all four (instance, service) pairs race
    // on the one balance.
    const responses = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => {
        const side = Math.floor(i / 2) % 2;
        return fetch(`${urls[i % 2]}/v1/proxy/${services[side]}/x`, { headers: { "payment-signature": payments[side] as string } });
      }),
    );
    const answers = await Promise.all(responses.map(async (r) => ({ status: r.status, body: await r.text() })));

    expect(answers.filter((a) => a.status === 200)).toHaveLength(AFFORDABLE);
    const refusals = answers.filter((a) => a.status !== 200);
    expect(refusals.map((a) => a.status)).toEqual(Array(CONCURRENT - AFFORDABLE).fill(402));
    for (const refusal of refusals) expect(JSON.parse(refusal.body)).toMatchObject({ code: "insufficient_funds" });

    // Each charge is durable in the shared ledger before its response, so nothing waits here.
    const [ledger] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${account}`;
    expect(ledger).toEqual({ charged: (PRICE * BigInt(AFFORDABLE)).toString(), reserved: "0" });
    const [{ n }] = (await second.sql`SELECT count(*)::int AS n FROM charges WHERE account = ${account}`) as unknown as [{ n: number }];
    expect(n).toBe(AFFORDABLE);
  });
});
