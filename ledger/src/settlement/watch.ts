import type { Sql } from "postgres";
import { getAddress } from "viem";
import type { Address } from "viem";

/** A delegate with unsettled charges whose claims an owner's action has put on a clock. */
export type DelegateAtRisk = {
  account: Address;
  delegate: Address;
  /** `revoked`, `cap_lowered` (charged above the current cap) or `expiring` (within the horizon). */
  reason: "revoked" | "cap_lowered" | "expiring";
};

/**
 * Delegates with unsettled charges that the indexed delegation (in `viewsSchema`) puts at risk:
 * revoked, a cap now below what the delegate was charged over all its providers (lowered), or an
 * expiry before `horizon` (chain seconds).
 *
 * @example
 * const atRisk = await listDelegatesAtRisk(sql, { viewsSchema: "agenttab_chain", horizon: now + 86_400n });
 */
export async function listDelegatesAtRisk(sql: Sql, { viewsSchema, horizon }: { viewsSchema: string; horizon: bigint }): Promise<DelegateAtRisk[]> {
  const rows = await sql<{ account: string; delegate: string; reason: DelegateAtRisk["reason"] }[]>`
    SELECT t.account, t.signer AS delegate,
           CASE WHEN d.active IS NOT TRUE THEN 'revoked'
                WHEN t.charged > d.cap THEN 'cap_lowered'
                ELSE 'expiring' END AS reason
    FROM (SELECT account, signer, sum(charged) AS charged FROM spend_tracks WHERE signer <> account GROUP BY account, signer) t
    JOIN ${sql(viewsSchema)}.delegation d ON d.account = t.account AND d.delegate = t.signer
    WHERE (d.active IS NOT TRUE OR t.charged > d.cap OR (d.expires_at <> 0 AND d.expires_at <= ${horizon.toString()}))
      AND EXISTS (SELECT 1 FROM charges c WHERE c.account = t.account AND c.signer = t.signer AND c.settlement_batch IS NULL)
    ORDER BY t.account, t.signer`;
  return rows.map((r) => ({ account: getAddress(r.account), delegate: getAddress(r.delegate), reason: r.reason }));
}

/**
 * Of `accounts`, those with charges not yet settled, in address order (ledger addresses are
 * lowercase).
 *
 * @example
 * const due = await withUnsettledCharges(sql, pending.map((p) => p.address));
 */
export async function withUnsettledCharges(sql: Sql, accounts: readonly Address[]): Promise<Address[]> {
  const rows = await sql<{ account: string }[]>`
    SELECT DISTINCT account FROM charges
    WHERE settlement_batch IS NULL AND account IN ${sql(accounts.map((a) => a.toLowerCase()))}
    ORDER BY account`;
  return rows.map((r) => getAddress(r.account));
}

/**
 * Whether `viewsSchema` holds the indexer's views in this database (its agent_account view): the
 * watchtower reads them, and a schema without them is a misconfiguration, not a bad moment.
 *
 * @example
 * if (!(await hasIndexerViews(sql, "agenttab_chain"))) throw new Error("start the indexer first");
 */
export async function hasIndexerViews(sql: Sql, viewsSchema: string): Promise<boolean> {
  const [row] = await sql<{ found: string | null }[]>`SELECT to_regclass(format('%I.%I', ${viewsSchema}::text, 'agent_account'))::text AS found`;
  return row?.found != null;
}
