-- reserve_call decides whether the signer may spend for the account, and whether the account's
-- deposit could cover the call at all, before it writes a row or takes a lock (issue 12). Before,
-- it counted the rate limit, created ledger_accounts and spend_tracks rows and locked the
-- account's row first: anyone signing with a fresh key per call for a victim's account grew those
-- tables without bound and queued the victim's calls behind its own lock, while being told 402.
-- Now a refused signer (not the account, not an active unexpired delegate) or an account the index
-- shows unable to cover the call reads the index and nothing else. The checks that need the
-- locked rows (the delegate's cap, the exact spendable balance) still run under the lock, as before.
-- Same signature and outcomes as in 003; lock order unchanged.
CREATE OR REPLACE FUNCTION reserve_call(
  p_request_id   uuid,
  p_account      text,
  p_signer       text,
  p_service_id   text,
  p_max          numeric,
  p_voucher_max  numeric,
  p_signature    text,
  p_views_schema text,
  p_ttl_ms       integer,
  p_rate_max     integer,
  p_window_ms    bigint
) RETURNS TABLE (
  outcome        text,     -- reserved | rate_limited | delegate_not_authorized | delegate_expired
                           -- | delegate_cap_exceeded | voucher_too_low | insufficient_funds
  rate_remaining integer,
  retry_after    integer,
  charged        numeric,  -- the signer's charged + in-flight total before this call
  required       numeric,  -- what the voucher must cover
  available      numeric,
  cap            numeric,
  expires_at     numeric
) LANGUAGE plpgsql AS $$
DECLARE
  v_now      timestamptz := clock_timestamp();
  v_now_ms   bigint := floor(extract(epoch FROM v_now) * 1000);
  v_window   bigint := v_now_ms - (v_now_ms % p_window_ms);
  v_calls    integer;
  v_ledger   ledger_accounts%ROWTYPE;
  v_track    spend_tracks%ROWTYPE;
  v_balance  numeric;
  v_claimed  numeric;
  v_pending  numeric;
  v_active   boolean;
  v_left     numeric;
BEGIN
  retry_after := greatest(1, ceil((v_window + p_window_ms - v_now_ms) / 1000.0)::integer);
  -- What the window holds so far (read, not counted: a refusal before step 3 does not count).
  SELECT coalesce(max(w.calls), 0) INTO v_calls FROM rate_limit_windows w
  WHERE w.agent = p_signer AND w.service_id = p_service_id AND w.window_start = to_timestamp(v_window / 1000.0);

  -- 1. From the index alone (no write, no lock): may this signer spend for this account?
  IF p_signer <> p_account THEN
    EXECUTE format('SELECT cap, expires_at, active FROM %I.delegation WHERE account = $1 AND delegate = $2', p_views_schema)
      INTO cap, expires_at, v_active USING p_account, p_signer;
    IF v_active IS NOT TRUE THEN
      outcome := 'delegate_not_authorized';
      rate_remaining := greatest(0, p_rate_max - v_calls);
      RETURN NEXT;
      RETURN;
    END IF;
    -- A margin, so that the weekly settlement can still claim what is charged now.
    IF expires_at <> 0 AND expires_at * 1000 <= v_now_ms + p_ttl_ms THEN
      outcome := 'delegate_expired';
      rate_remaining := greatest(0, p_rate_max - v_calls);
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  -- 2. Could the deposit cover this call even before anything is charged or held on it? If not,
  -- there is nothing to reserve: answer from an unlocked read.
  EXECUTE format('SELECT balance, claimed, pending_withdrawal FROM %I.agent_account WHERE address = $1', p_views_schema)
    INTO v_balance, v_claimed, v_pending USING p_account;
  IF coalesce(v_balance, 0) - coalesce(v_pending, 0) < p_max THEN
    SELECT * INTO v_ledger FROM ledger_accounts WHERE account = p_account;
    outcome := 'insufficient_funds';
    available := greatest(0, coalesce(v_balance, 0) - coalesce(v_pending, 0)
                 - greatest(0, coalesce(v_ledger.charged, 0) - coalesce(v_claimed, 0)) - coalesce(v_ledger.reserved, 0));
    rate_remaining := greatest(0, p_rate_max - v_calls);
    RETURN NEXT;
    RETURN;
  END IF;

  -- 3. The rate limit, then the locks and the exact checks.
  INSERT INTO rate_limit_windows AS w (agent, service_id, window_start, calls)
  VALUES (p_signer, p_service_id, to_timestamp(v_window / 1000.0), 1)
  ON CONFLICT (agent, service_id, window_start) DO UPDATE SET calls = w.calls + 1
  RETURNING w.calls INTO v_calls;
  rate_remaining := greatest(0, p_rate_max - v_calls);
  IF v_calls > p_rate_max THEN
    outcome := 'rate_limited';
    RETURN NEXT;
    RETURN;
  END IF;

  INSERT INTO ledger_accounts (account) VALUES (p_account) ON CONFLICT DO NOTHING;
  SELECT * INTO v_ledger FROM ledger_accounts WHERE account = p_account FOR UPDATE;
  INSERT INTO spend_tracks (account, signer) VALUES (p_account, p_signer) ON CONFLICT DO NOTHING;
  SELECT * INTO v_track FROM spend_tracks WHERE account = p_account AND signer = p_signer FOR UPDATE;

  charged := v_track.charged + v_track.reserved;
  required := charged + p_max;

  IF p_signer <> p_account AND required > cap THEN
    outcome := 'delegate_cap_exceeded';
    RETURN NEXT;
    RETURN;
  END IF;

  IF p_voucher_max < required THEN
    outcome := 'voucher_too_low';
    RETURN NEXT;
    RETURN;
  END IF;

  v_left := coalesce(v_balance, 0) - coalesce(v_pending, 0)
            - greatest(0, v_ledger.charged - coalesce(v_claimed, 0)) - v_ledger.reserved;
  available := greatest(0, v_left);
  IF v_left < p_max THEN
    outcome := 'insufficient_funds';
    RETURN NEXT;
    RETURN;
  END IF;

  UPDATE ledger_accounts SET reserved = reserved + p_max WHERE account = p_account;
  UPDATE spend_tracks SET
    reserved = reserved + p_max,
    voucher_max = greatest(voucher_max, p_voucher_max),
    voucher_signature = CASE WHEN p_voucher_max > voucher_max THEN p_signature ELSE voucher_signature END,
    updated_at = v_now
  WHERE account = p_account AND signer = p_signer;
  INSERT INTO reservations (request_id, account, signer, service_id, max_amount, expires_at)
  VALUES (p_request_id, p_account, p_signer, p_service_id, p_max, v_now + make_interval(secs => p_ttl_ms / 1000.0));
  outcome := 'reserved';
  RETURN NEXT;
END
$$;
