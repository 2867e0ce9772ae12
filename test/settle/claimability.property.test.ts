import fc from "fast-check";
import type { Address, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getIndexerStatus } from "../../indexer/read/index.ts";
import type { SettleChain } from "../../scripts/settle/chain.ts";
import { planEntries } from "../../scripts/settle/plan.ts";
import { settle } from "../../scripts/settle/run.ts";
import { simulateEntries } from "../../scripts/settle/simulate.ts";
import { watchPass } from "../../scripts/settle/watchtower.ts";
import { agentTabEscrowAbi, fiatTokenAbi } from "@agenttab/sdk";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService, voucherHeader } from "../api/helpers/payments.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";

const DAY = 86_400;
const DEPOSIT = 1_000_000n;
/** The watchtower may be down, but never for as long as the delay: at most the delay less this. */
const TOWER_MARGIN = 3_600;
/**
 * The proxy refuses a delegate within its reservation time to live (2 min) of the expiry by the
 * database's clock, which the time jumps leave behind the chain's. A call the proxy would refuse
 * by chain time (this much before the expiry) is therefore not sent.
 */
const PROXY_EXPIRY_MARGIN = 180n;
const services = [
  { id: "claim-weather", provider: testAccount("claimability provider 1").address, price: 25_000n },
  { id: "claim-search", provider: testAccount("claimability provider 2").address, price: 40_003n },
  { id: "claim-ocr", provider: testAccount("claimability provider 3").address, price: 10_001n },
];

/** A run's owner and its delegates, as the owner last authorized them (the test's model). */
type Setup = { delegates: { cap: number; expiresIn: number | null }[] };

/** `signer` 0 is the owner, n ≥ 1 a delegate (modulo how many); `delegate` is taken modulo too. */
type Command =
  | { kind: "call"; signer: number; service: number; times: number }
  | { kind: "revoke"; delegate: number }
  | { kind: "setCap"; delegate: number; below: boolean; percent: number }
  | { kind: "expire"; delegate: number; inSeconds: number }
  | { kind: "withdraw" }
  | { kind: "finalize" }
  | { kind: "jump"; seconds: number }
  | { kind: "watch" }
  | { kind: "settle" };

type Delegate = { key: LocalAccount; cap: bigint; expiresAt: bigint; active: boolean };

type Run = {
  owner: LocalAccount;
  delegates: Delegate[];
  /** Per (signer, provider) track, what the proxy answered 200 for: the voucher book signs this plus the next price. */
  charged: Map<string, bigint>;
  accepted: bigint;
  withdrawal: { unlockAt: bigint } | undefined;
  /** Chain time of the last watchtower pass. */
  lastPassAt: bigint;
  earningsBefore: bigint[];
  feesBefore: bigint;
};

/** States in which a delegate's unsettled charges were claimable only through the grace (issue 13). */
const graceInUse = { revoked: 0, expired: 0, capLowered: 0 };

