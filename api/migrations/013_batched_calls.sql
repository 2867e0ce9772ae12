-- Group commit for the paid call (issue 15): the calls that arrive together are reserved, charged
-- or released by ONE statement in ONE transaction, so that they share a round trip, a plan and a
-- WAL flush. Each element runs the same per-call function as before (reserve_call, charge_call,
-- release_call), in account order, so every check and lock is exactly the single call's: two
-- batches lock ledger rows in the same (ascending) order. A deadlock that remains possible across
-- instances (a delegate's rate-limit row, taken before its account's lock) aborts one batch,
-- which the caller retries whole.

-- A charge whose reservation is gone (swept after its time ran out) returns no row instead of
-- raising, so that one such call cannot abort the others in its batch; the caller reports it.
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

-- p_calls: [{ i, request_id, account, signer, provider, service_id, max, voucher_max, signature }],
-- one per call; returns each call's reserve_call row tagged with its i.
CREATE OR REPLACE FUNCTION reserve_calls(
  p_calls        jsonb,
  p_views_schema text,
  p_ttl_ms       integer,
  p_rate_max     integer,
  p_window_ms    bigint
) RETURNS TABLE (
  i integer, outcome text, rate_remaining integer, retry_after integer, charged numeric, required numeric,
  available numeric, cap numeric, expires_at numeric, spent numeric
) LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT * FROM jsonb_to_recordset(p_calls) AS x(i integer, request_id uuid, account text, signer text, provider text,
      service_id text, max numeric, voucher_max numeric, signature text)
    ORDER BY x.account, x.i
  LOOP
    RETURN QUERY SELECT c.i, r.* FROM reserve_call(c.request_id, c.account, c.signer, c.provider, c.service_id, c.max,
      c.voucher_max, c.signature, p_views_schema, p_ttl_ms, p_rate_max, p_window_ms) r;
  END LOOP;
END
$$;

-- p_calls: [{ i, request_id, account, amount, fee, method, path, status, latency_ms, issued_at }];
-- returns a row (i, cumulative) for each call charged; a call whose reservation was gone has none.
CREATE OR REPLACE FUNCTION charge_calls(p_calls jsonb)
RETURNS TABLE (i integer, cumulative numeric) LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT * FROM jsonb_to_recordset(p_calls) AS x(i integer, request_id uuid, account text, amount numeric, fee numeric,
      method text, path text, status integer, latency_ms integer, issued_at bigint)
    ORDER BY x.account, x.i
  LOOP
    RETURN QUERY SELECT c.i, r.cumulative FROM charge_call(c.request_id, c.account, c.amount, c.fee, c.method, c.path,
      c.status, c.latency_ms, c.issued_at) r;
  END LOOP;
END
$$;

-- p_calls: [{ i, request_id, account, status, error, latency_ms }] (latency_ms null: record no
-- outcome); returns (i, released) for each call.
CREATE OR REPLACE FUNCTION release_calls(p_calls jsonb)
RETURNS TABLE (i integer, released boolean) LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT * FROM jsonb_to_recordset(p_calls) AS x(i integer, request_id uuid, account text, status integer, error text,
      latency_ms integer)
    ORDER BY x.account, x.i
  LOOP
    i := c.i;
    released := release_call(c.request_id, c.account, c.status, c.error, c.latency_ms);
    RETURN NEXT;
  END LOOP;
END
$$;
