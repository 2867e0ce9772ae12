-- Step 1 of a paid call, in one round trip: counts the call against the (signer, service) rate
-- limit and holds its maximum on the (account, signer, provider) spend track, with every check
-- that keeps the escrow whole. Lock order everywhere: rate-limit window, then ledger_accounts,
-- then spend_tracks, then the reservation row; the account row's lock serializes every write to
-- the account's tracks.
--
-- Refusals that need no lock read the index and write nothing (issue 12): a signer that is not
-- the account nor an active, unexpired delegate, or an account whose deposit could not cover the
-- call even with nothing charged, never grows a table nor queues behind the victim's lock. The
-- checks that need the locked rows (the delegate's cap, spendable_from) run under the lock.
-- A delegate's cap bounds the SUM over all its tracks on the account (charged + reserved) plus
-- this call's maximum, as the escrow bounds the delegate's total claimed over providers. The track
-- row is written only when the call is reserved; the voucher is kept when it beats the best seen.
CREATE OR REPLACE FUNCTION reserve_call(
  p_request_id   uuid,
  p_account      text,
  p_signer       text,
  p_provider     text,     -- the serving service's provider, lowercase: the voucher's payee
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
  charged        numeric,  -- the track's charged + in-flight total before this call
  required       numeric,  -- what the voucher must cover
  available      numeric,
  cap            numeric,
  expires_at     numeric,
  spent          numeric   -- a delegate's charged + in-flight total over all its tracks, before this call
) LANGUAGE plpgsql AS $$
DECLARE
  v_now      timestamptz := clock_timestamp();
  v_now_ms   bigint := floor(extract(epoch FROM v_now) * 1000);
  v_window   bigint := v_now_ms - (v_now_ms % p_window_ms);
  v_calls    integer;
  v_track    spend_tracks%ROWTYPE;
  v_ledger   ledger_accounts%ROWTYPE;
  v_balance  numeric;
  v_claimed  numeric;
  v_pending  numeric;
  v_active   boolean;
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
  -- there is nothing to reserve: answer from an unlocked read. The index is read once, here,
  -- before the ledger (as spendable_balance does): its totals only grow and a claim never
  -- precedes its charge, so a charge landing after this read can only overstate what is
  -- unsettled, never hide it.
  EXECUTE format('SELECT balance, claimed, pending_withdrawal FROM %I.agent_account WHERE address = $1', p_views_schema)
    INTO v_balance, v_claimed, v_pending USING p_account;
  IF coalesce(v_balance, 0) - coalesce(v_pending, 0) < p_max THEN
    SELECT * INTO v_ledger FROM ledger_accounts WHERE account = p_account;
    outcome := 'insufficient_funds';
    available := spendable_from(v_balance, v_pending, v_claimed, v_ledger.charged, v_ledger.reserved);
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
  SELECT * INTO v_track FROM spend_tracks t
  WHERE t.account = p_account AND t.signer = p_signer AND t.provider = p_provider FOR UPDATE;

  charged := coalesce(v_track.charged, 0) + coalesce(v_track.reserved, 0);
  required := charged + p_max;

  IF p_signer <> p_account THEN
    SELECT coalesce(sum(t.charged + t.reserved), 0) INTO spent FROM spend_tracks t
    WHERE t.account = p_account AND t.signer = p_signer;
    IF spent + p_max > cap THEN
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

  -- On the ledger row read under the account's lock: nothing charges nor reserves on the account
  -- meanwhile.
  available := spendable_from(v_balance, v_pending, v_claimed, v_ledger.charged, v_ledger.reserved);
  IF available < p_max THEN
    outcome := 'insufficient_funds';
    RETURN NEXT;
    RETURN;
  END IF;

  UPDATE ledger_accounts SET reserved = reserved + p_max WHERE account = p_account;
  INSERT INTO spend_tracks AS t (account, signer, provider, reserved, voucher_max, voucher_signature, updated_at)
  VALUES (p_account, p_signer, p_provider, p_max, p_voucher_max, p_signature, v_now)
  ON CONFLICT (account, signer, provider) DO UPDATE SET
    reserved = t.reserved + p_max,
    voucher_max = greatest(t.voucher_max, p_voucher_max),
    voucher_signature = CASE WHEN p_voucher_max > t.voucher_max THEN p_signature ELSE t.voucher_signature END,
    updated_at = v_now;
  INSERT INTO reservations (request_id, account, signer, provider, service_id, max_amount, expires_at)
  VALUES (p_request_id, p_account, p_signer, p_provider, p_service_id, p_max, v_now + make_interval(secs => p_ttl_ms / 1000.0));
  outcome := 'reserved';
  RETURN NEXT;
END
$$;
