import { and, eq, sql } from "ponder";
import { ponder } from "ponder:registry";
import {
  agentAccount,
  delegation,
  deposit,
  escrowSettings,
  providerAccount,
  providerCredit,
  providerWithdrawal,
  settlementBatch,
  settlementClaim,
  withdrawal,
} from "ponder:schema";

import { decodeClaimsLog } from "@agenttab/sdk";

import { lower } from "./ids.ts";

const emptyAgent = { deposited: 0n, claimed: 0n, withdrawn: 0n, balance: 0n, pendingWithdrawal: 0n, withdrawalUnlockAt: null };
const emptyProvider = { credited: 0n, withdrawn: 0n, balance: 0n, callsServed: 0n, callsFailed: 0n, volume: 0n };

ponder.on("AgentTabEscrow:Deposited", async ({ event, context }) => {
  const { account, payer, amount, balance } = event.args;
  await context.db
    .insert(agentAccount)
    .values({ ...emptyAgent, address: lower(account), deposited: amount, balance, updatedBlock: event.block.number })
    .onConflictDoUpdate((row) => ({ deposited: row.deposited + amount, balance, updatedBlock: event.block.number }));
  await context.db.insert(deposit).values({
    id: event.id,
    account: lower(account),
    payer: lower(payer),
    amount,
    balance,
    blockNumber: event.block.number,
    timestamp: event.block.timestamp,
    transactionHash: event.transaction.hash,
  });
});

ponder.on("AgentTabEscrow:DelegateAuthorized", async ({ event, context }) => {
  const { account, delegate, cap, expiresAt } = event.args;
  await context.db
    .insert(delegation)
    .values({ id: `${lower(account)}:${lower(delegate)}`, account: lower(account), delegate: lower(delegate), cap, claimed: 0n, expiresAt, active: true })
    .onConflictDoUpdate({ cap, expiresAt, active: true });
});

ponder.on("AgentTabEscrow:DelegateRevoked", async ({ event, context }) => {
  const { account, delegate } = event.args;
  await context.db.update(delegation, { id: `${lower(account)}:${lower(delegate)}` }).set({ active: false });
});

ponder.on("AgentTabEscrow:WithdrawalRequested", async ({ event, context }) => {
  const { account, amount, unlockAt } = event.args;
  await context.db
    .update(agentAccount, { address: lower(account) })
    .set({ pendingWithdrawal: amount, withdrawalUnlockAt: unlockAt, updatedBlock: event.block.number });
  await context.db.insert(withdrawal).values({ ...withdrawalRow(event), kind: "requested", amount, unlockAt });
});

ponder.on("AgentTabEscrow:WithdrawalCancelled", async ({ event, context }) => {
  const { account } = event.args;
  await context.db
    .update(agentAccount, { address: lower(account) })
    .set({ pendingWithdrawal: 0n, withdrawalUnlockAt: null, updatedBlock: event.block.number });
  await context.db.insert(withdrawal).values({ ...withdrawalRow(event), kind: "cancelled", amount: 0n, unlockAt: null });
});

ponder.on("AgentTabEscrow:WithdrawalFinalized", async ({ event, context }) => {
  const { account, amount, balance } = event.args;
  await context.db.update(agentAccount, { address: lower(account) }).set((row) => ({
    withdrawn: row.withdrawn + amount,
    balance,
    pendingWithdrawal: 0n,
    withdrawalUnlockAt: null,
    updatedBlock: event.block.number,
  }));
  await context.db.insert(withdrawal).values({ ...withdrawalRow(event), kind: "finalized", amount, unlockAt: null });
});

