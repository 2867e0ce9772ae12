import type { Address, Hex, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { agentTabEscrowAbi } from "@agenttab/sdk";

import { getAgentAccount, getDelegation, getIndexerStatus } from "../../indexer/read/index.ts";
import { settleArgs } from "../../scripts/settle/build.ts";
import type { SettleChain } from "../../scripts/settle/chain.ts";
import { settle } from "../../scripts/settle/run.ts";
import type { SettleOptions, SettleReport } from "../../scripts/settle/run.ts";
import { discardBatch, openBatches, setSent } from "@agenttab/ledger/settlement";
import { crashAt } from "./crash.ts";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService, voucherHeader } from "../api/helpers/payments.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";

const DEPOSIT = 5_000_000n;
const PRICE = 30_007n; // not a round number: a fee rounds down
const agents = [1, 2, 3].map((i) => testAccount(`recovery agent ${i}`));
const owner = testAccount("recovery owner");
const delegate = testAccount("recovery owner's delegate");
const provider = testAccount("recovery provider").address;
const otherProvider = testAccount("recovery provider 2").address;

/**
 * The weekly settlement when the chain does not do what was planned (issue 14): a batch survives
 * an entry that turns bad after planning, the chain decides what was settled (a batch mined after
 * it was recorded as discarded, one a reorg undid, a re-sent copy that landed as a no-op), and
 * fees follow the rate in force when the batch settles.
 */
