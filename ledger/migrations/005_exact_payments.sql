-- x402 `exact` payments: one USDC EIP-3009 TransferWithAuthorization per call, settled by the API's
-- relayer through the escrow's settleExactPayment. A row is written before the call is forwarded,
-- so an authorization pays for one call at most: (payer, nonce) is unique, whatever its outcome.
CREATE TABLE exact_payments (
  request_id          uuid PRIMARY KEY,
  payer               text NOT NULL,                -- the authorization's `from`, lowercase
  nonce               text NOT NULL,                -- bytes32 hex, lowercase
  service_id          text NOT NULL,
  provider            text NOT NULL,
  value               numeric(78,0) NOT NULL CHECK (value > 0),
  fee                 numeric(78,0) NOT NULL CHECK (fee >= 0 AND fee <= value),
  valid_before        numeric(78,0) NOT NULL,
  signature           text NOT NULL,
  -- pending: recorded, call in flight or being settled; settled: mined; released: not settled
  -- (refused before forwarding, or the upstream failed), no money moved; failed: the upstream
  -- answered but the settlement transaction failed.
  status              text NOT NULL CHECK (status IN ('pending', 'settled', 'released', 'failed')),
  method              text NOT NULL,
  path                text NOT NULL,
  upstream_status     integer,
  latency_ms          integer,
  tx_hash             text,
  block_number        bigint,
  error               text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (payer, nonce)
);
CREATE INDEX exact_payments_payer_time ON exact_payments (payer, created_at DESC) WHERE status = 'settled';
CREATE INDEX exact_payments_open ON exact_payments (created_at) WHERE status = 'pending';
