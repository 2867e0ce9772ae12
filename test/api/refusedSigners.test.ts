import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 1_000n;
const ATTACKS = 1_000;

/**
 * Row counts of every table a reservation writes. The victim's own rate-limit windows are left
 * out: its calls go on meanwhile, and open a new window row whenever a minute turns.
 */
async function footprint(stack: ApiStack, victim: string) {
  const [row] = await stack.app.sql<{ accounts: number; tracks: number; windows: number; reservations: number }[]>`
    SELECT (SELECT count(*)::int FROM ledger_accounts) AS accounts, (SELECT count(*)::int FROM spend_tracks) AS tracks,
           (SELECT count(*)::int FROM rate_limit_windows WHERE agent <> ${victim.toLowerCase()}) AS windows,
           (SELECT count(*)::int FROM reservations) AS reservations`;
  return row;
}

describe("api: a signer that may not spend for an account writes nothing and takes no lock (issue 12)", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const victim = testAccount("refused-signers victim");
  const provider = testAccount("refused-signers provider");
  let victimSpent = 0n;

  const victimCall = async () => {
    const payment = await voucherHeader(stack.chain.deployment, { signer: victim, provider: provider.address, maxCumulative: victimSpent + PRICE });
    const started = performance.now();
    const res = await stack.app.inject({ method: "GET", url: "/v1/proxy/refused-echo/x", headers: { "payment-signature": payment } });
    if (res.statusCode === 200) victimSpent += PRICE;
    return { status: res.statusCode, ms: performance.now() - started };
  };

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok"));
    stack = await startApiStack({ rateLimit: { max: 100_000, windowMs: 60_000 } });
    await listService(stack, { id: "refused-echo", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await depositAs(stack.chain, victim, 1_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: victim.address }), (a) => a?.balance === 1_000_000n);
    expect((await victimCall()).status).toBe(200); // the victim's rows exist, as they would in use
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it(`${ATTACKS} calls signed by random keys for the victim's account leave the ledger as it was, while the victim's calls go on`, async () => {
    const before = await footprint(stack, victim.address);
    const strangers = Array.from({ length: ATTACKS }, () => privateKeyToAccount(generatePrivateKey()));
    const headers = await Promise.all(strangers.map((s) => voucherHeader(stack.chain.deployment, { signer: s, account: victim.address, provider: provider.address, maxCumulative: 10n ** 12n })));
    const codes = new Map<string, number>();
    const victimLatencies: number[] = [];
    for (let i = 0; i < ATTACKS; i += 50) {
      const batch = headers.slice(i, i + 50).map((h) => stack.app.inject({ method: "GET", url: "/v1/proxy/refused-echo/x", headers: { "payment-signature": h } }));
      const [victimResult, ...results] = await Promise.all([victimCall(), ...batch]);
      expect(victimResult.status).toBe(200);
      victimLatencies.push(victimResult.ms);
      for (const r of results) codes.set(`${r.statusCode} ${r.json().code}`, (codes.get(`${r.statusCode} ${r.json().code}`) ?? 0) + 1);
    }
    expect(Object.fromEntries(codes)).toEqual({ "402 delegate_not_authorized": ATTACKS });
    const after = await footprint(stack, victim.address);
    expect(after).toEqual(before);
    const [ledger] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${victim.address.toLowerCase()}`;
    expect(ledger).toEqual({ charged: victimSpent.toString(), reserved: "0" });
    victimLatencies.sort((a, b) => a - b);
    console.log(`victim calls during the attack: ${victimLatencies.length}, p50 ${victimLatencies[victimLatencies.length >> 1]?.toFixed(1)} ms`);
  });

  it("vouchers paying providers other than the service's leave the ledger as it was (issue 13)", async () => {
    const before = await footprint(stack, victim.address);
    const payees = Array.from({ length: 50 }, () => privateKeyToAccount(generatePrivateKey()).address);
    const results = await Promise.all(
      payees.map(async (payee) => {
        const header = await voucherHeader(stack.chain.deployment, { signer: victim, provider: payee, maxCumulative: 10n ** 12n });
        const res = await stack.app.inject({ method: "GET", url: "/v1/proxy/refused-echo/x", headers: { "payment-signature": header } });
        return `${res.statusCode} ${res.json().code}`;
      }),
    );
    expect(new Set(results)).toEqual(new Set(["402 wrong_provider"]));
    expect(await footprint(stack, victim.address)).toEqual(before);
  });

  it("a refused signer's call does not wait for the victim's lock", async () => {
    const stranger = privateKeyToAccount(generatePrivateKey());
    const header = await voucherHeader(stack.chain.deployment, { signer: stranger, account: victim.address, provider: provider.address, maxCumulative: 10n ** 12n });
    // Hold the victim's account row, as a long reservation would, and call meanwhile.
    const reserved = stack.app.sql.reserve();
    const conn = await reserved;
    try {
      await conn`BEGIN`;
      await conn`SELECT 1 FROM ledger_accounts WHERE account = ${victim.address.toLowerCase()} FOR UPDATE`;
      const answered = await Promise.race([
        stack.app.inject({ method: "GET", url: "/v1/proxy/refused-echo/x", headers: { "payment-signature": header } }).then((r) => `${r.statusCode} ${r.json().code}`),
        new Promise<string>((resolve) => setTimeout(() => resolve("still waiting after 5 s"), 5_000)),
      ]);
      expect(answered).toBe("402 delegate_not_authorized");
      // An unfunded account's own signer is refused from the index alone too.
      const pauper = privateKeyToAccount(generatePrivateKey());
      const own = await stack.app.inject({
        method: "GET",
        url: "/v1/proxy/refused-echo/x",
        headers: { "payment-signature": await voucherHeader(stack.chain.deployment, { signer: pauper, provider: provider.address, maxCumulative: PRICE }) },
      });
      expect(`${own.statusCode} ${own.json().code}`).toBe("402 insufficient_funds");
      expect(await stack.app.sql`SELECT 1 FROM ledger_accounts WHERE account = ${pauper.address.toLowerCase()}`).toHaveLength(0);
    } finally {
      await conn`ROLLBACK`;
      conn.release();
    }
  });
});
