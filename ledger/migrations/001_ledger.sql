-- The off-chain ledger. Amounts are USDC atomic units in numeric(78,0); addresses lowercase hex.

CREATE TABLE services (
  id                  text PRIMARY KEY,             -- the provider's slug, e.g. "weather-api"
  provider            text NOT NULL,
  name                text NOT NULL,
  description         text NOT NULL DEFAULT '',
  category            text NOT NULL,
  tags                text[] NOT NULL DEFAULT '{}',
  capabilities        text[] NOT NULL DEFAULT '{}',
  upstream_url        text NOT NULL,
  pricing             text NOT NULL CHECK (pricing IN ('fixed', 'metered')),
  price               numeric(78,0) NOT NULL CHECK (price >= 0),      -- per call (fixed) or per unit (metered)
  max_price           numeric(78,0) NOT NULL CHECK (max_price >= price), -- what one call may cost at most
  usage_header        text,                                              -- metered: upstream header carrying units
  example_input       jsonb,
  example_output      jsonb,
  status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'delisted')),
  -- The nonce of the last signed registration or update; a request must carry a higher one.
  nonce               numeric(78,0) NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX services_provider ON services (provider);
CREATE INDEX services_category ON services (category) WHERE status = 'active';

-- One row per escrow account: the lock that serializes its reservations, and its totals.
CREATE TABLE ledger_accounts (
  account             text PRIMARY KEY,
  charged             numeric(78,0) NOT NULL DEFAULT 0,   -- Σ charges, all signers, not voided
  reserved            numeric(78,0) NOT NULL DEFAULT 0    -- Σ maxima of calls in flight
);

-- One row per (account, signer): the signer's best voucher and what was charged on it.
CREATE TABLE spend_tracks (
  account             text NOT NULL,
  signer              text NOT NULL,
  voucher_max         numeric(78,0) NOT NULL DEFAULT 0,   -- the highest maxCumulative seen
  voucher_signature   text,                               -- that voucher's signature
  charged             numeric(78,0) NOT NULL DEFAULT 0,   -- cumulative charged on this signer's vouchers
  reserved            numeric(78,0) NOT NULL DEFAULT 0,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account, signer)
);

-- Calls in flight: each holds its maximum price until charged or released.
CREATE TABLE reservations (
  request_id          uuid PRIMARY KEY,
  account             text NOT NULL,
  signer              text NOT NULL,
  service_id          text NOT NULL,
  max_amount          numeric(78,0) NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  expires_at          timestamptz NOT NULL
);
CREATE INDEX reservations_expiry ON reservations (expires_at);

-- Every paid call. A charge row and its covering voucher commit before the response is sent.
CREATE TABLE charges (
  request_id          uuid PRIMARY KEY,
  account             text NOT NULL,
  signer              text NOT NULL,
  service_id          text NOT NULL,
  provider            text NOT NULL,
  amount              numeric(78,0) NOT NULL CHECK (amount >= 0),
  fee                 numeric(78,0) NOT NULL CHECK (fee >= 0 AND fee <= amount),
  cumulative          numeric(78,0) NOT NULL,   -- the signer's charged total after this call
  voucher_max         numeric(78,0) NOT NULL,   -- the voucher that covers it
  method              text NOT NULL,
  path                text NOT NULL,
  upstream_status     integer NOT NULL,
  latency_ms          integer NOT NULL,
  issued_at           bigint NOT NULL,          -- receipt time, unix seconds
  receipt_signature   text NOT NULL,
  settlement_batch    text,                     -- set by the settlement script
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charges_account_time ON charges (account, created_at DESC, request_id);
CREATE INDEX charges_provider_time ON charges (provider, created_at DESC);
CREATE INDEX charges_unsettled ON charges (account) WHERE settlement_batch IS NULL;

-- Outcomes of every forwarded call (paid or not), for reliability and quality gates.
CREATE TABLE call_outcomes (
  request_id          uuid PRIMARY KEY,
  service_id          text NOT NULL,
  ok                  boolean NOT NULL,
  upstream_status     integer,
  error               text,
  latency_ms          integer NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_outcomes_service_time ON call_outcomes (service_id, created_at DESC);

-- Fixed-window rate limit counters per (agent, service).
CREATE TABLE rate_limit_windows (
  agent               text NOT NULL,
  service_id          text NOT NULL,
  window_start        timestamptz NOT NULL,
  calls               integer NOT NULL,
  PRIMARY KEY (agent, service_id, window_start)
);
