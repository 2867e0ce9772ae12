-- Step 2 of a call not charged: releases its reservation from the (account, signer, provider)
-- track and the account. With a latency (the upstream was called and failed) the failure is
-- recorded by record_failed_call, which decides whether it counts. Idempotent: returns whether
-- this call released it.
CREATE OR REPLACE FUNCTION release_call(
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
  WHERE account = v_res.account AND signer = v_res.signer AND provider = v_res.provider;
  UPDATE ledger_accounts SET reserved = reserved - v_res.max_amount WHERE account = v_res.account;
  IF p_latency_ms IS NOT NULL THEN
    PERFORM record_failed_call(p_request_id, v_res.account, v_res.service_id, p_status, p_error, p_latency_ms);
  END IF;
  RETURN true;
END
$$;
