import { ponder } from "ponder:registry";
import { indexedHead } from "ponder:schema";

ponder.on("IndexedHead:block", async ({ event, context }) => {
  const row = { blockNumber: event.block.number, blockHash: event.block.hash, timestamp: event.block.timestamp };
  await context.db
    .insert(indexedHead)
    .values({ chainId: context.chain.id, ...row })
    .onConflictDoUpdate(row);
});
