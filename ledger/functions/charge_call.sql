-- Step 2 of a served call: turns its reservation into a charge on the reservation's (account,
-- signer, provider) track, paying that provider, and records the call's outcome, in one
-- transaction. Returns the track's new cumulative charged total (what the receipt carries).
-- Returns no row when the reservation is gone (expired and swept), so that one such call cannot
-- abort the others in its ledger_batch; the caller reports it. Raises when the amount exceeds it.
CREATE OR REPLACE FUNCTION charge_call(
  p_request_id  uuid,
  p_account     text,
  p_amount      numeric,
  p_fee         numeric,
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
    RETURN;
  END IF;
  IF p_amount > v_res.max_amount THEN
    RAISE EXCEPTION 'charge % above its reservation %', p_amount, v_res.max_amount;
  END IF;
  UPDATE spend_tracks t SET charged = t.charged + p_amount, reserved = t.reserved - v_res.max_amount, updated_at = now()
  WHERE t.account = v_res.account AND t.signer = v_res.signer AND t.provider = v_res.provider
  RETURNING t.charged, t.voucher_max INTO cumulative, voucher_max;
  UPDATE ledger_accounts SET charged = charged + p_amount, reserved = reserved - v_res.max_amount WHERE account = v_res.account;
  INSERT INTO charges (request_id, account, signer, service_id, provider, amount, fee, cumulative, voucher_max,
                       method, path, upstream_status, latency_ms, issued_at)
  VALUES (p_request_id, v_res.account, v_res.signer, v_res.service_id, v_res.provider, p_amount, p_fee, cumulative,
          voucher_max, p_method, p_path, p_status, p_latency_ms, p_issued_at);
  INSERT INTO call_outcomes (request_id, service_id, ok, upstream_status, latency_ms, account)
  VALUES (p_request_id, v_res.service_id, true, p_status, p_latency_ms, v_res.account);
  RETURN NEXT;
END
$$;
