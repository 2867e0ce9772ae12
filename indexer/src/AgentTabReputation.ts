import { ponder } from "ponder:registry";
import { feedback, receiptSigner, serviceFeedback } from "ponder:schema";

import { lower } from "./ids.ts";

ponder.on("AgentTabReputation:FeedbackGiven", async ({ event, context }) => {
  const { provider, serviceId, payer, requestId, score, tags, amount } = event.args;
  await context.db.insert(feedback).values({
    requestId,
    provider: lower(provider),
    serviceId,
    payer: lower(payer),
    score,
    tags: [...tags],
    amount,
    blockNumber: event.block.number,
    timestamp: event.block.timestamp,
  });
  await context.db
    .insert(serviceFeedback)
    .values({ id: `${lower(provider)}:${serviceId}`, provider: lower(provider), serviceId, feedbackCount: 1n, scoreSum: BigInt(score), ratedVolume: amount })
    .onConflictDoUpdate((row) => ({
      feedbackCount: row.feedbackCount + 1n,
      scoreSum: row.scoreSum + BigInt(score),
      ratedVolume: row.ratedVolume + amount,
    }));
});

ponder.on("AgentTabReputation:ReceiptSignerUpdated", async ({ event, context }) => {
  const { signer, allowed } = event.args;
  await context.db
    .insert(receiptSigner)
    .values({ address: lower(signer), allowed, updatedBlock: event.block.number })
    .onConflictDoUpdate({ allowed, updatedBlock: event.block.number });
});