describe("settle: the chain is the truth, and one bad entry never sinks a batch", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let chain: SettleChain;
  const spent = new Map<string, bigint>();
  const events: { event: string; fields?: Record<string, unknown> }[] = [];

  const rpc = (method: string, params: unknown[] = []) => stack.chain.publicClient.request({ method: method as never, params: params as never });
  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName, args } as never) as Promise<T>;
  const run = (options: Partial<SettleOptions> = {}): Promise<SettleReport> =>
    settle({ sql: stack.app.sql, chain, confirmations: 1, log: (event, fields) => events.push({ event, fields }), ...options });

  const pay = async (signer: LocalAccount, account: Address = signer.address, service = { id: "recovery", provider }) => {
    const key = `${account}:${signer.address}:${service.provider}`;
    const next = (spent.get(key) ?? 0n) + PRICE;
    const payment = async () => voucherHeader(stack.chain.deployment, { signer, account, provider: service.provider, maxCumulative: next });
    const call = async () => stack.app.inject({ method: "GET", url: `/v1/proxy/${service.id}/q`, headers: { "payment-signature": await payment() } });
    let res = await call();
    for (const deadline = Date.now() + 30_000; res.statusCode === 503 && Date.now() < deadline; res = await call()) await new Promise((r) => setTimeout(r, 50));
    expect(res.statusCode, res.body).toBe(200);
    spent.set(key, next);
  };
  const round = async () => {
    for (const a of agents) await pay(a);
  };

  /** Chain and ledger agree: every track's claimed total is what its settled charges add up to, and the providers' and fees' sums match. */
  const expectBalanced = async () => {
    const tracks = await stack.app.sql<{ account: Address; signer: Address; provider: Address }[]>`SELECT account, signer, provider FROM spend_tracks`;
    for (const t of tracks) {
      const claimed = await read<bigint>("claimedOf", [t.account, t.signer, t.provider]);
      const [row] = await stack.app.sql<{ sum: string }[]>`
        SELECT coalesce(sum(amount), 0)::text AS sum FROM charges
        WHERE account = ${t.account} AND signer = ${t.signer} AND provider = ${t.provider} AND settlement_batch IS NOT NULL`;
      expect(claimed, `claimed on ${t.account}/${t.signer}/${t.provider}`).toBe(BigInt(row!.sum));
    }
    for (const p of [provider, otherProvider]) {
      const [sums] = await stack.app.sql<{ credited: string }[]>`
        SELECT coalesce(sum(amount - fee), 0)::text AS credited FROM charges WHERE provider = ${p.toLowerCase()} AND settlement_batch IS NOT NULL`;
      expect(await read<bigint>("earningsOf", [p]), `earnings of ${p}`).toBe(BigInt(sums!.credited));
    }
    const [fees] = await stack.app.sql<{ sum: string }[]>`SELECT coalesce(sum(fee), 0)::text AS sum FROM charges WHERE settlement_batch IS NOT NULL`;
    expect(await read<bigint>("accruedFees")).toBe(BigInt(fees!.sum));
  };
  const unsettled = async () => Number((await stack.app.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM charges WHERE settlement_batch IS NULL`)[0]!.n);
  const batchRow = async (batchId: Hex) =>
    (await stack.app.sql<{ status: string; tx_hash: string | null }[]>`SELECT status, tx_hash FROM settlement_batches WHERE batch_id = ${batchId}`)[0];

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    stack = await startApiStack();
    chain = { publicClient: stack.chain.publicClient, walletClient: stack.chain.deployer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow };
    await listService(stack, { id: "recovery", provider, upstreamUrl: upstream.url, price: PRICE });
    await listService(stack, { id: "recovery-2", provider: otherProvider, upstreamUrl: upstream.url, price: PRICE });
    for (const a of [...agents, owner]) await depositAs(stack.chain, a, DEPOSIT);
    await escrowAs(stack.chain, owner, "authorizeDelegate", [delegate.address, 2_000_000n, 0]);
    for (const a of [...agents, owner]) await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: a.address }), (x) => x?.balance === DEPOSIT);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owner.address, delegate: delegate.address }), (d) => d?.active === true);
  }, 120_000);

  afterAll(async () => {
    await rpc("evm_setAutomine", [true]).catch(() => undefined);
    await stack?.stop();
    await upstream?.close();
  });

  it("heals a batch recorded as discarded that the chain mined after all", async () => {
    await round();
    // The send is still pending when the run dies; a run then records the batch as discarded.
    await rpc("evm_setAutomine", [false]);
    await expect(run({ hooks: crashAt("afterSend") })).rejects.toThrow(/afterSend/);
    const [open] = await openBatches(stack.app.sql, chain.chainId, chain.escrow);
    // The run died before it recorded the hash: the heal finds the transaction by its event.
    expect(open!.txHash).toBeNull();
    const [sentHash] = (await stack.chain.publicClient.getBlock({ blockTag: "pending" })).transactions as Hex[];
    await discardBatch(stack.app.sql, open!.plan.batchId, "estimate failed while the send was pending");
    await rpc("evm_mine");
    await rpc("evm_setAutomine", [true]);
    expect(await read<boolean>("batchSettled", [open!.plan.batchId])).toBe(true);

    const report = await run();
    expect(events.some((e) => e.event === "batch_healed" && e.fields?.batchId === open!.plan.batchId)).toBe(true);
    expect(await batchRow(open!.plan.batchId)).toEqual({ status: "marked", tx_hash: sentHash });
    expect(report.excluded).toEqual([]);
    expect(await unsettled()).toBe(0);
    await expectBalanced();
  });

  it("unmarks a settled batch a reorg undid, and settles its charges again", async () => {
    await round();
    const snapshot = await rpc("evm_snapshot");
    const first = await run();
    expect(first.status).toBe("settled");
    const undone = first.batches[0]!.batchId;
    // Ponder must have fetched the settling block before the chain forgets it: a revert between
    // its seeing the block and fetching the block's logs by hash left it retrying that fetch with
    // a growing backoff (16 s and more), the index stale for the tests after this one (seen in CI).
    const head = await stack.chain.publicClient.getBlockNumber();
    await stack.chain.waitFor(
      () => getIndexerStatus(stack.chain.reader, { chainId: stack.chain.deployment.chainId, chainHead: head }),
      (status) => status.indexedBlock !== undefined && status.indexedBlock >= head,
    );
    // The chain forgets the block that settled it.
    expect(await rpc("evm_revert", [snapshot])).toBe(true);
    await rpc("evm_mine");
    expect(await read<boolean>("batchSettled", [undone])).toBe(false);

    const second = await run();
    expect(events.some((e) => e.event === "batch_undone" && e.fields?.batchId === undone)).toBe(true);
    expect((await batchRow(undone))?.status).toBe("discarded");
    expect(second.status).toBe("settled");
    expect(second.batches[0]!.batchId).not.toBe(undone);
    expect(await unsettled()).toBe(0);
    await expectBalanced();
  });

  it("records the transaction that emitted BatchSettled, not a re-sent copy that landed as a no-op", async () => {
    await round();
    await rpc("evm_setAutomine", [false]);
    await expect(run({ hooks: crashAt("afterSend") })).rejects.toThrow(/afterSend/);
    const [open] = await openBatches(stack.app.sql, chain.chainId, chain.escrow);
    const [original] = (await stack.chain.publicClient.getBlock({ blockTag: "pending" })).transactions as Hex[];
    await setSent(stack.app.sql, open!.plan.batchId, original!);
    // A run that lost sight of the original sends the same batch again (the next nonce); both land.
    const copy = await chain.walletClient.writeContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "settle", args: settleArgs(open!.plan), gas: 2_000_000n, chain: chain.walletClient.chain });
    await setSent(stack.app.sql, open!.plan.batchId, copy);
    await rpc("evm_mine");
    await rpc("evm_setAutomine", [true]);

    await run();
    expect(await batchRow(open!.plan.batchId)).toEqual({ status: "marked", tx_hash: original });
    expect(await unsettled()).toBe(0);
    await expectBalanced();
  });

  it("computes fees at the rate in force when the batch settles, after the rate went down and then up", async () => {
    const setRate = async (bps: number) => {
      await stack.chain.mined(stack.chain.deployer.writeContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "setFeeRate", args: [bps], chain: stack.chain.deployer.chain }));
    };
    for (const bps of [37, 250]) {
      await round(); // charged while the rate was the previous one
      await setRate(bps);
      const feesBefore = await read<bigint>("accruedFees");
      const report = await run();
      expect(report.status).toBe("settled");
      // One provider: its fee is the rate's floor of the batch's gross, whatever the rate at the calls.
      expect((await read<bigint>("accruedFees")) - feesBefore).toBe((PRICE * BigInt(agents.length) * BigInt(bps)) / 10_000n);
      expect(await unsettled()).toBe(0);
      await expectBalanced();
      // The API quotes the new rate, from the index, once it has seen the change.
      await stack.chain.waitFor(async () => (await stack.app.inject({ method: "GET", url: "/v1/network" })).json().feeBps as number, (rate) => rate === bps);
    }
    // And charges the new rate's fee on the next call.
    await pay(agents[0]!);
    const [last] = await stack.app.sql<{ fee: string }[]>`SELECT fee::text FROM charges ORDER BY created_at DESC LIMIT 1`;
    expect(BigInt(last!.fee)).toBe((PRICE * 250n) / 10_000n);
    await setRate(100);
    await run();
  });

  it("records the fees the escrow took when the rate changed between planning and mining", async () => {
    await round();
    const feesBefore = await read<bigint>("accruedFees");
    let changed = false;
    const report = await run({
      // After the batch is planned (at 100 bps) and recorded, the admin changes the rate.
      hooks: {
        beforeSend: async () => {
          if (changed) return;
          changed = true;
          await stack.chain.mined(stack.chain.deployer.writeContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "setFeeRate", args: [73], chain: stack.chain.deployer.chain }));
        },
      },
    });
    expect(report.status).toBe("settled");
    const fee = (PRICE * BigInt(agents.length) * 73n) / 10_000n;
    expect((await read<bigint>("accruedFees")) - feesBefore).toBe(fee);
    expect(report.batches[0]).toMatchObject({ fee, payouts: [expect.objectContaining({ provider, fee, amount: PRICE * BigInt(agents.length) - fee })] });
    const [row] = await stack.app.sql<{ fee: string }[]>`SELECT sum(fee)::text AS fee FROM charges WHERE settlement_batch = ${report.batches[0]!.batchId}`;
    expect(BigInt(row!.fee)).toBe(fee);
    await expectBalanced();
    await stack.chain.mined(stack.chain.deployer.writeContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "setFeeRate", args: [100], chain: stack.chain.deployer.chain }));
  });

  it("drops only an entry that turned bad between planning and sending, and sends the rest at once (exit 2 with the list)", async () => {
    await round();
    await pay(delegate, owner.address);
    events.length = 0;
    let revoked = false;
    const report = await run({
      // After the batch is planned and recorded, the owner revokes the delegate and the grace runs out.
      hooks: {
        beforeSend: async () => {
          if (revoked) return;
          revoked = true;
          await escrowAs(stack.chain, owner, "revokeDelegate", [delegate.address]);
          await rpc("evm_increaseTime", [stack.chain.deployment.withdrawalDelay + 1]);
          await rpc("evm_mine");
        },
      },
    });
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["batch_discarded", "batch_replanning", "batch_mined"]));
    expect(report.status).toBe("partial");
    expect(report.excluded).toEqual([expect.objectContaining({ account: owner.address, signer: delegate.address, reason: "delegate_not_active" })]);
    expect(report.batches).toHaveLength(1);
    expect(report.batches[0]).toMatchObject({ claims: agents.length, agents: agents.length });
    const left = await stack.app.sql<{ signer: string }[]>`SELECT DISTINCT signer FROM charges WHERE settlement_batch IS NULL`;
    expect(left.map((r) => r.signer)).toEqual([delegate.address.toLowerCase()]);
    await expectBalanced();
  });

  it("holds a delegate's claims, over all its providers, to the cap its owner lowered once the grace has passed", async () => {
    const owner2 = testAccount("recovery owner 2");
    const delegate2 = testAccount("recovery owner 2's delegate");
    await depositAs(stack.chain, owner2, DEPOSIT);
    await escrowAs(stack.chain, owner2, "authorizeDelegate", [delegate2.address, 1_000_000n, 0]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owner2.address, delegate: delegate2.address }), (d) => d?.active === true);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: owner2.address }), (x) => x?.balance === DEPOSIT);
    // One call on each provider: each track alone is within the cap the owner sets next, both together are not.
    await pay(delegate2, owner2.address, { id: "recovery", provider });
    await pay(delegate2, owner2.address, { id: "recovery-2", provider: otherProvider });
    const lowered = PRICE + PRICE / 2n;
    await escrowAs(stack.chain, owner2, "authorizeDelegate", [delegate2.address, lowered, 0]);
    // The lower cap binds claims once the grace (the withdrawal delay) has passed.
    await rpc("evm_increaseTime", [stack.chain.deployment.withdrawalDelay + 1]);
    await rpc("evm_mine");

    const report = await run();
    expect(report.status).toBe("partial");
    const capped = report.excluded.filter((e) => e.signer === delegate2.address);
    expect(capped).toEqual([expect.objectContaining({ account: owner2.address, reason: "claim_above_delegate_cap" })]);
    // The other track was claimed: the delegate's total is one price, within the cap.
    const claimed = await read<{ claimed: bigint }>("delegationOf", [owner2.address, delegate2.address]);
    expect(BigInt(claimed.claimed)).toBe(PRICE);
    const onTrack = async (p: Address) => read<bigint>("claimedOf", [owner2.address, delegate2.address, p]);
    const unclaimed = capped[0]!.provider!;
    const paid = unclaimed === provider ? otherProvider : provider;
    expect(unclaimed === provider || unclaimed === otherProvider).toBe(true);
    expect(await onTrack(unclaimed)).toBe(0n);
    expect(await onTrack(paid)).toBe(PRICE);
    await expectBalanced();
  });
});
