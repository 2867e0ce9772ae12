/**
 * Natural batching (group commit) for one kind of ledger statement: the first item runs at once,
 * alone; items that arrive while `maxInFlight` batches are running wait and then go together, as
 * one statement in one transaction. At one call at a time this adds nothing (a batch of one); under
 * load the batches grow with it, and the round trip, plan and WAL flush of each commit are shared.
 *
 * A batch that fails with a deadlock (another instance's batch took a lock it needed in another
 * order; PostgreSQL aborted this one whole) is retried, up to 3 times. Any other failure fails
 * every item of the batch with that error: nothing in it committed.
 *
 * @param run executes one batch; must answer one result per item, in the items' order.
 * @example
 * const reserveBatcher = batcher((items) => runReserveBatch(sql, items));
 * const result = await reserveBatcher.submit(item);
 */
export function batcher<In, Out>(run: (items: In[]) => Promise<Out[]>, { maxBatch = 256, maxInFlight = 1 }: { maxBatch?: number; maxInFlight?: number } = {}) {
  type Pending = { item: In; resolve: (value: Out) => void; reject: (error: unknown) => void };
  let queue: Pending[] = [];
  let inFlight = 0;
  let scheduled = false;

  const runWithRetry = async (items: In[]): Promise<Out[]> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(items);
      } catch (error) {
        if (attempt >= 4 || (error as { code?: string }).code !== "40P01") throw error;
      }
    }
  };

  const flush = () => {
    scheduled = false;
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      inFlight++;
      runWithRetry(batch.map((p) => p.item)).then(
        (results) => {
          if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${results.length} results`);
          batch.forEach((p, index) => p.resolve(results[index] as Out));
        },
        (error: unknown) => batch.forEach((p) => p.reject(error)),
      ).catch((error: unknown) => batch.forEach((p) => p.reject(error))).finally(() => {
        inFlight--;
        flush();
      });
    }
  };

  return {
    submit(item: In): Promise<Out> {
      return new Promise<Out>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // Items that arrive in the same turn of the event loop (one read of many requests) go
        // together from the start.
        if (!scheduled && inFlight < maxInFlight) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}
