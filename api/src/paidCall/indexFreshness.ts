import type { FastifyInstance } from "fastify";

// New spending stops within this time of the index falling behind.
const RECHECK_MS = 200;

/**
 * Whether the chain index is fresh enough to spend on (`app.chain.fresh()`), re-checked at most
 * every 200 ms and one check at a time, so that a burst of calls does not become a burst of
 * checks. Balances are read from the index: no voucher is reserved on a stale one.
 *
 * @example
 * const indexIsFresh = indexFreshness(app);
 * if (!(await indexIsFresh())) throw new ApiError({ status: 503, code: "index_stale", … });
 */
export function indexFreshness(app: FastifyInstance): () => Promise<boolean> {
  let freshness = { ok: false, checkedAt: 0 };
  let checking: Promise<boolean> | undefined;
  return async () => {
    if (Date.now() - freshness.checkedAt <= RECHECK_MS) return freshness.ok;
    checking ??= app.chain
      .fresh()
      .then(({ ok }) => {
        freshness = { ok, checkedAt: Date.now() };
        return ok;
      })
      .finally(() => {
        checking = undefined;
      });
    return checking;
  };
}
