import type { Sql } from "postgres";

/** Another settlement run holds the ledger's settlement lock. */
export class SettlementBusyError extends Error {
  override name = "SettlementBusyError";
}

// Any constant: keeps two settlement runs on one ledger from overlapping.
const SETTLE_LOCK = 0x41_47_54_53;

/**
 * Runs `run` holding the ledger's settlement lock (a session advisory lock on a connection reserved
 * for the run), so that two settlement runs on one ledger never overlap.
 *
 * @throws {SettlementBusyError} at once when another run holds it.
 * @example
 * const report = await withSettlementLock(sql, () => settleLocked(options));
 */
export async function withSettlementLock<T>(sql: Sql, run: () => Promise<T>): Promise<T> {
  const reserved = await sql.reserve();
  try {
    const [lock] = await reserved<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${SETTLE_LOCK}) AS ok`;
    if (!lock?.ok) throw new SettlementBusyError("another settlement run holds the lock");
    try {
      return await run();
    } finally {
      await reserved`SELECT pg_advisory_unlock(${SETTLE_LOCK})`;
    }
  } finally {
    reserved.release();
  }
}
