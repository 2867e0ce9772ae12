-- The team rules for one call, checked in the same transaction as reserve_call and before it.
-- The member's row is locked (FOR UPDATE) until that transaction ends, so concurrent calls by one
-- member serialize here and each one sees the reservations of those before it: the daily budget
-- can never be overshot. A removed member (its tombstone, removed_at) is refused: removal must not
-- lift its limits while it is still the owner's on-chain delegate. A signer that is not a member
-- of the account's team (the owner itself, a delegate outside the team, an account with no team)
-- passes unchecked.
-- Lock order: team_members, then everything reserve_call locks.
CREATE OR REPLACE FUNCTION check_team_call(
  p_account      text,
  p_signer       text,
  p_service_id   text,      -- the service the call was addressed to
  p_max          numeric    -- the most the call may cost (the serving service's maximum)
) RETURNS TABLE (
  outcome        text,      -- ok | member_removed | service_not_allowed | member_call_cap_exceeded | member_budget_exceeded
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
  IF v_member.removed_at IS NOT NULL THEN
    outcome := 'member_removed';
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
