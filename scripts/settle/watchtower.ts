import type { Sql } from "postgres";
import { getAddress } from "viem";
import type { Address } from "viem";

import { listPendingWithdrawals } from "../../indexer/read/index.ts";
import type { ChainStateReader } from "../../indexer/read/index.ts";
import { settle, SettlementBusyError } from "./run.ts";
import type { SettleOptions, SettleReport } from "./run.ts";
import type { SettleLog } from "@agenttab/ledger/settlement";

export type WatchOptions = Omit<SettleOptions, "accounts" | "dryRun" | "crashAt" | "log"> & {
  /** The indexer's views (listPendingWithdrawals reads agent_account there). */
  reader: ChainStateReader;
  /** Time between two passes (default 15 s). */
  intervalMs?: number;
  /**
   * A delegate whose delegation ends within this many seconds (chain time) has its account's
   * charges settled now, long before the escrow's grace after the expiry runs out (default 1 day).
   */
  expiryHorizonSeconds?: number;
  log?: SettleLog;
  /**
   * Runs `task` with no other settlement of this process running (the scheduled run of `--every`
   * and the watchtower share one). Default: runs it at once; `settle`'s advisory lock still keeps
   * two processes apart.
   */
  exclusive?: <T>(task: () => Promise<T>) => Promise<T>;
};

export type WatchPass = {
  /** Accounts with a pending withdrawal, as indexed. */
  pending: number;
  /** Delegates with unsettled charges (on any provider's track) that an owner's revocation, lower cap or expiry puts on a clock. */
  delegatesAtRisk: DelegateAtRisk[];
  /** Accounts with unsettled charges among both, settled by this pass. */
  accounts: Address[];
  report: SettleReport | undefined;
  /** True when another settlement held the lock: the next pass tries again. */
  busy: boolean;
};

/** A delegate with unsettled charges whose claims an owner's action has put on a clock. */
export type DelegateAtRisk = {
  account: Address;
  delegate: Address;
  /** `revoked`, `cap_lowered` (charged above the current cap) or `expiring` (within the horizon). */
  reason: "revoked" | "cap_lowered" | "expiring";
};

/**
 * One pass of the watchtower. It settles now, restricted to those accounts, every account with
 * unsettled charges that the indexer shows either with a pending withdrawal (so the claim lands
 * before the withdrawal can be finalized) or with a delegate whose claims an owner has put on a
 * clock: revoked, its cap lowered below what it was charged, or expiring within the horizon. The
 * escrow keeps such a delegate's spending claimable for `WITHDRAWAL_DELAY` after the owner's
 * action; this claims it within one pass.
 */
export async function watchPass(options: WatchOptions): Promise<WatchPass> {
  const { sql, reader } = options;
  const log: SettleLog = options.log ?? (() => {});
  const now = await chainNow(options);
  const pending = await listPendingWithdrawals(reader);
  const delegatesAtRisk = await listDelegatesAtRisk(sql, reader.viewsSchema, now + BigInt(options.expiryHorizonSeconds ?? 86_400));
  const candidates = [...pending.map((p) => p.address), ...delegatesAtRisk.map((d) => d.account)];
  if (candidates.length === 0) return { pending: 0, delegatesAtRisk, accounts: [], report: undefined, busy: false };
  const accounts = await withUnsettledCharges(sql, candidates);
  if (accounts.length === 0) return { pending: pending.length, delegatesAtRisk, accounts, report: undefined, busy: false };
  for (const account of accounts) {
    const unlockAt = pending.find((p) => p.address.toLowerCase() === account.toLowerCase())?.withdrawalUnlockAt ?? null;
    if (unlockAt !== null) log("withdrawal_pending", { account, unlockAt, secondsLeft: Number(unlockAt - now) });
  }
  for (const d of delegatesAtRisk) log("delegate_at_risk", d);
  const exclusive = options.exclusive ?? ((task) => task());
  try {
    const { reader: _reader, intervalMs: _interval, exclusive: _exclusive, expiryHorizonSeconds: _horizon, ...settleOptions } = options;
    const report = await exclusive(() => settle({ ...settleOptions, log, accounts }));
    log("watch_settled", { accounts: accounts.length, status: report.status, batches: report.batches.length, excluded: report.excluded.length });
    return { pending: pending.length, delegatesAtRisk, accounts, report, busy: false };
  } catch (error) {
    if (!(error instanceof SettlementBusyError)) throw error;
    log("watch_busy", { accounts: accounts.length, note: "another settlement run holds the lock; next pass tries again" });
    return { pending: pending.length, delegatesAtRisk, accounts, report: undefined, busy: true };
  }
}

/** The chain's clock (the escrow judges expiries and graces by it), from the latest block. */
async function chainNow(options: WatchOptions): Promise<bigint> {
  const block = await options.chain.publicClient.getBlock();
  return block.timestamp;
}

/**
 * Delegates with unsettled charges that the indexed delegation puts at risk: revoked, a cap now
 * below what the delegate was charged over all its providers (lowered), or an expiry before
 * `horizon` (chain seconds).
 */
async function listDelegatesAtRisk(sql: Sql, viewsSchema: string, horizon: bigint): Promise<DelegateAtRisk[]> {
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

/** Of `accounts`, those with charges not yet settled (ledger addresses are lower-case). */
async function withUnsettledCharges(sql: Sql, accounts: readonly Address[]): Promise<Address[]> {
  const rows = await sql<{ account: string }[]>`
    SELECT DISTINCT account FROM charges
    WHERE settlement_batch IS NULL AND account IN ${sql(accounts.map((a) => a.toLowerCase()))}
    ORDER BY account`;
  return rows.map((r) => getAddress(r.account));
}

export type Watchtower = {
  /** Stops after the current pass (if any) has finished; resolves then. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended. */
  done: Promise<void>;
};

/**
 * The watchtower: a pass at once, then one every `intervalMs` until stopped. A failed pass (RPC,
 * database, indexer not ready) is logged and retried on the next one; it never ends the loop.
 */
export function watchWithdrawals(options: WatchOptions): Watchtower {
  const log: SettleLog = options.log ?? (() => {});
  const intervalMs = options.intervalMs ?? 15_000;
  let stopping = false;
  let wake: (() => void) | undefined;
  const done = (async () => {
    log("watch_started", { intervalMs });
    while (!stopping) {
      try {
        await watchPass(options);
      } catch (error) {
        log("watch_failed", { error: (error as Error)?.message ?? String(error) });
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    log("watch_stopped");
  })();
  return {
    done,
    async stop() {
      stopping = true;
      wake?.();
      await done;
    },
  };
}
