import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { keccak256, toHex } from "viem";

import { agentTabEscrowAbi, agentTabReputationAbi, serviceIdToBytes32, signReceipt } from "@agenttab/sdk";

import {
  getAgentAccount,
  getDelegation,
  getIndexerStatus,
  getProviderAccount,
  getServiceReputations,
  listPendingWithdrawals,
  reputationScore,
} from "../../indexer/read/index.ts";
import { depositAs, escrowAs, settleAs, testAccount } from "./helpers/actions.ts";
import { startIndexerStack } from "./helpers/stack.ts";
import type { IndexerStack } from "./helpers/stack.ts";

describe("indexer: chain → Ponder → views → read module", () => {
  let stack: IndexerStack;
  const alice = testAccount("indexer alice");
  const bob = testAccount("indexer bob");
  const hot = testAccount("indexer hot key");
  const provider = testAccount("indexer provider");

  /** What the escrow itself says, to compare the index with. */
  const onChain = (account: `0x${string}`) =>
    stack.publicClient.readContract({ address: stack.deployment.escrow, abi: agentTabEscrowAbi, functionName: "accountOf", args: [account] });

  beforeAll(async () => {
    stack = await startIndexerStack();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  // How soon (the 2 s target) is measured by `npm run bench:indexer`, not bounded here.
  it("shows a deposit in the views", async () => {
    await depositAs(stack, alice, 50_000_000n);
    const { value } = await stack.waitFor(
      () => getAgentAccount(stack.reader, { account: alice.address }),
      (account) => account?.balance === 50_000_000n,
    );
    expect(value).toMatchObject({ deposited: 50_000_000n, claimed: 0n, pendingWithdrawal: 0n, withdrawalUnlockAt: null });
  });

  it("reports the indexed block and its lag behind the chain", async () => {
    const head = await stack.publicClient.getBlockNumber();
    const { value } = await stack.waitFor(
      () => getIndexerStatus(stack.reader, { chainId: 31337, chainHead: head }),
      (status) => status.lagBlocks === 0n,
    );
    expect(value).toMatchObject({ ready: true, indexedBlock: head, chainHead: head });
    // A head the indexer has not seen yet shows as lag.
    const ahead = await getIndexerStatus(stack.reader, { chainId: 31337, chainHead: head + 7n });
    expect(ahead.lagBlocks).toBe(7n);
  });

  it("shows a pending withdrawal as soon as it is indexed, and its cancellation", async () => {
    await depositAs(stack, bob, 10_000_000n);
    const receipt = await escrowAs(stack, bob, "requestWithdrawal", [4_000_000n]);
    const block = await stack.publicClient.getBlock({ blockNumber: receipt.blockNumber });
    const { value } = await stack.waitFor(
      () => getAgentAccount(stack.reader, { account: bob.address }),
      (account) => account?.pendingWithdrawal === 4_000_000n,
    );
    expect(value?.withdrawalUnlockAt).toBe(block.timestamp + BigInt(stack.deployment.withdrawalDelay));
    const pending = await listPendingWithdrawals(stack.reader);
    expect(pending.map((p) => p.address)).toContain(bob.address.toLowerCase());

    await escrowAs(stack, bob, "cancelWithdrawal", []);
    await stack.waitFor(
      () => getAgentAccount(stack.reader, { account: bob.address }),
      (account) => account?.pendingWithdrawal === 0n && account.withdrawalUnlockAt === null,
    );
  });

  it("applies a settlement's own and delegate claims and the provider credit, matching the chain", async () => {
    await escrowAs(stack, alice, "authorizeDelegate", [hot.address, 8_000_000n, 0]);
    await stack.waitFor(
      () => getDelegation(stack.reader, { account: alice.address, delegate: hot.address }),
      (d) => d?.active === true,
    );
    await settleAs(stack, {
      batchLabel: "week 1",
      provider: provider.address,
      callsServed: 40,
      callsFailed: 2,
      entries: [
        { agent: alice.address, signer: alice, cumulative: 3_000_000n, debit: 3_000_000n },
        { agent: alice.address, signer: hot, cumulative: 2_000_000n, debit: 2_000_000n },
        { agent: bob.address, signer: bob, cumulative: 1_000_000n, debit: 1_000_000n },
      ],
    });
    const { value: aliceIndexed } = await stack.waitFor(
      () => getAgentAccount(stack.reader, { account: alice.address }),
      (account) => account?.claimed === 5_000_000n,
    );
    const aliceChain = await onChain(alice.address);
    expect(aliceIndexed?.balance).toBe(aliceChain.balance);
    expect(aliceIndexed?.balance).toBe(45_000_000n);
    expect((await getDelegation(stack.reader, { account: alice.address, delegate: hot.address }))?.claimed).toBe(2_000_000n);
    expect((await getAgentAccount(stack.reader, { account: bob.address }))?.balance).toBe((await onChain(bob.address)).balance);

    const indexedProvider = await getProviderAccount(stack.reader, { provider: provider.address });
    const earnings = await stack.publicClient.readContract({
      address: stack.deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "earningsOf",
      args: [provider.address],
    });
    expect(indexedProvider).toMatchObject({ balance: earnings, credited: 5_940_000n, callsServed: 40n, callsFailed: 2n });

    const batches = await stack.sql`SELECT claim_count, debited, fee FROM ${stack.sql(stack.reader.viewsSchema)}.settlement_batch`;
    expect(batches).toEqual([{ claim_count: 3, debited: "6000000", fee: "60000" }]);
  });

  it("credits each provider what its vouchers' claims came to less its own fee, and counts a delegate's claims over all its providers", async () => {
    const [weather, search] = [testAccount("indexer provider 2").address, testAccount("indexer provider 3").address];
    await settleAs(stack, {
      batchLabel: "week 2",
      provider: weather,
      callsServed: 5,
      entries: [
        { agent: alice.address, signer: alice, provider: search, cumulative: 1_234_567n },
        { agent: alice.address, signer: hot, provider: weather, cumulative: 765_433n },
        { agent: alice.address, signer: hot, provider: search, cumulative: 333_333n },
        { agent: bob.address, signer: bob, provider: weather, cumulative: 100_001n },
      ],
    });
    // Every claim, own or delegated, on any provider, counts in the account's claimed total.
    const { value: aliceIndexed } = await stack.waitFor(
      () => getAgentAccount(stack.reader, { account: alice.address }),
      (account) => account?.claimed === 5_000_000n + 1_234_567n + 765_433n + 333_333n,
    );
    expect(aliceIndexed?.balance).toBe((await onChain(alice.address)).balance);
    expect((await getAgentAccount(stack.reader, { account: bob.address }))?.balance).toBe((await onChain(bob.address)).balance);
    // The delegate's total over its two providers and both weeks, as the escrow holds it.
    const hotIndexed = await getDelegation(stack.reader, { account: alice.address, delegate: hot.address });
    const hotChain = await stack.publicClient.readContract({ address: stack.deployment.escrow, abi: agentTabEscrowAbi, functionName: "delegationOf", args: [alice.address, hot.address] });
    expect(hotIndexed?.claimed).toBe(2_000_000n + 765_433n + 333_333n);
    expect(hotIndexed?.claimed).toBe(BigInt(hotChain.claimed));

    // Each provider: gross of its claims, floor(gross · 1%) fee, the rest credited.
    const grossWeather = 765_433n + 100_001n;
    const grossSearch = 1_234_567n + 333_333n;
    for (const [provider, gross] of [[weather, grossWeather], [search, grossSearch]] as const) {
      const fee = (gross * 100n) / 10_000n;
      const earned = await stack.publicClient.readContract({ address: stack.deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider] });
      expect(earned, provider).toBe(gross - fee);
      expect(await getProviderAccount(stack.reader, { provider })).toMatchObject({ credited: gross - fee, balance: earned, callsServed: 5n });
      const credits = await stack.sql`
        SELECT amount, fee FROM ${stack.sql(stack.reader.viewsSchema)}.provider_credit WHERE provider = ${provider.toLowerCase()}`;
      expect(credits).toEqual([{ amount: (gross - fee).toString(), fee: fee.toString() }]);
    }
    const [batch] = await stack.sql`
      SELECT claim_count, debited, fee FROM ${stack.sql(stack.reader.viewsSchema)}.settlement_batch WHERE batch_id = ${keccak256(toHex("week 2"))}`;
    expect(batch).toEqual({ claim_count: 4, debited: (grossWeather + grossSearch).toString(), fee: ((grossWeather * 100n) / 10_000n + (grossSearch * 100n) / 10_000n).toString() });

    // One row per claim, with the provider its voucher named and its track's claimed total.
    const claims = await stack.sql`
      SELECT account, signer, provider, delegated, amount, cumulative FROM ${stack.sql(stack.reader.viewsSchema)}.settlement_claim
      WHERE batch_id = ${keccak256(toHex("week 2"))} ORDER BY amount DESC`;
    const row = (account: string, signer: string, provider: string, amount: bigint) => ({
      account: account.toLowerCase(),
      signer: signer.toLowerCase(),
      provider: provider.toLowerCase(),
      delegated: account !== signer,
      amount: amount.toString(),
      cumulative: amount.toString(),
    });
    expect(claims).toEqual([
      row(alice.address, alice.address, search, 1_234_567n),
      row(alice.address, hot.address, weather, 765_433n),
      row(alice.address, hot.address, search, 333_333n),
      row(bob.address, bob.address, weather, 100_001n),
    ]);
  });

  it("follows a provider withdrawing its earnings", async () => {
    await escrowAs(stack, provider, "withdrawEarnings", [provider.address, 1_000_000n]);
    const { value } = await stack.waitFor(
      () => getProviderAccount(stack.reader, { provider: provider.address }),
      (p) => p?.withdrawn === 1_000_000n,
    );
    expect(value?.balance).toBe(4_940_000n);
  });

  it("records paid feedback and blends it with the settled call counts into the reputation", async () => {
    const serviceId = serviceIdToBytes32("indexer-weather");
    const { chainId, reputation } = stack.deployment;
    const give = async (label: string, score: number, tags: string[]) => {
      const receipt = {
        requestId: keccak256(toHex(label)),
        serviceId,
        provider: provider.address,
        payer: alice.address,
        amount: 25_000n,
        cumulative: 3_000_000n,
        issuedAt: 1_735_689_600n,
      };
      // The deployer is the receipt signer on a default local deployment.
      const signature = await signReceipt(stack.deployer.account, { chainId, reputation, receipt });
      const wallet = await stack.walletFor(alice);
      await stack.mined(
        wallet.writeContract({ address: reputation, abi: agentTabReputationAbi, functionName: "giveFeedback", args: [receipt, signature, score, tags] }),
      );
    };
    await give("call 1", 90, ["fast"]);
    await give("call 2", 70, ["fast", "accurate"]);

    const read = () => getServiceReputations(stack.reader, [{ provider: provider.address, serviceId }]);
    const key = `${provider.address.toLowerCase()}:${serviceId}`;
    const { value } = await stack.waitFor(read, (m) => m.get(key)?.feedbackCount === 2n);
    const expected = { callsServed: 40n, callsFailed: 2n, feedbackCount: 2n, feedbackScoreSum: 160n };
    expect(value.get(key)).toEqual({ ...expected, score: reputationScore(expected) });
    const rows = await stack.sql`SELECT score, tags FROM ${stack.sql(stack.reader.viewsSchema)}.feedback ORDER BY score DESC`;
    expect(rows).toEqual([
      { score: 90, tags: ["fast"] },
      { score: 70, tags: ["fast", "accurate"] },
    ]);
    // A service nobody used or rated is unrated.
    const other = serviceIdToBytes32("never-called");
    const unrated = await getServiceReputations(stack.reader, [{ provider: bob.address, serviceId: other }]);
    expect(unrated.get(`${bob.address.toLowerCase()}:${other}`)?.score).toBeNull();
  });
});
