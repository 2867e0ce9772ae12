import { randomUUID } from "node:crypto";

import type { Sql } from "postgres";
import type { Address, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { authorizationHeader, encodeSignInToken, signIn, signInTypedData } from "@agenttab/sdk";

import { getAgentAccount, getDelegation, getProviderAccount } from "../../indexer/read/index.ts";
import { depositAs, escrowAs, settleAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";

/** A charge as the paid call would have written it; times in microseconds since the epoch. */
type ChargeFixture = {
  requestId: string;
  account: Address;
  signer: Address;
  serviceId: string;
  provider: Address;
  amount: bigint;
  fee: bigint;
  cumulative: bigint;
  createdAtMicros: bigint;
  settlementBatch: string | null;
};

/** An x402 `exact` payment as the proxy records it; only `settled` ones moved money. */
type ExactFixture = {
  requestId: string;
  payer: Address;
  serviceId: string;
  provider: Address;
  value: bigint;
  fee: bigint;
  status: "pending" | "settled" | "released" | "failed";
  /** Null as after a crash, when the reconciler closed it from the chain. */
  upstreamStatus: number | null;
  txHash: string | null;
  createdAtMicros: bigint;
};

/** A reservation of a call in flight. */
type ReservationFixture = { account: Address; signer: Address; serviceId: string; provider: Address; maxAmount: bigint };

const micros = (ms: number) => BigInt(ms) * 1_000n;
const isoMicros = (t: bigint) => `${new Date(Number(t / 1_000n)).toISOString().slice(0, 19)}.${(t % 1_000_000n).toString().padStart(6, "0")}Z`;
const isoMillis = (t: bigint) => new Date(Number(t / 1_000n)).toISOString();
const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);
const key = (address: Address) => address.toLowerCase();

/**
 * Writes ledger rows directly, as the paid call (@agenttab/ledger) would: charges, each (account,
 * signer, provider) spend track, reservations, and the account totals (charged = Σ charges, reserved = Σ
 * reservations). Stands in for real paid calls in these read-side tests.
 */
async function insertLedgerFixtures(sql: Sql, { charges, reservations }: { charges: ChargeFixture[]; reservations: ReservationFixture[] }) {
  await sql.begin(async (tx) => {
    for (const c of charges) {
      await tx`
        INSERT INTO charges (request_id, account, signer, service_id, provider, amount, fee, cumulative, voucher_max, method, path,
                             upstream_status, latency_ms, issued_at, receipt_signature, settlement_batch, created_at)
        VALUES (${c.requestId}, ${key(c.account)}, ${key(c.signer)}, ${c.serviceId}, ${key(c.provider)}, ${c.amount.toString()},
                ${c.fee.toString()}, ${c.cumulative.toString()}, ${c.cumulative.toString()}, 'POST', '/v1/query', 200, 42,
                ${(c.createdAtMicros / 1_000_000n).toString()}, ${`0x${"ab".repeat(65)}`}, ${c.settlementBatch},
                ${isoMicros(c.createdAtMicros)}::text::timestamptz)`; // text: a timestamptz parameter would lose the microseconds
    }
    for (const r of reservations) {
      await tx`
        INSERT INTO reservations (request_id, account, signer, provider, service_id, max_amount, expires_at)
        VALUES (${randomUUID()}, ${key(r.account)}, ${key(r.signer)}, ${key(r.provider)}, ${r.serviceId}, ${r.maxAmount.toString()}, now() + interval '1 hour')`;
    }
    const tracks = new Map<string, { account: string; signer: string; provider: string; charged: bigint; reserved: bigint }>();
    const accounts = new Map<string, { charged: bigint; reserved: bigint }>();
    for (const [row, charged, reserved] of [
      ...charges.map((c) => [c, c.amount, 0n] as const),
      ...reservations.map((r) => [r, 0n, r.maxAmount] as const),
    ]) {
      const trackKey = `${key(row.account)}:${key(row.signer)}:${key(row.provider)}`;
      const track = tracks.get(trackKey) ?? { account: key(row.account), signer: key(row.signer), provider: key(row.provider), charged: 0n, reserved: 0n };
      tracks.set(trackKey, { ...track, charged: track.charged + charged, reserved: track.reserved + reserved });
      const totals = accounts.get(key(row.account)) ?? { charged: 0n, reserved: 0n };
      accounts.set(key(row.account), { charged: totals.charged + charged, reserved: totals.reserved + reserved });
    }
    for (const t of tracks.values()) {
      const voucherMax = (t.charged + t.reserved).toString();
      await tx`
        INSERT INTO spend_tracks (account, signer, provider, voucher_max, voucher_signature, charged, reserved)
        VALUES (${t.account}, ${t.signer}, ${t.provider}, ${voucherMax}, ${`0x${"cd".repeat(65)}`}, ${t.charged.toString()}, ${t.reserved.toString()})`;
    }
    for (const [account, t] of accounts) {
      await tx`INSERT INTO ledger_accounts (account, charged, reserved) VALUES (${account}, ${t.charged.toString()}, ${t.reserved.toString()})`;
    }
  });
}

/** Writes exact payment rows directly, as api/src/paidCall/exactMethod.ts would once each was finished. */
async function insertExactFixtures(sql: Sql, payments: ExactFixture[]) {
  for (const e of payments) {
    await sql`
      INSERT INTO exact_payments (request_id, payer, nonce, service_id, provider, value, fee, valid_before, signature, status, method, path,
                                  upstream_status, latency_ms, tx_hash, block_number, created_at)
      VALUES (${e.requestId}, ${key(e.payer)}, ${`0x${randomUUID().replaceAll("-", "").padEnd(64, "0")}`}, ${e.serviceId}, ${key(e.provider)},
              ${e.value.toString()}, ${e.fee.toString()}, '99999999999', ${`0x${"ef".repeat(65)}`}, ${e.status}, 'GET', '/v1/exact',
              ${e.upstreamStatus}, ${e.upstreamStatus === null ? null : 17}, ${e.txHash}, ${e.txHash === null ? null : "7"},
              ${isoMicros(e.createdAtMicros)}::text::timestamptz)`;
  }
}

describe("api: reading your own money", () => {
  let stack: ApiStack;
  const alice = testAccount("accounts alice");
  const aliceDelegate = testAccount("accounts alice delegate");
  const bob = testAccount("accounts bob");
  const carol = testAccount("accounts carol, never seen");
  const mallory = testAccount("accounts mallory");
  const weatherProvider = testAccount("accounts weather provider");
  const translateProvider = testAccount("accounts translate provider");
  const providerOf: Record<string, Address> = {
    "weather-api": weatherProvider.address,
    "search-api": weatherProvider.address,
    "translate-api": translateProvider.address,
  };

  const DEPOSIT = 10_000_000n;
  const WITHDRAWING = 2_000_000n;
  const RESERVED = 250_000n;
  const PROVIDER_WITHDRAWN = 1_000n;
  const now = Date.now();
  const charges: ChargeFixture[] = [];
  let settledSum = 0n;

  const token = (account: LocalAccount, ttlSeconds = 600) =>
    signIn(account, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, ttlSeconds });
  /** GET as `as` (alice by default), with a raw Authorization value, or with none (null). */
  const get = async (url: string, as: LocalAccount | string | null = alice) => {
    const authorization = as === null ? undefined : typeof as === "string" ? as : authorizationHeader(await token(as));
    return stack.app.inject({ method: "GET", url, headers: authorization === undefined ? {} : { authorization } });
  };

  /** alice's charges, newest first, then by request id: the order pages come in. */
  const newestFirst = <T extends { createdAtMicros: bigint; requestId: string }>(list: T[]) =>
    [...list].sort((a, b) => (a.createdAtMicros === b.createdAtMicros ? (a.requestId < b.requestId ? -1 : 1) : a.createdAtMicros > b.createdAtMicros ? -1 : 1));
  const aliceCharges = () => charges.filter((c) => c.account === alice.address);

  beforeAll(async () => {
    stack = await startApiStack();
    const services = ["weather-api", "search-api", "translate-api"];
    const hourAgo = micros(now - 3_600_000);
    // Times, oldest first: two outside the default 30 days, three in the month, three in the
    // week, fifteen in the last hour; three share one microsecond and two share a millisecond.
    const times: bigint[] = [
      micros(now - 40 * 86_400_000),
      micros(now - 35 * 86_400_000),
      ...[10, 9, 8].map((d) => micros(now - d * 86_400_000)),
      ...[3, 2.5, 2].map((d) => micros(now - d * 86_400_000)),
      ...Array.from({ length: 10 }, (_, i) => hourAgo + BigInt(i) * 60_000_000n),
      hourAgo + 700_000_000n,
      hourAgo + 700_000_000n,
      hourAgo + 700_000_000n,
      hourAgo + 800_000_123n,
      hourAgo + 800_000_456n,
    ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const cumulative = new Map<string, bigint>();
    times.forEach((createdAtMicros, i) => {
      const settled = i < 3;
      // Settled charges all went to the weather provider: the batch below credits it alone.
      const serviceId = settled ? "weather-api" : (services[i % 3] as string);
      const signer = i % 7 === 5 ? aliceDelegate.address : alice.address;
      const amount = 1_000n + BigInt(i) * 1_337n + BigInt(i * i);
      const total = (cumulative.get(signer) ?? 0n) + amount;
      cumulative.set(signer, total);
      charges.push({
        requestId: randomUUID(),
        account: alice.address,
        signer,
        serviceId,
        provider: providerOf[serviceId] as Address,
        amount,
        fee: amount / 100n,
        cumulative: total,
        createdAtMicros,
        settlementBatch: settled ? "batch-1" : null,
      });
    });
    settledSum = sum(charges.filter((c) => c.settlementBatch !== null).map((c) => c.amount));
    let bobTotal = 0n;
    for (const [i, serviceId] of ["translate-api", "weather-api", "translate-api"].entries()) {
      const amount = 50_000n + BigInt(i);
      bobTotal += amount;
      charges.push({
        requestId: randomUUID(),
        account: bob.address,
        signer: bob.address,
        serviceId,
        provider: providerOf[serviceId] as Address,
        amount,
        fee: amount / 100n,
        cumulative: bobTotal,
        createdAtMicros: micros(now - (i + 1) * 600_000),
        settlementBatch: null,
      });
    }
    await insertLedgerFixtures(stack.app.sql, {
      charges,
      reservations: [
        { account: alice.address, signer: alice.address, serviceId: "weather-api", provider: providerOf["weather-api"] as Address, maxAmount: 200_000n },
        { account: alice.address, signer: aliceDelegate.address, serviceId: "search-api", provider: providerOf["search-api"] as Address, maxAmount: RESERVED - 200_000n },
      ],
    });

    // On-chain: deposits, the settlement of alice's first three charges, a pending withdrawal
    // and a provider payout.
    await depositAs(stack.chain, alice, DEPOSIT);
    await depositAs(stack.chain, bob, 5_000_000n);
    await settleAs(stack.chain, {
      batchLabel: "batch-1",
      entries: [{ agent: alice.address, signer: alice, cumulative: settledSum, debit: settledSum }],
      provider: weatherProvider.address,
      callsServed: 3,
    });
    await escrowAs(stack.chain, alice, "requestWithdrawal", [WITHDRAWING]);
    await escrowAs(stack.chain, weatherProvider, "withdrawEarnings", [weatherProvider.address, PROVIDER_WITHDRAWN]);
    await stack.chain.waitFor(
      () => getProviderAccount(stack.chain.reader, { provider: weatherProvider.address }),
      (p) => p?.withdrawn === PROVIDER_WITHDRAWN,
    );
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: alice.address }), (a) => a?.pendingWithdrawal === WITHDRAWING);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: bob.address }), (a) => a?.balance === 5_000_000n);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  describe("balance", () => {
    it("is the indexed balance less what is withdrawing, unsettled and reserved, to the unit", async () => {
      const charged = sum(aliceCharges().map((c) => c.amount));
      const unsettled = charged - settledSum;
      const balance = DEPOSIT - settledSum;
      const res = await stack.chain.waitFor(
        () => get(`/v1/agents/${alice.address}/balance`),
        (r) => r.json().indexer?.fresh === true,
      );
      expect(res.value.statusCode).toBe(200);
      expect(res.value.headers["cache-control"]).toBe("private, no-store");
      const body = res.value.json();
      expect(body).toEqual({
        account: key(alice.address),
        deposited: DEPOSIT.toString(),
        balance: balance.toString(),
        withdrawing: WITHDRAWING.toString(),
        withdrawalUnlockAt: expect.stringMatching(/^[0-9]+$/),
        unsettled: unsettled.toString(),
        reserved: RESERVED.toString(),
        pending: (unsettled + RESERVED).toString(),
        available: (balance - WITHDRAWING - unsettled - RESERVED).toString(),
        indexer: { indexedBlock: expect.stringMatching(/^[0-9]+$/), fresh: true },
      });
      // The fixtures are big enough to matter: every term moves `available`.
      expect(unsettled).toBeGreaterThan(0n);
      expect(settledSum).toBeGreaterThan(0n);
    });

    it("accepts the address in any case, and is all zeros for an account never seen", async () => {
      const mixed = await get(`/v1/agents/${alice.address.toUpperCase().replace("0X", "0x")}/balance`);
      expect(mixed.statusCode).toBe(200);
      const res = await get(`/v1/agents/${carol.address}/balance`, carol);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        account: key(carol.address),
        deposited: "0",
        balance: "0",
        withdrawing: "0",
        withdrawalUnlockAt: null,
        unsettled: "0",
        reserved: "0",
        pending: "0",
        available: "0",
      });
    });
  });

  /** Every request id of `as`'s transactions matching `query`, page by page, checking each page's size. */
  const pageThrough = async (query: string, limit: number, as: LocalAccount = alice) => {
    const seen: { requestId: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/agents/${as.address}/transactions?limit=${limit}${query}${cursor === null ? "" : `&cursor=${cursor}`}`;
      const res = await get(url, as);
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: { requestId: string }[]; nextCursor: string | null };
      expect(body.items.length).toBeLessThanOrEqual(limit);
      seen.push(...body.items);
      cursor = body.nextCursor;
      pages++;
      if (pages > 50) throw new Error("pagination does not end");
    } while (cursor !== null);
    return seen.map((item) => item.requestId);
  };

  describe("transactions", () => {
    it("lists charges newest first, 20 by default, with every field", async () => {
      const expected = newestFirst(aliceCharges());
      const res = await get(`/v1/agents/${alice.address}/transactions`);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.items).toHaveLength(20);
      expect(body.nextCursor).toEqual(expect.any(String));
      expect(body.items.map((i: { requestId: string }) => i.requestId)).toEqual(expected.slice(0, 20).map((c) => c.requestId));
      const first = expected[0] as ChargeFixture;
      expect(body.items[0]).toEqual({
        requestId: first.requestId,
        serviceId: first.serviceId,
        provider: key(first.provider),
        signer: key(first.signer),
        amount: first.amount.toString(),
        fee: first.fee.toString(),
        cumulative: first.cumulative.toString(),
        method: "POST",
        path: "/v1/query",
        upstreamStatus: 200,
        latencyMs: 42,
        createdAt: isoMillis(first.createdAtMicros),
        settlementBatch: null,
        scheme: "agenttab-voucher",
        transaction: null,
      });
      const settled = body.items.filter((i: { settlementBatch: string | null }) => i.settlementBatch !== null);
      expect(settled).toEqual([]);
    });

    it("pages without duplicates or gaps, across ties to the microsecond and within a millisecond", async () => {
      const expected = newestFirst(aliceCharges()).map((c) => c.requestId);
      for (const limit of [1, 4, 7, 100]) {
        expect(await pageThrough("", limit)).toEqual(expected);
      }
    });

    it("filters by service and by time range (from inclusive, to exclusive)", async () => {
      const weather = newestFirst(aliceCharges().filter((c) => c.serviceId === "weather-api"));
      expect(await pageThrough("&service_id=weather-api", 3)).toEqual(weather.map((c) => c.requestId));
      const sorted = newestFirst(aliceCharges()).reverse();
      // Millisecond-aligned boundaries taken from two charges' own times.
      const from = sorted[3] as ChargeFixture;
      const to = sorted[9] as ChargeFixture;
      const inRange = newestFirst(aliceCharges().filter((c) => c.createdAtMicros >= from.createdAtMicros && c.createdAtMicros < to.createdAtMicros));
      expect(inRange).toHaveLength(6);
      const range = `&from=${isoMillis(from.createdAtMicros)}&to=${isoMillis(to.createdAtMicros)}`;
      expect(await pageThrough(range, 4)).toEqual(inRange.map((c) => c.requestId));
      const both = inRange.filter((c) => c.serviceId === "search-api").map((c) => c.requestId);
      expect(await pageThrough(`${range}&service_id=search-api`, 2)).toEqual(both);
      const settled = await get(`/v1/agents/${alice.address}/transactions?limit=100&to=${isoMillis(from.createdAtMicros)}`);
      expect(settled.json().items.map((i: { settlementBatch: string | null }) => i.settlementBatch)).toEqual(["batch-1", "batch-1", "batch-1"]);
    });
  });

  describe("spending", () => {
    const report = (list: ChargeFixture[]) => {
      const total = sum(list.map((c) => c.amount));
      const byService = [...new Set(list.map((c) => c.serviceId))]
        .map((serviceId) => {
          const mine = list.filter((c) => c.serviceId === serviceId);
          const t = sum(mine.map((c) => c.amount));
          return { serviceId, total: t.toString(), calls: mine.length, averagePerCall: (t / BigInt(mine.length)).toString(), t };
        })
        .sort((a, b) => (a.t === b.t ? (a.serviceId < b.serviceId ? -1 : 1) : a.t > b.t ? -1 : 1))
        .map(({ t: _t, ...rest }) => rest);
      return { total: total.toString(), calls: list.length, averagePerCall: list.length === 0 ? "0" : (total / BigInt(list.length)).toString(), byService };
    };
    const since = (days: number) => aliceCharges().filter((c) => c.createdAtMicros >= micros(Date.now() - days * 86_400_000));

    it("covers the last 30 days by default: total, calls, floor average, by service", async () => {
      const res = await get(`/v1/agents/${alice.address}/spending`);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ account: key(alice.address), ...report(since(30)) });
      expect(body.calls).toBe(21);
      expect(Date.parse(body.to) - Date.parse(body.from)).toBe(30 * 86_400_000);
      // The averages really are floors: no total here divides evenly.
      expect(BigInt(body.total) % BigInt(body.calls)).not.toBe(0n);
    });

    it("takes a period ending now, or an explicit range", async () => {
      for (const [period, days, calls] of [["day", 1, 15], ["week", 7, 18], ["month", 30, 21]] as const) {
        const res = await get(`/v1/agents/${alice.address}/spending?period=${period}`);
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject(report(since(days)));
        expect(res.json().calls).toBe(calls);
      }
      const all = await get(`/v1/agents/${alice.address}/spending?from=2020-01-01T00:00:00Z&to=${new Date(now + 60_000).toISOString()}`);
      expect(all.json()).toMatchObject(report(aliceCharges()));
      const empty = await get(`/v1/agents/${alice.address}/spending?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z`);
      expect(empty.json()).toMatchObject({ from: "2020-01-01T00:00:00.000Z", to: "2020-02-01T00:00:00.000Z", total: "0", calls: 0, averagePerCall: "0", byService: [] });
    });
  });

  describe("exact payments in the history", () => {
    // dave pays both ways; his provider is his own, so the earnings tests below do not see him.
    const dave = testAccount("accounts dave, voucher and exact payer");
    const daveProvider = testAccount("accounts dave's provider");
    const base = micros(now - 1_800_000);
    const txHash = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
    const daveCharges: ChargeFixture[] = [];
    const exacts: ExactFixture[] = [];
    const settledExacts = () => exacts.filter((e) => e.status === "settled");
    /** dave's paid calls as the API should list them: charges and settled exact payments, one order. */
    const history = () =>
      newestFirst([
        ...daveCharges.map((c) => ({ requestId: c.requestId, serviceId: c.serviceId, amount: c.amount, createdAtMicros: c.createdAtMicros })),
        ...settledExacts().map((e) => ({ requestId: e.requestId, serviceId: e.serviceId, amount: e.value, createdAtMicros: e.createdAtMicros })),
      ]);

    beforeAll(async () => {
      let cumulative = 0n;
      for (const [offset, serviceId] of [[0n, "weather-api"], [2_000_000n, "search-api"], [4_000_000n, "weather-api"]] as const) {
        const amount = 10_000n + offset / 1_000n + 3n;
        cumulative += amount;
        daveCharges.push({ requestId: randomUUID(), account: dave.address, signer: dave.address, serviceId, provider: daveProvider.address, amount, fee: amount / 100n, cumulative, createdAtMicros: base + offset, settlementBatch: null });
      }
      const exact = (offset: bigint, serviceId: string, value: bigint, status: ExactFixture["status"], upstreamStatus: number | null, txHash: string | null): ExactFixture => ({
        requestId: randomUUID(),
        payer: dave.address,
        serviceId,
        provider: daveProvider.address,
        value,
        fee: value / 100n,
        status,
        upstreamStatus,
        txHash,
        createdAtMicros: base + offset,
      });
      exacts.push(
        // Settled at the very microsecond of a charge (twice), within a millisecond, and on a third service.
        exact(0n, "weather-api", 20_000n, "settled", 200, txHash(1)),
        exact(1_000_500n, "search-api", 30_001n, "settled", null, txHash(2)),
        exact(2_000_000n, "search-api", 30_002n, "settled", 201, txHash(3)),
        exact(3_000_000n, "translate-api", 7_777n, "settled", 200, txHash(4)),
        // Moved no money: never listed, never counted.
        exact(0n, "weather-api", 900_000n, "released", 503, null),
        exact(2_000_000n, "search-api", 900_000n, "failed", 200, null),
        exact(5_000_000n, "translate-api", 900_000n, "pending", null, null),
        exact(500n, "weather-api", 900_000n, "released", null, null),
      );
      await insertLedgerFixtures(stack.app.sql, { charges: daveCharges, reservations: [] });
      await insertExactFixtures(stack.app.sql, exacts);
    });

    it("lists settled exact payments with the charges, one order, with every field", async () => {
      const res = await get(`/v1/agents/${dave.address}/transactions`, dave);
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: Record<string, unknown>[]; nextCursor: string | null };
      expect(body.nextCursor).toBeNull();
      expect(body.items.map((i) => i.requestId)).toEqual(history().map((t) => t.requestId));
      expect(body.items.filter((i) => i.scheme === "exact").map((i) => i.transaction)).toEqual([txHash(4), txHash(3), txHash(2), txHash(1)]);
      expect(body.items.filter((i) => i.scheme === "agenttab-voucher")).toHaveLength(3);
      const reconciled = settledExacts()[1] as ExactFixture;
      expect(body.items.find((i) => i.requestId === reconciled.requestId)).toEqual({
        requestId: reconciled.requestId,
        scheme: "exact",
        serviceId: "search-api",
        provider: key(daveProvider.address),
        signer: key(dave.address),
        amount: "30001",
        fee: "300",
        cumulative: "30001",
        method: "GET",
        path: "/v1/exact",
        upstreamStatus: null,
        latencyMs: null,
        createdAt: isoMillis(reconciled.createdAtMicros),
        settlementBatch: null,
        transaction: txHash(2),
      });
      const voucher = daveCharges[0] as ChargeFixture;
      expect(body.items.find((i) => i.requestId === voucher.requestId)).toMatchObject({ scheme: "agenttab-voucher", transaction: null, cumulative: voucher.cumulative.toString() });
    });

    it("pages through both without duplicates or gaps, and filters both alike", async () => {
      const all = history().map((t) => t.requestId);
      expect(all).toHaveLength(7);
      for (const limit of [1, 2, 3, 6, 7, 100]) {
        expect(await pageThrough("", limit, dave)).toEqual(all);
      }
      const search = history().filter((t) => t.serviceId === "search-api");
      expect(search).toHaveLength(3);
      expect(await pageThrough("&service_id=search-api", 1, dave)).toEqual(search.map((t) => t.requestId));
      const range = `&from=${isoMillis(base + 1_000_000n)}&to=${isoMillis(base + 3_000_000n)}`;
      const inRange = history().filter((t) => t.createdAtMicros >= base + 1_000_000n && t.createdAtMicros < base + 3_000_000n);
      expect(inRange).toHaveLength(3);
      expect(await pageThrough(range, 2, dave)).toEqual(inRange.map((t) => t.requestId));
    });

    it("counts settled exact payments in spending, and nothing else of them", async () => {
      const paid = history();
      const total = sum(paid.map((t) => t.amount));
      const byService = (serviceId: string) => {
        const mine = paid.filter((t) => t.serviceId === serviceId);
        const t = sum(mine.map((m) => m.amount));
        return { serviceId, total: t.toString(), calls: mine.length, averagePerCall: (t / BigInt(mine.length)).toString() };
      };
      const res = await get(`/v1/agents/${dave.address}/spending?period=day`, dave);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        total: total.toString(),
        calls: 7,
        averagePerCall: (total / 7n).toString(),
        byService: [byService("search-api"), byService("weather-api"), byService("translate-api")],
      });
      // None of the 900_000 that moved no money: the total is well below one of them.
      expect(total).toBeLessThan(900_000n);
    });

    it("shows a delegate only the escrow it spends from: none of the owner's wallet-level exact payments", async () => {
      const daveDelegate = testAccount("accounts dave's delegate");
      await escrowAs(stack.chain, dave, "authorizeDelegate", [daveDelegate.address, 100_000n, 0]);
      await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: dave.address, delegate: daveDelegate.address }), (d) => d?.active === true);
      const vouchers = newestFirst(daveCharges).map((c) => c.requestId);
      const listed = await get(`/v1/agents/${dave.address}/transactions`, daveDelegate);
      expect(listed.statusCode).toBe(200);
      const items = (listed.json() as { items: { requestId: string; scheme: string }[] }).items;
      expect(items.map((i) => i.requestId)).toEqual(vouchers);
      expect(items.every((i) => i.scheme === "agenttab-voucher")).toBe(true);
      const spending = await get(`/v1/agents/${dave.address}/spending?period=day`, daveDelegate);
      expect(spending.statusCode).toBe(200);
      const total = sum(daveCharges.map((c) => c.amount));
      expect(spending.json()).toMatchObject({ total: total.toString(), calls: 3 });
      // dave himself still sees both.
      expect(((await get(`/v1/agents/${dave.address}/transactions`, dave)).json() as { items: unknown[] }).items).toHaveLength(7);
    });
  });

  describe("provider earnings", () => {
    it("pending off-chain net of fees, settled and withdrawable on-chain", async () => {
      const unsettledFor = (provider: Address) => charges.filter((c) => c.provider === provider && c.settlementBatch === null);
      const credited = settledSum - settledSum / 100n;
      const weather = await get(`/v1/providers/${weatherProvider.address}/earnings`, weatherProvider);
      expect(weather.statusCode).toBe(200);
      expect(weather.json()).toEqual({
        provider: key(weatherProvider.address),
        pending: sum(unsettledFor(weatherProvider.address).map((c) => c.amount - c.fee)).toString(),
        pendingCalls: unsettledFor(weatherProvider.address).length,
        settled: credited.toString(),
        withdrawable: (credited - PROVIDER_WITHDRAWN).toString(),
        withdrawn: PROVIDER_WITHDRAWN.toString(),
        indexer: { indexedBlock: expect.stringMatching(/^[0-9]+$/), fresh: expect.any(Boolean) },
      });
      // Charges from two agents count; nothing settled yet for this one.
      const translate = await get(`/v1/providers/${translateProvider.address}/earnings`, translateProvider);
      expect(translate.json()).toMatchObject({
        pending: sum(unsettledFor(translateProvider.address).map((c) => c.amount - c.fee)).toString(),
        pendingCalls: unsettledFor(translateProvider.address).length,
        settled: "0",
        withdrawable: "0",
        withdrawn: "0",
      });
      expect(new Set(unsettledFor(translateProvider.address).map((c) => c.account)).size).toBe(2);
    });
  });

  describe("sign-in", () => {
    const signed = async (signer: LocalAccount, message: { account: Address; issuedAt: bigint; expiresAt: bigint }, chainId?: number) => {
      const { deployment } = stack.chain;
      const signature = await signer.signTypedData(signInTypedData({ chainId: chainId ?? deployment.chainId, escrow: deployment.escrow, signIn: message }));
      return authorizationHeader(encodeSignInToken({ ...message, signature }));
    };
    const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

    const failures: [string, () => Promise<string | null>, number, string][] = [
      ["no header", async () => null, 401, "missing_authorization"],
      ["an empty header", async () => "", 401, "missing_authorization"],
      ["another scheme", async () => `Bearer ${await token(alice)}`, 401, "invalid_authorization"],
      ["the scheme alone", async () => "AgentTab", 401, "invalid_authorization"],
      ["a garbled token", async () => "AgentTab !!not-base64!!", 401, "invalid_authorization"],
      ["base64url that is not a token", async () => `AgentTab ${Buffer.from('{"account":"0x1"}').toString("base64url")}`, 401, "invalid_authorization"],
      ["a token with trailing junk", async () => `${authorizationHeader(await token(alice))} extra`, 401, "invalid_authorization"],
      ["an oversized header", async () => `AgentTab ${"a".repeat(3_000)}`, 401, "invalid_authorization"],
      [
        "someone else's signature",
        async () => signed(mallory, { account: alice.address, issuedAt: nowSeconds(), expiresAt: nowSeconds() + 600n }),
        401,
        "invalid_authorization",
      ],
      [
        "a signature for another chain",
        async () => signed(alice, { account: alice.address, issuedAt: nowSeconds(), expiresAt: nowSeconds() + 600n }, 1),
        401,
        "invalid_authorization",
      ],
      [
        "an expired sign-in",
        async () => signed(alice, { account: alice.address, issuedAt: nowSeconds() - 7_200n, expiresAt: nowSeconds() - 1n }),
        401,
        "authorization_expired",
      ],
      [
        "a lifetime over 24 hours",
        async () => signed(alice, { account: alice.address, issuedAt: nowSeconds(), expiresAt: nowSeconds() + 86_401n }),
        401,
        "invalid_authorization",
      ],
      [
        "a sign-in issued in the future",
        async () => signed(alice, { account: alice.address, issuedAt: nowSeconds() + 600n, expiresAt: nowSeconds() + 1_200n }),
        401,
        "invalid_authorization",
      ],
    ];

    it.each(failures)("refuses %s", async (_name, header, status, code) => {
      const authorization = await header();
      for (const url of [`/v1/agents/${alice.address}/balance`, `/v1/agents/${alice.address}/transactions`, `/v1/providers/${alice.address}/earnings`]) {
        const res = await get(url, authorization);
        expect(res.statusCode).toBe(status);
        expect(res.json()).toEqual({ code, message: expect.any(String) });
        expect(res.headers["www-authenticate"]).toMatch(/^AgentTab /);
      }
    });

    it("accepts a lifetime of exactly 24 hours, and the same token again (cached)", async () => {
      const header = await signed(alice, { account: alice.address, issuedAt: nowSeconds(), expiresAt: nowSeconds() + 86_400n });
      for (let i = 0; i < 3; i++) expect((await get(`/v1/agents/${alice.address}/balance`, header)).statusCode).toBe(200);
    });

    it("answers 403 with nothing else for any address but the signed-in one, with or without data", async () => {
      const header = authorizationHeader(await token(alice));
      const bodies = new Set<string>();
      for (const url of [
        `/v1/agents/${bob.address}/balance`,
        `/v1/agents/${bob.address}/transactions`,
        `/v1/agents/${bob.address}/spending`,
        `/v1/agents/${carol.address}/balance`,
        `/v1/agents/${carol.address}/transactions?limit=5`,
        `/v1/providers/${weatherProvider.address}/earnings`,
        `/v1/providers/${carol.address}/earnings`,
      ]) {
        const res = await get(url, header);
        expect(res.statusCode).toBe(403);
        expect(res.json()).toEqual({ code: "forbidden", message: expect.any(String) });
        bodies.add(res.body);
      }
      expect(bodies.size).toBe(1);
    });
  });

  describe("bad input", () => {
    const cases: [string, string, string][] = [
      ["not an address", `/v1/agents/0x1234/balance`, "invalid_address"],
      ["an address with junk", `/v1/agents/${alice.address}zz/transactions`, "invalid_address"],
      ["limit 0", `/v1/agents/${alice.address}/transactions?limit=0`, "invalid_limit"],
      ["limit 101", `/v1/agents/${alice.address}/transactions?limit=101`, "invalid_limit"],
      ["limit not a number", `/v1/agents/${alice.address}/transactions?limit=ten`, "invalid_limit"],
      ["a cursor with bad characters", `/v1/agents/${alice.address}/transactions?cursor=a.b`, "invalid_cursor"],
      ["a cursor this API never issued", `/v1/agents/${alice.address}/transactions?cursor=${Buffer.from("99999999999999999:x").toString("base64url")}`, "invalid_cursor"],
      ["a bad service id", `/v1/agents/${alice.address}/transactions?service_id=No_Such!`, "invalid_service_id"],
      ["from not a time", `/v1/agents/${alice.address}/transactions?from=yesterday`, "invalid_time_range"],
      ["from after to", `/v1/agents/${alice.address}/transactions?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z`, "invalid_time_range"],
      ["a time before 1970", `/v1/agents/${alice.address}/spending?from=0001-01-01T00:00:00Z`, "invalid_time_range"],
      ["a leap second", `/v1/agents/${alice.address}/spending?to=2016-12-31T23:59:60Z`, "invalid_time_range"],
      ["an unknown period", `/v1/agents/${alice.address}/spending?period=year`, "invalid_time_range"],
      ["a period and a range", `/v1/agents/${alice.address}/spending?period=day&from=2025-01-01T00:00:00Z`, "invalid_time_range"],
    ];

    it.each(cases)("answers 400 to %s, never 500", async (_name, url, code) => {
      const res = await get(url);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ code, message: expect.any(String) });
    });
  });
});
