-- Agent teams and quality gates (issue 7). A team is one funded escrow account (its owner) and the
-- agents that spend from it as its on-chain delegates, each within the limits the owner signed.
-- One team per owner: the owner's address is the team's id, so a signer is a member of at most
-- one team for a given account and the rules that apply to a call are never ambiguous.

CREATE TABLE teams (
  owner               text PRIMARY KEY,                  -- lowercase address; the escrow account members draw on
  name                text NOT NULL,
  -- The nonce of the owner's last accepted signed change; every change must carry a higher one.
  nonce               numeric(78,0) NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
  owner               text NOT NULL REFERENCES teams (owner),
  member              text NOT NULL,                     -- the agent's signing address (a delegate of owner)
  services            text[] NOT NULL,                   -- service ids it may call; '*' = any
  daily_budget        numeric(78,0) NOT NULL CHECK (daily_budget >= 0),   -- per UTC day, charged + in flight
  call_cap            numeric(78,0) CHECK (call_cap >= 0),                -- per call maximum; NULL = none
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, member)
);

-- A gate reroutes calls that draw on `owner`'s account from a primary service whose recent
-- reliability fell below the bound to a backup. The reliability itself is read from call_outcomes.
CREATE TABLE quality_gates (
  owner               text NOT NULL REFERENCES teams (owner),
  primary_service     text NOT NULL,
  backup_service      text NOT NULL CHECK (backup_service <> primary_service),
  min_reliability_bps integer NOT NULL CHECK (min_reliability_bps BETWEEN 0 AND 10000),
  max_latency_ms      integer NOT NULL CHECK (max_latency_ms > 0),
  window_calls        integer NOT NULL CHECK (window_calls BETWEEN 1 AND 1000),
  probe_interval_ms   integer NOT NULL CHECK (probe_interval_ms > 0),
  -- The last call sent to a degraded primary to probe it; claimed atomically so that all API
  -- instances together probe once per interval.
  last_probe_at       timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, primary_service)
);

-- The member's daily spend: charges of the UTC day and calls in flight.
CREATE INDEX charges_account_signer_time ON charges (account, signer, created_at);
CREATE INDEX reservations_account_signer ON reservations (account, signer);

-- check_team_call: ledger/functions/check_team_call.sql, applied by the migrator after every
-- migration.
