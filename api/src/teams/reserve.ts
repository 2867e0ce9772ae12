import type { Sql } from "postgres";

import { reserve } from "@agenttab/ledger";
import type { Reservation } from "@agenttab/ledger";

import { ApiError } from "../errors.ts";

type ReserveParameters = Parameters<typeof reserve>[1];

type TeamCheckRow = {
  outcome: "ok" | "member_removed" | "service_not_allowed" | "member_call_cap_exceeded" | "member_budget_exceeded";
  daily_budget: string | null;
  call_cap: string | null;
  spent_today: string | null;
  day_start: Date;
};

/**
 * {@link reserve}, with the team rules of the account's owner applied to a member's call in the
 * same transaction (`check_team_call`, ledger/functions): the service must be one the member may
 * call, the call's maximum within the member's per-call cap, and the member's spend of the UTC
 * day (charged + in flight) plus this maximum within its daily budget. The member's row stays
 * locked until the reservation commits, so concurrent calls by one member never overshoot.
 * A removed member (its tombstone, migrations/007) is refused outright. The owner's own calls and
 * delegates that were never in the team skip the check and the transaction.
 *
 * @param addressedServiceId the service the caller asked for; differs from `p.serviceId` when a
 * quality gate routed the call to a backup, and is what the member's allowed services are
 * checked against (the owner's gate vouches for the backup).
 * @throws {ApiError} 403 `member_removed`, `service_not_allowed`, `member_call_cap_exceeded`,
 * `member_budget_exceeded` (details name the limit), and whatever {@link reserve} throws.
 * @example
 * const reservation = await reserveWithTeamRules(app.sql, { ...reserveParameters, addressedServiceId: "weather-api" });
 */
export async function reserveWithTeamRules(sql: Sql, p: ReserveParameters & { addressedServiceId: string }): Promise<Reservation> {
  const { addressedServiceId, ...parameters } = p;
  const account = p.account.toLowerCase();
  const signer = p.signer.toLowerCase();
  if (account === signer) return reserve(sql, parameters);
  // Delegates never in the team keep the one-statement path (a removed member's row remains, so
  // it is checked, and refused). A member added while this call is being reserved is held to the
  // rules from its next call (its spend so far still counts).
  const [membership] = await sql`SELECT 1 FROM team_members WHERE owner = ${account} AND member = ${signer}`;
  if (!membership) return reserve(sql, parameters);
  return sql.begin(async (tx) => {
    const [row] = await tx<TeamCheckRow[]>`
      SELECT * FROM check_team_call(${account}, ${signer}, ${addressedServiceId}, ${p.maxAmount.toString()})`;
    if (!row) throw new Error("check_team_call returned nothing");
    if (row.outcome !== "ok") throw teamRefusal(row, { member: p.signer, serviceId: addressedServiceId, maxAmount: p.maxAmount });
    return reserve(tx as unknown as Sql, parameters);
  }) as Promise<Reservation>;
}

function teamRefusal(row: TeamCheckRow, { member, serviceId, maxAmount }: { member: string; serviceId: string; maxAmount: bigint }): ApiError {
  switch (row.outcome) {
    case "member_removed":
      return new ApiError({
        status: 403,
        code: "member_removed",
        message: `${member} was removed from the team and may not spend from its account; the owner may re-add it or revoke its delegation`,
        details: { member },
      });
    case "service_not_allowed":
      return new ApiError({
        status: 403,
        code: "service_not_allowed",
        message: `The team does not allow ${member} to call "${serviceId}"`,
        details: { limit: "services", member, serviceId },
      });
    case "member_call_cap_exceeded":
      return new ApiError({
        status: 403,
        code: "member_call_cap_exceeded",
        message: `This call may cost up to ${maxAmount}, above ${member}'s per-call cap of ${row.call_cap}`,
        details: { limit: "callCap", member, callCap: row.call_cap, required: maxAmount.toString() },
      });
    case "member_budget_exceeded":
      return new ApiError({
        status: 403,
        code: "member_budget_exceeded",
        message: `${member} has spent or holds ${row.spent_today} of its daily budget ${row.daily_budget}; this call may cost up to ${maxAmount}`,
        details: {
          limit: "dailyBudget",
          member,
          dailyBudget: row.daily_budget,
          spentToday: row.spent_today,
          required: maxAmount.toString(),
          resetsAt: new Date(row.day_start.getTime() + 86_400_000).toISOString(),
        },
      });
    default:
      throw new Error(`check_team_call: unknown outcome ${row.outcome}`);
  }
}
