import type { Sql } from "postgres";
import { getAddress } from "viem";
import type { Address, Hex } from "viem";

import { agentTabEscrowAbi } from "../../sdk/src/index.ts";
import { claimedOnChain } from "./chain.ts";
import type { SettleChain } from "./chain.ts";
import type { Entry, Excluded, ProviderShare, SettleProgress } from "./types.ts";

type TrackRow = { account: string; signer: string; voucher_max: string; voucher_signature: string | null; charged: string };
type ShareRow = { provider: string; amount: string; fee: string; calls: number };

/**
 * Gathers every spend track the chain has not caught up with (ledger charged > on-chain claimed):
 * its best voucher, the charged total now, and how the unsettled charges up to that total split
 * across providers and the fee. The on-chain claimed total is read from the chain, which is the
 * truth after any crash. Each charge's fee is recomputed at the rate in force (`feeBps`). A track
 * whose unsettled charges do not add up to exactly
 * `charged − claimed` is left out and reported: the ledger and the chain disagree, and nothing is
 * guessed. `accounts` restricts the plan to those agents' tracks (the watchtower's settlement).
 */
export async function planEntries(
  sql: Sql,
  chain: SettleChain,
  {
    accounts,
    progress,
    feeBps,
  }: {
    accounts?: readonly Address[] | undefined;
    progress?: SettleProgress | undefined;
    /** The fee rate in force (the escrow's `feeBps` now); each charge's fee is recomputed at it. Default: read from the chain. */
    feeBps?: number | undefined;
  } = {},
): Promise<{ entries: Entry[]; excluded: Excluded[]; feeBps: number }> {
  const rate = feeBps ?? (await feeRateInForce(chain));
  if (accounts !== undefined && accounts.length === 0) return { entries: [], excluded: [], feeBps: rate };
  const only = accounts === undefined ? sql`` : sql`AND t.account IN ${sql(accounts.map((a) => a.toLowerCase()))}`;
  const tracks = await sql<TrackRow[]>`
    SELECT t.account, t.signer, t.voucher_max::text, t.voucher_signature, t.charged::text
    FROM spend_tracks t
    WHERE t.charged > 0 ${only} AND EXISTS (
      SELECT 1 FROM charges c WHERE c.account = t.account AND c.signer = t.signer AND c.settlement_batch IS NULL)
    ORDER BY t.account, t.signer`;
  const entries: Entry[] = [];
  const excluded: Excluded[] = [];
  for (const [i, t] of tracks.entries()) {
    progress?.("plan", i, tracks.length);
    const account = getAddress(t.account);
    const signer = getAddress(t.signer);
    const cumulative = BigInt(t.charged);
    const claimed = await claimedOnChain(chain, account, signer);
    if (claimed >= cumulative) {
      if (claimed > cumulative) excluded.push({ account, signer, reason: "claimed_above_charged", detail: `chain claimed ${claimed}, ledger charged ${cumulative}` });
      continue;
    }
    if (t.voucher_signature === null) {
      excluded.push({ account, signer, reason: "no_voucher" });
      continue;
    }
    const shares = await sql<ShareRow[]>`
      SELECT provider, sum(amount)::text AS amount, sum(div(amount * ${rate}, 10000))::text AS fee, count(*)::int AS calls
      FROM charges
      WHERE account = ${t.account} AND signer = ${t.signer} AND settlement_batch IS NULL AND cumulative <= ${t.charged}
      GROUP BY provider ORDER BY provider`;
    const parsed: ProviderShare[] = shares.map((s) => ({ provider: getAddress(s.provider), amount: BigInt(s.amount), fee: BigInt(s.fee), calls: s.calls }));
    const total = parsed.reduce((sum, s) => sum + s.amount, 0n);
    const delta = cumulative - claimed;
    if (total !== delta) {
      excluded.push({
        account,
        signer,
        reason: "ledger_mismatch",
        detail: `unsettled charges add up to ${total} but charged ${cumulative} − claimed on-chain ${claimed} = ${delta}`,
      });
      continue;
    }
    entries.push({
      account,
      signer,
      voucherMax: BigInt(t.voucher_max),
      signature: t.voucher_signature as Hex,
      cumulative,
      claimedOnChain: claimed,
      delta,
      fee: parsed.reduce((sum, s) => sum + s.fee, 0n),
      shares: parsed,
      chargeCount: parsed.reduce((n, s) => n + s.calls, 0),
    });
  }
  progress?.("plan", tracks.length, tracks.length);
  return { entries, excluded, feeBps: rate };
}

/**
 * The escrow's fee rate now. A batch's fee is computed at it, charge by charge and rounded down,
 * so a rate the admin changed since the calls (either way) still settles within the rate.
 */
export async function feeRateInForce(chain: SettleChain): Promise<number> {
  return Number(await chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "feeBps" }));
}

/**
 * Counted failed calls (ok = false, counted: with a paid call of their account behind them, see
 * `record_failed_call` in api/migrations/009) not yet reported, per provider, up to `before`.
 */
export async function failedCalls(sql: Sql, before: string): Promise<Map<Address, number>> {
  const rows = await sql<{ provider: string; failed: number }[]>`
    SELECT s.provider, count(*)::int AS failed
    FROM call_outcomes o JOIN services s ON s.id = o.service_id
    WHERE o.ok = false AND o.counted AND o.settlement_batch IS NULL AND o.created_at <= ${before}
    GROUP BY s.provider`;
  return new Map(rows.map((r) => [getAddress(r.provider), r.failed]));
}
