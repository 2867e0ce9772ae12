import type { Sql } from "postgres";
import { getAddress, isAddress } from "viem";
import type { Address, Hex } from "viem";

import { agentTabEscrowAbi } from "../../sdk/src/index.ts";
import { claimedOnChain } from "./chain.ts";
import type { SettleChain } from "./chain.ts";
import type { Entry, Excluded, SettleProgress } from "@agenttab/ledger/settlement";

type TrackRow = { account: string; signer: string; provider: string; voucher_max: string; voucher_signature: string | null; charged: string };

/**
 * Gathers every spend track (account, signer, provider) the chain has not caught up with (ledger
 * charged > on-chain claimed): its best voucher, the charged total now, and the unsettled charges up
 * to that total. The on-chain claimed total is read from the chain, which is the truth after any
 * crash. A track whose unsettled charges do not add up to exactly `charged − claimed` is left out
 * and reported: the ledger and the chain disagree, and nothing is guessed. `accounts` restricts the
 * plan to those agents' tracks (the watchtower's settlement). Also returns the fee rate in force,
 * at which the batch's per-provider fees are computed.
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
    /** The fee rate in force (the escrow's `feeBps` now). Default: read from the chain. */
    feeBps?: number | undefined;
  } = {},
): Promise<{ entries: Entry[]; excluded: Excluded[]; feeBps: number }> {
  const rate = feeBps ?? (await feeRateInForce(chain));
  if (accounts !== undefined && accounts.length === 0) return { entries: [], excluded: [], feeBps: rate };
  const only = accounts === undefined ? sql`` : sql`AND t.account IN ${sql(accounts.map((a) => a.toLowerCase()))}`;
  const tracks = await sql<TrackRow[]>`
    SELECT t.account, t.signer, t.provider, t.voucher_max::text, t.voucher_signature, t.charged::text
    FROM spend_tracks t
    WHERE t.charged > 0 ${only} AND EXISTS (
      SELECT 1 FROM charges c
      WHERE c.account = t.account AND c.signer = t.signer AND c.provider = t.provider AND c.settlement_batch IS NULL)
    ORDER BY t.account, t.signer, t.provider`;
  const entries: Entry[] = [];
  const excluded: Excluded[] = [];
  for (const [i, t] of tracks.entries()) {
    progress?.("plan", i, tracks.length);
    const account = getAddress(t.account);
    const signer = getAddress(t.signer);
    if (!isAddress(t.provider, { strict: false })) {
      // A track from before vouchers named their provider (migration 012): the escrow cannot claim it.
      excluded.push({ account, signer, reason: "no_provider", detail: "a track from before vouchers named their provider" });
      continue;
    }
    const provider = getAddress(t.provider);
    const cumulative = BigInt(t.charged);
    const claimed = await claimedOnChain(chain, account, signer, provider);
    if (claimed >= cumulative) {
      if (claimed > cumulative) excluded.push({ account, signer, provider, reason: "claimed_above_charged", detail: `chain claimed ${claimed}, ledger charged ${cumulative}` });
      continue;
    }
    if (t.voucher_signature === null) {
      excluded.push({ account, signer, provider, reason: "no_voucher" });
      continue;
    }
    const [unsettled] = await sql<{ amount: string; calls: number }[]>`
      SELECT coalesce(sum(amount), 0)::text AS amount, count(*)::int AS calls
      FROM charges
      WHERE account = ${t.account} AND signer = ${t.signer} AND provider = ${t.provider}
        AND settlement_batch IS NULL AND cumulative <= ${t.charged}`;
    const total = BigInt(unsettled?.amount ?? "0");
    const delta = cumulative - claimed;
    if (total !== delta) {
      excluded.push({
        account,
        signer,
        provider,
        reason: "ledger_mismatch",
        detail: `unsettled charges add up to ${total} but charged ${cumulative} − claimed on-chain ${claimed} = ${delta}`,
      });
      continue;
    }
    entries.push({
      account,
      signer,
      provider,
      voucherMax: BigInt(t.voucher_max),
      signature: t.voucher_signature as Hex,
      cumulative,
      claimedOnChain: claimed,
      delta,
      chargeCount: unsettled?.calls ?? 0,
    });
  }
  progress?.("plan", tracks.length, tracks.length);
  return { entries, excluded, feeBps: rate };
}

/**
 * The escrow's fee rate now. `settle` takes each provider's fee at it (floor of the provider's batch
 * gross), so a batch is planned at it, whatever the rate was when the calls were charged.
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
