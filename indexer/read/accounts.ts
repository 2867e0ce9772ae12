import type { Address } from "viem";

import { addressKey, toBigInt } from "./reader.ts";
import type { ChainStateReader } from "./reader.ts";

/** An agent's escrow account as indexed from the chain. */
export type IndexedAgentAccount = {
  address: Address;
  deposited: bigint;
  /** Claimed by settlements: every claim, its own vouchers' and its delegates', on every provider. */
  claimed: bigint;
  withdrawn: bigint;
  /** USDC in the escrow now (deposits − claims − finalized withdrawals). */
  balance: bigint;
  /** A requested withdrawal not yet finalized or cancelled (0n when none). */
  pendingWithdrawal: bigint;
  /** Unix seconds from which the pending withdrawal can be finalized, or null. */
  withdrawalUnlockAt: bigint | null;
  updatedBlock: bigint;
};

type AgentRow = {
  address: Address;
  deposited: string;
  claimed: string;
  withdrawn: string;
  balance: string;
  pending_withdrawal: string;
  withdrawal_unlock_at: string | null;
  updated_block: string;
};

function agentFromRow(row: AgentRow): IndexedAgentAccount {
  return {
    address: row.address,
    deposited: toBigInt(row.deposited),
    claimed: toBigInt(row.claimed),
    withdrawn: toBigInt(row.withdrawn),
    balance: toBigInt(row.balance),
    pendingWithdrawal: toBigInt(row.pending_withdrawal),
    withdrawalUnlockAt: row.withdrawal_unlock_at === null ? null : toBigInt(row.withdrawal_unlock_at),
    updatedBlock: toBigInt(row.updated_block),
  };
}

/**
 * An agent's indexed account, or undefined when it never appeared on-chain.
 *
 * @example
 * const account = await getAgentAccount(reader, { account: "0xabc…" });
 * const balance = account?.balance ?? 0n;
 */
export async function getAgentAccount(
  { sql, viewsSchema }: ChainStateReader,
  { account }: { account: Address },
): Promise<IndexedAgentAccount | undefined> {
  const rows = await sql<AgentRow[]>`
    SELECT address, deposited, claimed, withdrawn, balance, pending_withdrawal, withdrawal_unlock_at, updated_block
    FROM ${sql(viewsSchema)}.agent_account WHERE address = ${addressKey(account)}`;
  return rows[0] === undefined ? undefined : agentFromRow(rows[0]);
}

/**
 * Every account with a pending withdrawal, soonest unlock first: what the watchtower must settle
 * before the delay runs out.
 *
 * @example
 * for (const account of await listPendingWithdrawals(reader)) console.log(account.address, account.withdrawalUnlockAt);
 */
export async function listPendingWithdrawals({ sql, viewsSchema }: ChainStateReader): Promise<IndexedAgentAccount[]> {
  const rows = await sql<AgentRow[]>`
    SELECT address, deposited, claimed, withdrawn, balance, pending_withdrawal, withdrawal_unlock_at, updated_block
    FROM ${sql(viewsSchema)}.agent_account
    WHERE withdrawal_unlock_at IS NOT NULL
    ORDER BY withdrawal_unlock_at, address`;
  return rows.map(agentFromRow);
}

/** A delegate key's authorization on an account, as indexed. */
export type IndexedDelegation = {
  account: Address;
  delegate: Address;
  cap: bigint;
  /** Claimed on the delegate's vouchers, over all providers: what `cap` bounds. */
  claimed: bigint;
  expiresAt: bigint;
  active: boolean;
};

/**
 * A delegate's authorization on an account, or undefined when it was never authorized.
 *
 * @example
 * const d = await getDelegation(reader, { account, delegate });
 * const usable = d?.active && (d.expiresAt === 0n || d.expiresAt > now);
 */
export async function getDelegation(
  { sql, viewsSchema }: ChainStateReader,
  { account, delegate }: { account: Address; delegate: Address },
): Promise<IndexedDelegation | undefined> {
  const rows = await sql<{ account: Address; delegate: Address; cap: string; claimed: string; expires_at: string; active: boolean }[]>`
    SELECT account, delegate, cap, claimed, expires_at, active
    FROM ${sql(viewsSchema)}.delegation WHERE account = ${addressKey(account)} AND delegate = ${addressKey(delegate)}`;
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    account: row.account,
    delegate: row.delegate,
    cap: toBigInt(row.cap),
    claimed: toBigInt(row.claimed),
    expiresAt: toBigInt(row.expires_at),
    active: row.active,
  };
}

/** A provider's indexed earnings and call counts. */
export type IndexedProviderAccount = {
  address: Address;
  credited: bigint;
  withdrawn: bigint;
  /** Withdrawable on-chain now. */
  balance: bigint;
  callsServed: bigint;
  callsFailed: bigint;
  volume: bigint;
};

/**
 * A provider's indexed account, or undefined before its first credit.
 *
 * @example
 * const earnings = await getProviderAccount(reader, { provider });
 */
export async function getProviderAccount(
  { sql, viewsSchema }: ChainStateReader,
  { provider }: { provider: Address },
): Promise<IndexedProviderAccount | undefined> {
  const rows = await sql<
    { address: Address; credited: string; withdrawn: string; balance: string; calls_served: string; calls_failed: string; volume: string }[]
  >`
    SELECT address, credited, withdrawn, balance, calls_served, calls_failed, volume
    FROM ${sql(viewsSchema)}.provider_account WHERE address = ${addressKey(provider)}`;
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    address: row.address,
    credited: toBigInt(row.credited),
    withdrawn: toBigInt(row.withdrawn),
    balance: toBigInt(row.balance),
    callsServed: toBigInt(row.calls_served),
    callsFailed: toBigInt(row.calls_failed),
    volume: toBigInt(row.volume),
  };
}
