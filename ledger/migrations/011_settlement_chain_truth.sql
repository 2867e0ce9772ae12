-- The chain is the truth for what was settled (issue 14). Every transaction sent for a batch is
-- kept, so the one that actually emitted BatchSettled can be found among them (a re-sent copy
-- that lands after the original is a no-op); closed batches are re-checked against the chain for
-- a while, so one recorded as discarded that was mined after all, or a settled one undone by a
-- reorg, heals on the next run.
ALTER TABLE settlement_batches ADD COLUMN sent_tx_hashes text[] NOT NULL DEFAULT '{}';
UPDATE settlement_batches SET sent_tx_hashes = ARRAY[tx_hash] WHERE tx_hash IS NOT NULL;
CREATE INDEX settlement_batches_recently_closed ON settlement_batches (updated_at) WHERE status IN ('marked', 'discarded');
