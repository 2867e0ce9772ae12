import type { Sql } from "postgres";
import { getAddress, isAddress } from "viem";
import type { Address, Hex } from "viem";

import { listUnsettledTracks, sumUnsettledCharges } from "@agenttab/ledger/settlement";
import type { Entry } from "@agenttab/ledger/settlement";

import { agentTabEscrowAbi } from "@agenttab/sdk";
import { claimedOnChain } from "./chain.ts";
import type { SettleChain } from "./chain.ts";
import type { Excluded, SettleProgress } from "./types.ts";

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
  const tracks = await listUnsettledTracks(sql, { accounts });
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
    const cumulative = t.charged;
    const claimed = await claimedOnChain(chain, account, signer, provider);
    if (claimed >= cumulative) {
      if (claimed > cumulative) excluded.push({ account, signer, provider, reason: "claimed_above_charged", detail: `chain claimed ${claimed}, ledger charged ${cumulative}` });
      continue;
    }
    if (t.voucherSignature === null) {
      excluded.push({ account, signer, provider, reason: "no_voucher" });
      continue;
    }
    const unsettled = await sumUnsettledCharges(sql, { ...t, upTo: cumulative });
    const total = unsettled.amount;
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
      voucherMax: t.voucherMax,
      signature: t.voucherSignature as Hex,
      cumulative,
      claimedOnChain: claimed,
      delta,
      chargeCount: unsettled.calls,
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