ponder.on("AgentTabEscrow:BatchSettled", async ({ event, context }) => {
  const { batchId, debited, fee, claimCount, claims } = event.args;
  await context.db.insert(settlementBatch).values({
    batchId,
    debited,
    fee,
    claimCount: Number(claimCount),
    blockNumber: event.block.number,
    timestamp: event.block.timestamp,
    transactionHash: event.transaction.hash,
  });
  const gross = new Map<`0x${string}`, bigint>();
  for (const [i, claim] of decodeClaimsLog(claims).entries()) {
    const account = lower(claim.account);
    const provider = lower(claim.provider);
    gross.set(provider, (gross.get(provider) ?? 0n) + claim.amount);
    // Every claim, the account's own or a delegate's, counts in the account's claimed total. An
    // upsert: a zero-amount claim can name an account that never deposited.
    await context.db
      .insert(agentAccount)
      .values({ ...emptyAgent, address: account, claimed: claim.amount, updatedBlock: event.block.number })
      .onConflictDoUpdate((row) => ({
        claimed: row.claimed + claim.amount,
        balance: row.balance - claim.amount,
        updatedBlock: event.block.number,
      }));
    if (claim.delegated) {
      // The delegate's total over its providers (the log's cumulative is one track's).
      await context.db.update(delegation, { id: `${account}:${lower(claim.signer)}` }).set((row) => ({ claimed: row.claimed + claim.amount }));
    }
    await context.db.insert(settlementClaim).values({
      id: `${event.id}:${i}`,
      batchId,
      account,
      signer: lower(claim.signer),
      provider,
      delegated: claim.delegated,
      amount: claim.amount,
      cumulative: claim.cumulative,
      blockNumber: event.block.number,
    });
  }
  // The batch's ProviderCredited events come before it and carry the credit after the fee: each
  // provider's fee is its claims' gross less that credit.
  for (const [provider, claimed] of gross) {
    await context.db.sql
      .update(providerCredit)
      .set({ fee: sql`${claimed.toString()}::numeric(78,0) - ${providerCredit.amount}` })
      .where(and(eq(providerCredit.batchId, batchId), eq(providerCredit.provider, provider)));
  }
});

ponder.on("AgentTabEscrow:ProviderCredited", async ({ event, context }) => {
  const { batchId, provider, amount, callsServed, callsFailed, balance } = event.args;
  await context.db
    .insert(providerAccount)
    .values({ ...emptyProvider, address: lower(provider), credited: amount, balance, callsServed, callsFailed, volume: amount, updatedBlock: event.block.number })
    .onConflictDoUpdate((row) => ({
      credited: row.credited + amount,
      balance,
      callsServed: row.callsServed + callsServed,
      callsFailed: row.callsFailed + callsFailed,
      volume: row.volume + amount,
      updatedBlock: event.block.number,
    }));
  await context.db.insert(providerCredit).values({
    ...creditRow(event),
    batchId,
    provider: lower(provider),
    amount,
    fee: 0n,
    callsServed,
    callsFailed,
    payer: null,
  });
});

ponder.on("AgentTabEscrow:ExactPaymentSettled", async ({ event, context }) => {
  const { from, provider, value, fee, providerBalance } = event.args;
  const amount = value - fee;
  await context.db
    .insert(providerAccount)
    .values({ ...emptyProvider, address: lower(provider), credited: amount, balance: providerBalance, callsServed: 1n, volume: amount, updatedBlock: event.block.number })
    .onConflictDoUpdate((row) => ({
      credited: row.credited + amount,
      balance: providerBalance,
      callsServed: row.callsServed + 1n,
      volume: row.volume + amount,
      updatedBlock: event.block.number,
    }));
  await context.db.insert(providerCredit).values({
    ...creditRow(event),
    batchId: null,
    provider: lower(provider),
    amount,
    fee,
    callsServed: 1n,
    callsFailed: 0n,
    payer: lower(from),
  });
});

ponder.on("AgentTabEscrow:EarningsWithdrawn", async ({ event, context }) => {
  const { provider, to, amount, balance } = event.args;
  await context.db
    .update(providerAccount, { address: lower(provider) })
    .set((row) => ({ withdrawn: row.withdrawn + amount, balance, updatedBlock: event.block.number }));
  await context.db.insert(providerWithdrawal).values({
    id: event.id,
    provider: lower(provider),
    to: lower(to),
    amount,
    blockNumber: event.block.number,
    timestamp: event.block.timestamp,
    transactionHash: event.transaction.hash,
  });
});

type EventMeta = {
  id: string;
  args: { account: `0x${string}` };
  block: { number: bigint; timestamp: bigint };
  transaction: { hash: `0x${string}` };
};

function withdrawalRow(event: EventMeta) {
  return {
    id: event.id,
    account: lower(event.args.account),
    blockNumber: event.block.number,
    timestamp: event.block.timestamp,
    transactionHash: event.transaction.hash,
  };
}

function creditRow(event: Omit<EventMeta, "args">) {
  return { id: event.id, blockNumber: event.block.number, timestamp: event.block.timestamp, transactionHash: event.transaction.hash };
}

ponder.on("AgentTabEscrow:FeeRateUpdated", async ({ event, context }) => {
  const feeBps = Number(event.args.newBps);
  await context.db
    .insert(escrowSettings)
    .values({ escrow: lower(event.log.address), feeBps, updatedBlock: event.block.number })
    .onConflictDoUpdate(() => ({ feeBps, updatedBlock: event.block.number }));
});
