import type { Sql, TransactionSql } from "postgres";

import type { QualityGate } from "../gates/router.ts";

/** A team member's rules; amounts in USDC atomic units. */
export type TeamMemberRow = {
  member: string;
  services: string[];
  dailyBudget: bigint;
  callCap: bigint | null;
};

/** Why a signed change was not applied. */
export type TeamChangeRefusal =
  | { refused: "team_not_found" }
  | { refused: "team_exists" }
  | { refused: "stale_nonce"; storedNonce: string }
  | { refused: "member_not_found" }
  | { refused: "gate_not_found" };

/**
 * Creates the owner's team, with the creation's nonce as its first.
 *
 * @example
 * await createTeam(app.sql, { owner: "0xabc…", name: "research", nonce: 1n });
 */
export async function createTeam(sql: Sql, { owner, name, nonce }: { owner: string; name: string; nonce: bigint }): Promise<TeamChangeRefusal | undefined> {
  const rows = await sql`INSERT INTO teams (owner, name, nonce) VALUES (${owner}, ${name}, ${nonce.toString()}) ON CONFLICT DO NOTHING RETURNING owner`;
  return rows.length === 0 ? { refused: "team_exists" } : undefined;
}

/**
 * Runs `change` in one transaction with the team's row locked, after moving the team's nonce to
 * `nonce` (which must exceed it): a replayed or reordered signed change is refused, and two
 * changes by one owner apply one at a time.
 *
 * @example
 * await withTeamNonce(app.sql, { owner, nonce }, (tx) => tx`UPDATE team_members SET … WHERE …`);
 */
export async function withTeamNonce<T>(
  sql: Sql,
  { owner, nonce }: { owner: string; nonce: bigint },
  change: (tx: TransactionSql) => Promise<T | TeamChangeRefusal>,
): Promise<T | TeamChangeRefusal> {
  const refusal = Symbol("refusal");
  try {
    return await sql.begin(async (tx) => {
      const [team] = await tx<{ nonce: string }[]>`SELECT nonce FROM teams WHERE owner = ${owner} FOR UPDATE`;
      if (!team) return { refused: "team_not_found" } as const;
      if (BigInt(team.nonce) >= nonce) return { refused: "stale_nonce", storedNonce: team.nonce } as const;
      await tx`UPDATE teams SET nonce = ${nonce.toString()}, updated_at = now() WHERE owner = ${owner}`;
      const result = await change(tx);
      // A refusal inside the change (no such member, say) must not consume the nonce.
      if (isRefusal(result)) throw Object.assign(new Error("refused"), { [refusal]: result });
      return result;
    }) as T | TeamChangeRefusal;
  } catch (error) {
    const refused = (error as Record<symbol, unknown>)[refusal];
    if (refused) return refused as TeamChangeRefusal;
    throw error;
  }
}

/**
 * Whether a value is a {@link TeamChangeRefusal}.
 *
 * @example
 * if (isRefusal(result)) throw refusalError(result);
 */
export function isRefusal(value: unknown): value is TeamChangeRefusal {
  return typeof value === "object" && value !== null && "refused" in value;
}

/**
 * Adds the member or replaces its rules; re-adding a removed member revives it (clears its
 * `removed_at`, migrations/007) under the new rules.
 *
 * @returns whether the member is new (or was removed until now).
 * @example
 * await upsertMember(tx, { owner, member: "0xdef…", services: ["weather-api"], dailyBudget: 1_000_000n, callCap: null });
 */