describe("claimability: whatever an owner does, every charge the proxy accepted reaches its providers", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let chain: SettleChain;
  let runs = 0;

  const read = (functionName: string, args: readonly unknown[] = []) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName, args } as never) as Promise<any>;
  const chainNow = async () => (await stack.chain.publicClient.getBlock()).timestamp;
  /** Waits until the index has caught up with the chain's head, so the proxy sees every owner action. */
  const synced = async () => {
    const head = await stack.chain.publicClient.getBlockNumber();
    await stack.chain.waitFor(
      () => getIndexerStatus(stack.chain.reader, { chainId: stack.chain.deployment.chainId }),
      (s) => s.indexedBlock !== undefined && s.indexedBlock >= head,
    );
  };
  const ownerDoes = async (run: Run, functionName: "revokeDelegate" | "authorizeDelegate" | "requestWithdrawal" | "finalizeWithdrawal", args: readonly unknown[]) => {
    await escrowAs(stack.chain, run.owner, functionName, args);
    await synced();
  };

  const trackKey = (signer: Address, provider: Address) => `${signer.toLowerCase()}:${provider.toLowerCase()}`;
  /** What a signer was charged on one provider's track. */
  const chargedOn = (run: Run, signer: Address, provider: Address) => run.charged.get(trackKey(signer, provider)) ?? 0n;
  /** What a signer was charged over all its tracks: what a delegate's cap bounds. */
  const chargedBy = (run: Run, signer: Address) => services.reduce((sum, s) => sum + chargedOn(run, signer, s.provider), 0n);

  /** One paid call; only a 200 is a charge. */
  const pay = async (run: Run, signer: LocalAccount, serviceIndex: number) => {
    const service = services[serviceIndex]!;
    const before = chargedOn(run, signer.address, service.provider);
    const payment = await voucherHeader(stack.chain.deployment, { signer, account: run.owner.address, provider: service.provider, maxCumulative: before + service.price });
    const call = () => stack.app.inject({ method: "GET", url: `/v1/proxy/${service.id}/q`, headers: { "payment-signature": payment } });
    let res = await call();
    for (const deadline = Date.now() + 30_000; res.statusCode === 503 && res.json().code === "index_stale" && Date.now() < deadline; res = await call()) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (res.statusCode === 200) {
      run.charged.set(trackKey(signer.address, service.provider), before + service.price);
      run.accepted += service.price;
    }
    return res;
  };

  /** The watchtower's pass (its result's shape is not relied on: the old watchtower's differs). */
  const towerPass = async (run: Run) => {
    const at = await chainNow();
    await watchPass({ sql: stack.app.sql, chain, reader: stack.chain.reader });
    run.lastPassAt = at;
    await synced();
  };

  /**
   * Chain time passes. The watchtower runs in production every 15 s; here it may be down for a
   * while, but never as long as the delay: when this jump would make its outage reach
   * `WITHDRAWAL_DELAY − TOWER_MARGIN`, it passes first.
   */
  const jump = async (run: Run, seconds: number) => {
    const delay = stack.chain.deployment.withdrawalDelay;
    if ((await chainNow()) + BigInt(seconds) - run.lastPassAt >= BigInt(delay - TOWER_MARGIN)) await towerPass(run);
    await stack.chain.publicClient.request({ method: "evm_increaseTime" as never, params: [seconds] as never });
    await stack.chain.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    await synced();
  };

  const settlementRun = async () => {
    await settle({ sql: stack.app.sql, chain, confirmations: 1 });
    await synced();
  };

  const unsettledOf = async (run: Run) => {
    const [row] = await stack.app.sql<{ sum: string }[]>`
      SELECT coalesce(sum(amount), 0)::text AS sum FROM charges WHERE account = ${run.owner.address.toLowerCase()} AND settlement_batch IS NULL`;
    return BigInt(row!.sum);
  };

  const finalize = async (run: Run) => {
    const unsettled = await unsettledOf(run);
    expect(unsettled, "finalizing now would hand the owner what its providers were charged").toBe(0n);
    await ownerDoes(run, "finalizeWithdrawal", []);
    run.withdrawal = undefined;
  };

  /** What must hold after every step of every run. */
  const checkInvariants = async (run: Run, step: string) => {
    const { sql } = stack.app;
    const owner = run.owner.address;
    const account = owner.toLowerCase();
    const signers = [owner, ...run.delegates.map((d) => d.key.address)];

    // The ledger recorded exactly what the proxy answered 200 for, per (signer, provider) track.
    const rows = await sql<{ signer: string; provider: string; charged: string; settled: string; unsettled: string }[]>`
      SELECT signer, provider, coalesce(sum(amount), 0)::text AS charged,
             coalesce(sum(amount) FILTER (WHERE settlement_batch IS NOT NULL), 0)::text AS settled,
             coalesce(sum(amount) FILTER (WHERE settlement_batch IS NULL), 0)::text AS unsettled
      FROM charges WHERE account = ${account} GROUP BY signer, provider`;
    const onTrack = (signer: Address, provider: Address) =>
      rows.find((r) => r.signer === signer.toLowerCase() && r.provider === provider.toLowerCase()) ?? { charged: "0", settled: "0", unsettled: "0" };
    const settledBy = (signer: Address) => services.reduce((sum, s) => sum + BigInt(onTrack(signer, s.provider).settled), 0n);
    const unsettledBy = (signer: Address) => services.reduce((sum, s) => sum + BigInt(onTrack(signer, s.provider).unsettled), 0n);
    for (const signer of signers) {
      for (const s of services) {
        const track = onTrack(signer, s.provider);
        expect(BigInt(track.charged), `${step}: charges of ${signer} on ${s.id}'s provider in the ledger`).toBe(chargedOn(run, signer, s.provider));
        // For every settled charge the chain agrees: claimed on the track == Σ settled.
        const claimed: bigint = await read("claimedOf", [owner, signer, s.provider]);
        expect(claimed, `${step}: claimed on-chain on ${signer}'s track for ${s.id}'s provider`).toBe(BigInt(track.settled));
      }
      // A delegate's claimed total is its tracks' sum.
      if (signer !== owner) expect(BigInt((await read("delegationOf", [owner, signer])).claimed), `${step}: ${signer}'s claimed total`).toBe(settledBy(signer));
    }
    // The account's claimed total is every signer's on every provider.
    expect((await read("accountOf", [owner])).claimed, `${step}: claimed from the account`).toBe(signers.reduce((sum, signer) => sum + settledBy(signer), 0n));
    const unsettled = rows.reduce((sum, r) => sum + BigInt(r.unsettled), 0n);

    // On-chain: Σ agent debits == Σ provider credits + Σ fees, and each matches the settled rows.
    const shares = await sql<{ provider: string; net: string; fee: string }[]>`
      SELECT provider, coalesce(sum(amount - fee), 0)::text AS net, coalesce(sum(fee), 0)::text AS fee
      FROM charges WHERE account = ${account} AND settlement_batch IS NOT NULL GROUP BY provider`;
    let credits = 0n;
    for (const [i, s] of services.entries()) {
      const credited = (await read("earningsOf", [s.provider])) - run.earningsBefore[i]!;
      expect(credited, `${step}: credited to ${s.id}'s provider`).toBe(BigInt(shares.find((r) => r.provider === s.provider.toLowerCase())?.net ?? "0"));
      credits += credited;
    }
    const fees: bigint = (await read("accruedFees")) - run.feesBefore;
    expect(fees, `${step}: fees`).toBe(shares.reduce((sum, r) => sum + BigInt(r.fee), 0n));
    const { balance } = await read("accountOf", [owner]);
    const withdrawn: bigint = await stack.chain.publicClient.readContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [owner] });
    expect(DEPOSIT - balance - withdrawn, `${step}: debits == credits + fees`).toBe(credits + fees);

    // The owner's deposit still holds every accepted, unsettled charge, and the escrow would accept
    // the claims on all of them right now: no owner action has made any of them unclaimable.
    expect(balance, `${step}: balance covers the unsettled charges`).toBeGreaterThanOrEqual(unsettled);
    const planned = await planEntries(sql, chain, { accounts: [owner] });
    expect(planned.excluded, `${step}: planned`).toEqual([]);
    expect(planned.entries.reduce((sum, e) => sum + e.delta, 0n), `${step}: planned claims cover the unsettled charges`).toBe(unsettled);
    const simulated = await simulateEntries(chain, planned.entries);
    expect(simulated.excluded, `${step}: every unsettled charge is still claimable`).toEqual([]);

    const now = await chainNow();
    for (const d of run.delegates) {
      if (unsettledBy(d.key.address) === 0n) continue;
      const onChain = await read("delegationOf", [owner, d.key.address]);
      if (!onChain.active) graceInUse.revoked++;
      else if (onChain.expiresAt !== 0 && BigInt(onChain.expiresAt) <= now) graceInUse.expired++;
      else if (chargedBy(run, d.key.address) > onChain.cap) graceInUse.capLowered++;
    }
    return unsettled;
  };

  const execute = async (run: Run, c: Command) => {
    const delegate = (i: number) => run.delegates[i % run.delegates.length]!;
    switch (c.kind) {
      case "call": {
        const d = c.signer === 0 ? undefined : delegate(c.signer - 1);
        const signer = d?.key ?? run.owner;
        const price = services[c.service]!.price;
        for (let i = 0; i < c.times; i++) {
          if (d !== undefined && d.expiresAt !== 0n && (await chainNow()) + PROXY_EXPIRY_MARGIN >= d.expiresAt) return;
          // A delegate's cap bounds what it was charged over all its providers.
          const charged = chargedBy(run, signer.address);
          const mustRefuse =
            run.withdrawal !== undefined ? "the whole balance is being withdrawn"
            : d !== undefined && !d.active ? "the delegate is revoked"
            : d !== undefined && charged + price > d.cap ? `the cap ${d.cap} is below ${charged} + ${price}`
            : undefined;
          const res = await pay(run, signer, c.service);
          if (mustRefuse !== undefined) expect(res.statusCode, `refused at once (${mustRefuse}): ${res.body}`).not.toBe(200);
        }
        return;
      }
      case "revoke": {
        const d = delegate(c.delegate);
        if (!d.active) return;
        await ownerDoes(run, "revokeDelegate", [d.key.address]);
        d.active = false;
        return;
      }
      case "setCap": {
        const d = delegate(c.delegate);
        const charged = chargedBy(run, d.key.address);
        const cap = c.below ? (charged * BigInt(c.percent)) / 100n : charged + 10_000n + BigInt(c.percent) * 5_000n;
        // Keeps the expiry while it is ahead (an expiry must be in the future), else none.
        const expiresAt = d.expiresAt > (await chainNow()) + 600n ? d.expiresAt : 0n;
        await ownerDoes(run, "authorizeDelegate", [d.key.address, cap, Number(expiresAt)]);
        Object.assign(d, { cap, expiresAt, active: true });
        return;
      }
      case "expire": {
        const d = delegate(c.delegate);
        const expiresAt = (await chainNow()) + BigInt(c.inSeconds);
        await ownerDoes(run, "authorizeDelegate", [d.key.address, d.cap, Number(expiresAt)]);
        Object.assign(d, { expiresAt, active: true });
        return;
      }
      case "withdraw": {
        const { balance } = await read("accountOf", [run.owner.address]);
        if (balance === 0n) return;
        await ownerDoes(run, "requestWithdrawal", [balance]);
        const indexed = await getAgentAccount(stack.chain.reader, { account: run.owner.address });
        run.withdrawal = { unlockAt: indexed!.withdrawalUnlockAt! };
        return;
      }
      case "finalize":
        if (run.withdrawal !== undefined && (await chainNow()) >= run.withdrawal.unlockAt) await finalize(run);
        return;
      case "jump":
        return jump(run, c.seconds);
      case "watch":
        return towerPass(run);
      case "settle":
        return settlementRun();
    }
  };

  const startRun = async (setup: Setup): Promise<Run> => {
    const id = ++runs;
    // Whatever an earlier (failed, while shrinking) run left claimable is settled first, so that
    // this run's credits and fees are its own.
    await settlementRun();
    const owner = testAccount(`claimability run ${id} owner`);
    await depositAs(stack.chain, owner, DEPOSIT);
    const now = await chainNow();
    const delegates: Delegate[] = [];
    for (const [i, spec] of setup.delegates.entries()) {
      const d = { key: testAccount(`claimability run ${id} delegate ${i}`), cap: BigInt(spec.cap), expiresAt: spec.expiresIn === null ? 0n : now + BigInt(spec.expiresIn), active: true };
      await escrowAs(stack.chain, owner, "authorizeDelegate", [d.key.address, d.cap, Number(d.expiresAt)]);
      delegates.push(d);
    }
    await synced();
    return {
      owner,
      delegates,
      charged: new Map(),
      accepted: 0n,
      withdrawal: undefined,
      lastPassAt: await chainNow(),
      earningsBefore: await Promise.all(services.map((s) => read("earningsOf", [s.provider]))),
      feesBefore: await read("accruedFees"),
    };
  };

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    stack = await startApiStack();
    chain = { publicClient: stack.chain.publicClient, walletClient: stack.chain.deployer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow };
    for (const s of services) await listService(stack, { id: s.id, provider: s.provider, upstreamUrl: upstream.url, price: s.price });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("over random calls to several providers, revocations, cap changes, expiries, withdrawals, time jumps and settlements: Σ credits + fees == Σ accepted charges, none left unsettled", async () => {
    const delay = stack.chain.deployment.withdrawalDelay;
    expect(delay).toBe(8 * DAY);
    const setupArb: fc.Arbitrary<Setup> = fc.record({
      delegates: fc.array(
        fc.record({ cap: fc.integer({ min: 100_000, max: 600_000 }), expiresIn: fc.option(fc.integer({ min: 3_600, max: 5 * DAY }), { nil: null }) }),
        { minLength: 1, maxLength: 2 },
      ),
    });
    const commandArb: fc.Arbitrary<Command> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant("call" as const), signer: fc.nat(2), service: fc.nat(2), times: fc.integer({ min: 1, max: 4 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("revoke" as const), delegate: fc.nat(1) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("setCap" as const), delegate: fc.nat(1), below: fc.boolean(), percent: fc.integer({ min: 0, max: 100 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("expire" as const), delegate: fc.nat(1), inSeconds: fc.integer({ min: 600, max: 3 * DAY }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: "withdraw" as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: "finalize" as const }) },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant("jump" as const), seconds: fc.oneof(fc.integer({ min: 60, max: DAY - 1 }), fc.integer({ min: DAY, max: delay })) }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: "watch" as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: "settle" as const }) },
    );

    const spend = (signer: number): Command[] => [
      { kind: "call", signer, service: 0, times: 3 },
      { kind: "call", signer, service: 1, times: 2 },
    ];
    const drain: Command[] = [
      { kind: "withdraw" },
      // Nearly the whole delay with the watchtower down, then past the unlock.
      { kind: "jump", seconds: delay - 2 * 3_600 },
      { kind: "jump", seconds: 3 * 3_600 },
      { kind: "settle" },
      { kind: "watch" },
      { kind: "finalize" },
    ];
    const oneDelegate = (expiresIn: number | null = null): Setup => ({ delegates: [{ cap: 400_000, expiresIn }] });
    const examples: [Setup, Command[]][] = [
      // The attacks: the delegate spends, the owner takes its authority back, asks for
      // everything, and time passes past the delay before the settlement and the finalization.
      [oneDelegate(), [...spend(1), { kind: "call", signer: 0, service: 2, times: 1 }, { kind: "revoke", delegate: 0 }, { kind: "call", signer: 1, service: 0, times: 1 }, ...drain]],
      [oneDelegate(), [...spend(1), { kind: "setCap", delegate: 0, below: true, percent: 25 }, { kind: "call", signer: 1, service: 0, times: 1 }, ...drain]],
      // The delegate's own expiry passes (more than a day after the last pass), then the owner drains.
      [oneDelegate(2 * DAY), [...spend(1), { kind: "jump", seconds: 3 * DAY }, ...drain]],
      // The owner moves the expiry close, and it passes.
      [oneDelegate(), [...spend(1), { kind: "expire", delegate: 0, inSeconds: 3_600 }, { kind: "jump", seconds: 2 * 3_600 }, ...drain]],
      // Two delegates: one revoked, the other expired, then capped to nothing; the weekly
      // settlement in between, and the revoked one authorized again and spending.
      [
        { delegates: [{ cap: 300_000, expiresIn: null }, { cap: 200_000, expiresIn: 4 * DAY }] },
        [...spend(1), ...spend(2), { kind: "revoke", delegate: 0 }, { kind: "jump", seconds: 5 * DAY }, { kind: "setCap", delegate: 1, below: true, percent: 0 }, { kind: "settle" }, { kind: "setCap", delegate: 0, below: false, percent: 10 }, ...spend(1), { kind: "jump", seconds: 7 * DAY }, ...drain],
      ],
    ];

    await fc.assert(
      fc.asyncProperty(setupArb, fc.array(commandArb, { maxLength: 12 }), async (setup, drawn) => {
        const run = await startRun(setup);
        await checkInvariants(run, "start");
        // Every agent pays at least two providers.
        const commands: Command[] = [{ kind: "call", signer: 0, service: 0, times: 1 }, { kind: "call", signer: 0, service: 2, times: 1 }, ...drawn];
        for (const [i, c] of commands.entries()) {
          await execute(run, c);
          await checkInvariants(run, `after #${i} ${JSON.stringify(c)}`);
        }
        // The end: the watchtower and the weekly run, then the owner's withdrawal once it unlocks.
        await towerPass(run);
        await settlementRun();
        if (run.withdrawal !== undefined) {
          const left = run.withdrawal.unlockAt - (await chainNow());
          if (left > 0n) await jump(run, Number(left));
          await finalize(run);
        }
        let credits = 0n;
        for (const [i, s] of services.entries()) credits += (await read("earningsOf", [s.provider])) - run.earningsBefore[i]!;
        const fees: bigint = (await read("accruedFees")) - run.feesBefore;
        expect(credits + fees, "Σ provider credits + fees == Σ charges the proxy accepted").toBe(run.accepted);
        expect(await checkInvariants(run, "end"), "no charge of the run is left unsettled").toBe(0n);
      }),
      // The examples run first; on a machine too loaded to finish the random runs in time, fewer run.
      { numRuns: examples.length + 8, examples, plugins: [fc.interruptAfterTimeLimit(120_000)] },
    );
    // The examples guarantee the grace was what kept the charges claimable in each of the ways.
    expect(graceInUse.revoked, "states with a revoked delegate's charges unsettled").toBeGreaterThan(0);
    expect(graceInUse.capLowered, "states with a delegate charged above its lowered cap").toBeGreaterThan(0);
    expect(graceInUse.expired, "states with an expired delegate's charges unsettled").toBeGreaterThan(0);
  }, 180_000);
});
