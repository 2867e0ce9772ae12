import type { Sql } from "postgres";
import { getAddress } from "viem";
import type { Address } from "viem";

import { listPendingWithdrawals } from "../../indexer/read/index.ts";
import type { ChainStateReader } from "../../indexer/read/index.ts";
import { settle, SettlementBusyError } from "./run.ts";
import type { SettleOptions, SettleReport } from "./run.ts";
import type { SettleLog } from "./types.ts";

export type WatchOptions = Omit<SettleOptions, "accounts" | "dryRun" | "crashAt" | "log"> & {
  /** The indexer's views (listPendingWithdrawals reads agent_account there). */
  reader: ChainStateReader;
  /** Time between two passes (default 15 s). */
  intervalMs?: number;
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
  /** Those with unsettled charges in the ledger, settled by this pass. */
  accounts: Address[];
  report: SettleReport | undefined;
  /** True when another settlement held the lock: the next pass tries again. */
  busy: boolean;
};

/**
 * One pass of the watchtower: every account the indexer shows with a pending withdrawal and that
 * still has unsettled charges in the ledger is settled now, restricted to those accounts, so the
 * claim lands while the settler can still make it (until the withdrawal is finalized).
 */
export async function watchPass(options: WatchOptions): Promise<WatchPass> {
  const { sql, reader } = options;
  const log: SettleLog = options.log ?? (() => {});
  const pending = await listPendingWithdrawals(reader);
  if (pending.length === 0) return { pending: 0, accounts: [], report: undefined, busy: false };
  const accounts = await withUnsettledCharges(sql, pending.map((p) => p.address));
  if (accounts.length === 0) return { pending: pending.length, accounts, report: undefined, busy: false };
  const now = BigInt(Math.floor(Date.now() / 1000));
  for (const account of accounts) {
    const unlockAt = pending.find((p) => p.address.toLowerCase() === account.toLowerCase())?.withdrawalUnlockAt ?? null;
    log("withdrawal_pending", { account, unlockAt, secondsLeft: unlockAt === null ? undefined : Number(unlockAt - now) });
  }
  const exclusive = options.exclusive ?? ((task) => task());
  try {
    const { reader: _reader, intervalMs: _interval, exclusive: _exclusive, ...settleOptions } = options;
    const report = await exclusive(() => settle({ ...settleOptions, log, accounts }));
    log("watch_settled", { accounts: accounts.length, status: report.status, batches: report.batches.length, excluded: report.excluded.length });
    return { pending: pending.length, accounts, report, busy: false };
  } catch (error) {
    if (!(error instanceof SettlementBusyError)) throw error;
    log("watch_busy", { accounts: accounts.length, note: "another settlement run holds the lock; next pass tries again" });
    return { pending: pending.length, accounts, report: undefined, busy: true };
  }
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
