-- Settlement batches (scripts/settle). A batch is recorded before it is sent; its charges are linked
-- to it (charges.settlement_batch) only once the chain has applied it. `plan` holds everything
-- needed to re-send the same batch and to mark exactly the charges it covers.
CREATE TABLE settlement_batches (
  batch_id            text PRIMARY KEY,             -- bytes32 hex: keccak256(abi.encode(chainId, escrow, seq))
  seq                 bigint NOT NULL UNIQUE,       -- per-ledger sequence, never reused
  chain_id            integer NOT NULL,
  escrow              text NOT NULL,
  status              text NOT NULL CHECK (status IN ('planned', 'sent', 'mined', 'marked', 'discarded')),
  tx_hash             text,
  plan                jsonb NOT NULL,
  gas_used            numeric(78,0),
  block_number        bigint,
  error               text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settlement_batches_open ON settlement_batches (seq) WHERE status NOT IN ('marked', 'discarded');

-- Failed calls are reported to the chain (callsFailed) once, by the batch that counted them.
ALTER TABLE call_outcomes ADD COLUMN settlement_batch text;
CREATE INDEX call_outcomes_failed_unsettled ON call_outcomes (service_id) WHERE ok = false AND settlement_batch IS NULL;
