import type { Address } from "viem";

import { listDelegatesAtRisk, SettlementBusyError, withUnsettledCharges } from "@agenttab/ledger/settlement";
import type { DelegateAtRisk } from "@agenttab/ledger/settlement";

import { listPendingWithdrawals } from "../../indexer/read/index.ts";
import type { ChainStateReader } from "../../indexer/read/index.ts";
import { settle } from "./run.ts";
import type { SettleOptions, SettleReport } from "./run.ts";
import type { SettleLog } from "./types.ts";

export type WatchOptions = Omit<SettleOptions, "accounts" | "dryRun" | "hooks" | "log"> & {
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
  const delegatesAtRisk = await listDelegatesAtRisk(sql, { viewsSchema: reader.viewsSchema, horizon: now + BigInt(options.expiryHorizonSeconds ?? 86_400) });
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