export async function upsertMember(tx: TransactionSql, { owner, ...m }: TeamMemberRow & { owner: string }): Promise<{ inserted: boolean }> {
  // The team's row is locked (withTeamNonce), so nothing changes the member between these two.
  const [previous] = await tx<{ removed: boolean }[]>`
    SELECT removed_at IS NOT NULL AS removed FROM team_members WHERE owner = ${owner} AND member = ${m.member}`;
  await tx`
    INSERT INTO team_members (owner, member, services, daily_budget, call_cap)
    VALUES (${owner}, ${m.member}, ${m.services}, ${m.dailyBudget.toString()}, ${m.callCap === null ? null : m.callCap.toString()})
    ON CONFLICT (owner, member) DO UPDATE SET services = EXCLUDED.services, daily_budget = EXCLUDED.daily_budget,
      call_cap = EXCLUDED.call_cap, removed_at = NULL, updated_at = now()`;
  return { inserted: previous === undefined || previous.removed };
}

/**
 * Sets a member's daily budget and per-call cap.
 *
 * @example
 * await setMemberBudget(tx, { owner, member, dailyBudget: 2_000_000n, callCap: 100_000n });
 */
export async function setMemberBudget(
  tx: TransactionSql,
  { owner, member, dailyBudget, callCap }: { owner: string; member: string; dailyBudget: bigint; callCap: bigint | null },
): Promise<TeamMemberRow | TeamChangeRefusal> {
  const [row] = await tx<MemberSqlRow[]>`
    UPDATE team_members SET daily_budget = ${dailyBudget.toString()}, call_cap = ${callCap === null ? null : callCap.toString()}, updated_at = now()
    WHERE owner = ${owner} AND member = ${member} AND removed_at IS NULL RETURNING member, services, daily_budget, call_cap`;
  return row ? memberOf(row) : { refused: "member_not_found" };
}

/**
 * Removes a member: it is no longer listed, and its calls on the owner's account are refused
 * (`member_removed`) for as long as it stays the owner's on-chain delegate, which is the owner's
 * to revoke. The row is kept as a tombstone (`removed_at`, migrations/007): deleting it would let
 * the key spend as a plain delegate, free of every team limit. Re-adding it revives it.
 *
 * @example
 * await removeMember(tx, { owner, member });
 */
export async function removeMember(tx: TransactionSql, { owner, member }: { owner: string; member: string }): Promise<{ removed: true } | TeamChangeRefusal> {
  const rows = await tx`
    UPDATE team_members SET removed_at = now(), updated_at = now()
    WHERE owner = ${owner} AND member = ${member} AND removed_at IS NULL RETURNING member`;
  return rows.length > 0 ? { removed: true } : { refused: "member_not_found" };
}

/**
 * Adds the gate on `gate.primary` or replaces it; its probe clock starts afresh.
 *
 * @example
 * await upsertGate(tx, { owner, primary: "llm-a", backup: "llm-b", minReliabilityBps: 9_000, maxLatencyMs: 2_000, windowCalls: 20, probeIntervalMs: 5_000 });
 */
export async function upsertGate(tx: TransactionSql, g: QualityGate): Promise<{ inserted: boolean }> {
  const [row] = await tx<{ inserted: boolean }[]>`
    INSERT INTO quality_gates (owner, primary_service, backup_service, min_reliability_bps, max_latency_ms, window_calls, probe_interval_ms)
    VALUES (${g.owner}, ${g.primary}, ${g.backup}, ${g.minReliabilityBps}, ${g.maxLatencyMs}, ${g.windowCalls}, ${g.probeIntervalMs})
    ON CONFLICT (owner, primary_service) DO UPDATE SET backup_service = EXCLUDED.backup_service,
      min_reliability_bps = EXCLUDED.min_reliability_bps, max_latency_ms = EXCLUDED.max_latency_ms,
      window_calls = EXCLUDED.window_calls, probe_interval_ms = EXCLUDED.probe_interval_ms, last_probe_at = NULL, updated_at = now()
    RETURNING (xmax = 0) AS inserted`;
  return { inserted: row?.inserted === true };
}

/**
 * Removes the gate on `primary`.
 *
 * @example
 * await removeGate(tx, { owner, primary: "llm-a" });
 */
