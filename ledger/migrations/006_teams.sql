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

-- The team rules for one call, checked in the same transaction as reserve_call and before it.
-- The member's row is locked (FOR UPDATE) until that transaction ends, so concurrent calls by one
-- member serialize here and each one sees the reservations of those before it: the daily budget
-- can never be overshot. A signer that is not a member of the account's team (the owner itself,
-- a delegate outside the team, an account with no team) passes unchecked.
-- Lock order: team_members, then everything reserve_call locks.
CREATE FUNCTION check_team_call(
  p_account      text,
  p_signer       text,
  p_service_id   text,      -- the service the call was addressed to
  p_max          numeric    -- the most the call may cost (the serving service's maximum)
) RETURNS TABLE (
  outcome        text,      -- ok | service_not_allowed | member_call_cap_exceeded | member_budget_exceeded
  daily_budget   numeric,
  call_cap       numeric,
  spent_today    numeric,   -- charged since 00:00 UTC plus in flight, before this call
  day_start      timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
  v_member team_members%ROWTYPE;
BEGIN
  day_start := date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  IF p_signer = p_account THEN
    outcome := 'ok';
    RETURN NEXT;
    RETURN;
  END IF;
  SELECT * INTO v_member FROM team_members m WHERE m.owner = p_account AND m.member = p_signer FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'ok';
    RETURN NEXT;
    RETURN;
  END IF;
  daily_budget := v_member.daily_budget;
  call_cap := v_member.call_cap;
  IF NOT (p_service_id = ANY (v_member.services) OR '*' = ANY (v_member.services)) THEN
    outcome := 'service_not_allowed';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_member.call_cap IS NOT NULL AND p_max > v_member.call_cap THEN
    outcome := 'member_call_cap_exceeded';
    RETURN NEXT;
    RETURN;
  END IF;
  -- One statement, one snapshot: a charge_call committing meanwhile moves an amount from
  -- reservations to charges atomically, so it is counted once (as one or the other).
  SELECT coalesce((SELECT sum(c.amount) FROM charges c
                   WHERE c.account = p_account AND c.signer = p_signer AND c.created_at >= day_start), 0)
       + coalesce((SELECT sum(r.max_amount) FROM reservations r
                   WHERE r.account = p_account AND r.signer = p_signer), 0)
    INTO spent_today;
  IF spent_today + p_max > v_member.daily_budget THEN
    outcome := 'member_budget_exceeded';
    RETURN NEXT;
    RETURN;
  END IF;
  outcome := 'ok';
  RETURN NEXT;
END
$$;
