-- The paid call's ledger steps as functions, so that each is one round trip and one commit, and
-- the per-account lock is held for one statement instead of a dozen client round trips.
-- Lock order everywhere: rate-limit window, then ledger_accounts, then spend_tracks, then the
-- reservation row.

-- Receipts are deterministic (RFC 6979) over the charge row's fields, so the row need not hold the
-- signature: it is signed right after the charge commits and can be re-derived at any time.
ALTER TABLE charges ALTER COLUMN receipt_signature DROP NOT NULL;

CREATE FUNCTION reserve_call(
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
  INSERT INTO rate_limit_windows AS w (agent, service_id, window_start, calls)
  VALUES (p_signer, p_service_id, to_timestamp(v_window / 1000.0), 1)
  ON CONFLICT (agent, service_id, window_start) DO UPDATE SET calls = w.calls + 1
  RETURNING w.calls INTO v_calls;
  rate_remaining := greatest(0, p_rate_max - v_calls);
  retry_after := greatest(1, ceil((v_window + p_window_ms - v_now_ms) / 1000.0)::integer);
  IF v_calls > p_rate_max THEN
    outcome := 'rate_limited';
    RETURN NEXT;
    RETURN;
  END IF;

  INSERT INTO ledger_accounts (account) VALUES (p_account) ON CONFLICT DO NOTHING;
  SELECT * INTO v_ledger FROM ledger_accounts WHERE account = p_account FOR UPDATE;
  INSERT INTO spend_tracks (account, signer) VALUES (p_account, p_signer) ON CONFLICT DO NOTHING;
  SELECT * INTO v_track FROM spend_tracks WHERE account = p_account AND signer = p_signer FOR UPDATE;
  EXECUTE format('SELECT balance, claimed, pending_withdrawal FROM %I.agent_account WHERE address = $1', p_views_schema)
    INTO v_balance, v_claimed, v_pending USING p_account;

  charged := v_track.charged + v_track.reserved;
  required := charged + p_max;

  IF p_signer <> p_account THEN
    EXECUTE format('SELECT cap, expires_at, active FROM %I.delegation WHERE account = $1 AND delegate = $2', p_views_schema)
      INTO cap, expires_at, v_active USING p_account, p_signer;
    IF v_active IS NOT TRUE THEN
      outcome := 'delegate_not_authorized';
      RETURN NEXT;
      RETURN;
    END IF;
    -- A margin, so that the weekly settlement can still claim what is charged now.
    IF expires_at <> 0 AND expires_at * 1000 <= v_now_ms + p_ttl_ms THEN
      outcome := 'delegate_expired';
      RETURN NEXT;
      RETURN;
    END IF;
    IF required > cap THEN
      outcome := 'delegate_cap_exceeded';
      RETURN NEXT;
      RETURN;
    END IF;
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

-- Turns a reservation into a charge and records the call's outcome; returns the signer's new
-- cumulative charged total (what the receipt carries). Raises if the reservation is gone.
CREATE FUNCTION charge_call(
  p_request_id  uuid,
  p_account     text,
  p_amount      numeric,
  p_fee         numeric,
  p_provider    text,
  p_method      text,
  p_path        text,
  p_status      integer,
  p_latency_ms  integer,
  p_issued_at   bigint
) RETURNS TABLE (cumulative numeric, voucher_max numeric) LANGUAGE plpgsql AS $$
DECLARE
  v_res reservations%ROWTYPE;
BEGIN
  PERFORM 1 FROM ledger_accounts WHERE account = p_account FOR UPDATE;
  DELETE FROM reservations WHERE request_id = p_request_id RETURNING * INTO v_res;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'reservation % is gone (expired and swept?)', p_request_id;
  END IF;
  IF p_amount > v_res.max_amount THEN
    RAISE EXCEPTION 'charge % above its reservation %', p_amount, v_res.max_amount;
  END IF;
  UPDATE spend_tracks t SET charged = t.charged + p_amount, reserved = t.reserved - v_res.max_amount, updated_at = now()
  WHERE t.account = v_res.account AND t.signer = v_res.signer
  RETURNING t.charged, t.voucher_max INTO cumulative, voucher_max;
  UPDATE ledger_accounts SET charged = charged + p_amount, reserved = reserved - v_res.max_amount WHERE account = v_res.account;
  INSERT INTO charges (request_id, account, signer, service_id, provider, amount, fee, cumulative, voucher_max,
                       method, path, upstream_status, latency_ms, issued_at)
  VALUES (p_request_id, v_res.account, v_res.signer, v_res.service_id, p_provider, p_amount, p_fee, cumulative,
          voucher_max, p_method, p_path, p_status, p_latency_ms, p_issued_at);
  INSERT INTO call_outcomes (request_id, service_id, ok, upstream_status, latency_ms)
  VALUES (p_request_id, v_res.service_id, true, p_status, p_latency_ms);
  RETURN NEXT;
END
$$;

-- Releases a reservation without charging and records why. Idempotent.
CREATE FUNCTION release_call(
  p_request_id  uuid,
  p_account     text,
  p_status      integer,
  p_error       text,
  p_latency_ms  integer
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_res reservations%ROWTYPE;
BEGIN
  PERFORM 1 FROM ledger_accounts WHERE account = p_account FOR UPDATE;
  DELETE FROM reservations WHERE request_id = p_request_id RETURNING * INTO v_res;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  UPDATE spend_tracks SET reserved = reserved - v_res.max_amount, updated_at = now()
  WHERE account = v_res.account AND signer = v_res.signer;
  UPDATE ledger_accounts SET reserved = reserved - v_res.max_amount WHERE account = v_res.account;
  IF p_latency_ms IS NOT NULL THEN
    INSERT INTO call_outcomes (request_id, service_id, ok, upstream_status, error, latency_ms)
    VALUES (p_request_id, v_res.service_id, false, p_status, p_error, p_latency_ms)
    ON CONFLICT (request_id) DO NOTHING;
  END IF;
  RETURN true;
END
$$;