export async function removeGate(tx: TransactionSql, { owner, primary }: { owner: string; primary: string }): Promise<{ removed: true } | TeamChangeRefusal> {
  const rows = await tx`DELETE FROM quality_gates WHERE owner = ${owner} AND primary_service = ${primary} RETURNING owner`;
  return rows.length > 0 ? { removed: true } : { refused: "gate_not_found" };
}

type MemberSqlRow = { member: string; services: string[]; daily_budget: string; call_cap: string | null };
const memberOf = (row: MemberSqlRow): TeamMemberRow => ({
  member: row.member,
  services: row.services,
  dailyBudget: BigInt(row.daily_budget),
  callCap: row.call_cap === null ? null : BigInt(row.call_cap),
});

/**
 * The owner's team with its members (and each one's spend of the UTC day) and gates.
 *
 * @example
 * const team = await getTeam(app.sql, { owner });
 */
export async function getTeam(sql: Sql, { owner }: { owner: string }) {
  const [team] = await sql<{ name: string; nonce: string; created_at: Date }[]>`SELECT name, nonce, created_at FROM teams WHERE owner = ${owner}`;
  if (!team) return undefined;
  const members = await sql<(MemberSqlRow & { spent_today: string })[]>`
    SELECT m.member, m.services, m.daily_budget, m.call_cap,
           coalesce((SELECT sum(c.amount) FROM charges c WHERE c.account = m.owner AND c.signer = m.member
                     AND c.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), 0)
         + coalesce((SELECT sum(r.max_amount) FROM reservations r WHERE r.account = m.owner AND r.signer = m.member), 0) AS spent_today
    FROM team_members m WHERE m.owner = ${owner} AND m.removed_at IS NULL ORDER BY m.created_at, m.member`;
  const gates = await sql<QualityGate[]>`
    SELECT owner, primary_service AS primary, backup_service AS backup, min_reliability_bps AS "minReliabilityBps",
           max_latency_ms AS "maxLatencyMs", window_calls AS "windowCalls", probe_interval_ms AS "probeIntervalMs"
    FROM quality_gates WHERE owner = ${owner} ORDER BY created_at, primary_service`;
  return {
    name: team.name,
    nonce: team.nonce,
    createdAt: team.created_at,
    members: members.map((row) => ({ ...memberOf(row), spentToday: BigInt(row.spent_today) })),
    gates: gates.map((g) => ({ ...g })),
  };
}

/** Σ amount and count of a set of charges. */
export type SpendTotals = { total: bigint; calls: number };

/**
 * What the team spent in [from, to): every charge drawn on the owner's account (the owner's own
 * calls and its members'), in total, per signer and per service.
 *
 * @example
 * const report = await teamSpending(app.sql, { owner, from: new Date(Date.now() - 86_400_000), to: new Date() });
 */
export async function teamSpending(sql: Sql, { owner, from, to }: { owner: string; from: Date; to: Date }) {
  const rows = await sql<{ signer: string | null; service_id: string | null; g_signer: number; g_service: number; total: string; calls: string }[]>`
    SELECT signer, service_id, grouping(signer) AS g_signer, grouping(service_id) AS g_service,
           coalesce(sum(amount), 0) AS total, count(*) AS calls
    FROM charges WHERE account = ${owner} AND created_at >= ${from} AND created_at < ${to}
    GROUP BY GROUPING SETS ((signer), (service_id), ())
    ORDER BY sum(amount) DESC NULLS LAST, signer, service_id`;
  const totals = (row: { total: string; calls: string } | undefined): SpendTotals => ({ total: BigInt(row?.total ?? 0), calls: Number(row?.calls ?? 0) });
  return {
    ...totals(rows.find((r) => r.g_signer === 1 && r.g_service === 1)),
    byMember: rows.filter((r) => r.g_signer === 0).map((r) => ({ member: r.signer as string, ...totals(r) })),
    byService: rows.filter((r) => r.g_service === 0).map((r) => ({ serviceId: r.service_id as string, ...totals(r) })),
  };
}
