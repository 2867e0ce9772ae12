import type { Sql } from "postgres";

/** What an account may still spend from its escrow deposit, and what is held against it (USDC atomic units). */
export type SpendableBalance = {
  /** In the escrow, as indexed. */
  balance: bigint;
  /** Requested, not yet finalized or cancelled. */
  pendingWithdrawal: bigint;
  /** Charged off-chain, not yet claimed on-chain. */
  unsettled: bigint;
  /** Held by calls in flight. */
  reserved: bigint;
  /** unsettled + reserved. */
  held: bigint;
  /** balance − pendingWithdrawal − held, at least 0: the most a call may now reserve. */
  available: bigint;
};

/**
 * An account's spendable balance, computed by `spendable_balance` (ledger/functions), the same
 * function `reserve_call` checks a call's maximum against. An unlocked read: the figure to show,
 * not a check.
 *
 * @example
 * const { available } = await getSpendableBalance(app.sql, { account: "0xabc…", viewsSchema: "agenttab_chain" });
 */
export async function getSpendableBalance(sql: Sql, { account, viewsSchema }: { account: string; viewsSchema: string }): Promise<SpendableBalance> {
  const [row] = await sql<Record<keyof SpendableBalance | "pending_withdrawal", string>[]>`
    SELECT balance, pending_withdrawal, unsettled, reserved, held, available FROM spendable_balance(${account.toLowerCase()}, ${viewsSchema})`;
  if (!row) throw new Error("spendable_balance returned nothing");
  return {
    balance: BigInt(row.balance),
    pendingWithdrawal: BigInt(row.pending_withdrawal),
    unsettled: BigInt(row.unsettled),
    reserved: BigInt(row.reserved),
    held: BigInt(row.held),
    available: BigInt(row.available),
  };
}
