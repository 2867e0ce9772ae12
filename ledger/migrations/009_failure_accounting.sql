-- Free failing calls must not damage a provider's record (issue 12, item 8). An upstream failure
-- (timeout, connection error, 5xx) is not charged, yet it counted against the service in quality
-- gates and in the on-chain callsFailed: anyone could grief a provider at no cost. Now every failure
-- is still recorded, but it *counts* only with real money behind it (record_failed_call).

-- The escrow account the call drew on (an exact payment's payer), lowercase.
ALTER TABLE call_outcomes ADD COLUMN account text;
-- Whether the outcome enters quality-gate windows and the settlement's callsFailed. Successes
-- always do; a failure only by the rule of record_failed_call. Rows from before this migration
-- keep counting.
ALTER TABLE call_outcomes ADD COLUMN counted boolean NOT NULL DEFAULT true;

-- The rule's lookups: an account's counted failures on a service (all time, and since 00:00 UTC)…
CREATE INDEX call_outcomes_counted_failures ON call_outcomes (account, service_id, created_at) WHERE NOT ok AND counted;
-- …and its paid calls to that service, in either payment scheme.
CREATE INDEX charges_account_service_paid ON charges (account, service_id) WHERE amount > 0;
CREATE INDEX exact_payments_payer_service_settled ON exact_payments (payer, service_id) WHERE status = 'settled';
-- Quality-gate windows read only counted outcomes, so uncounted failures cost them nothing to skip.
CREATE INDEX call_outcomes_service_counted_time ON call_outcomes (service_id, created_at DESC) WHERE ok OR counted;
-- It replaces the unfiltered index, which nothing reads any more: one index entry less per call.
DROP INDEX call_outcomes_service_time;
-- Only counted failures await a report on-chain; uncounted ones never do, and stay out of this index.
DROP INDEX call_outcomes_failed_unsettled;
CREATE INDEX call_outcomes_failed_unsettled ON call_outcomes (service_id) WHERE NOT ok AND counted AND settlement_batch IS NULL;

-- Records a forwarded call the upstream failed (not charged) and decides whether it counts: only
-- while the account's counted failures on the service (a) all time are fewer than the calls it has
-- paid that service for (charges above zero, settled exact payments), so each counted failure has
-- one paid call behind it, and (b) since 00:00 UTC are fewer than p_daily_cap. Both counts stop at
-- what the comparison needs; the all-time count of counted failures is itself bounded by the daily
-- cap times the days. Calls of one account to one service serialize on an advisory lock, so
-- concurrent failures can never overshoot either bound. Returns whether it counted. Idempotent.
CREATE FUNCTION record_failed_call(
  p_request_id  uuid,
  p_account     text,
  p_service_id  text,
  p_status      integer,
  p_error       text,
  p_latency_ms  integer,
  p_daily_cap   integer DEFAULT 20
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_account   text := lower(p_account);
  v_day_start timestamptz := date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_today     integer;
  v_failed    integer;
  v_paid      integer := 0;
  v_counted   boolean := false;
BEGIN
  -- Key space 0x41544631 ("ATF1"): the two-int form never meets the migrations' one-bigint lock.
  PERFORM pg_advisory_xact_lock(x'41544631'::integer, hashtext(v_account || '/' || p_service_id));
  SELECT count(*) INTO v_today FROM (
    SELECT 1 FROM call_outcomes
    WHERE account = v_account AND service_id = p_service_id AND NOT ok AND counted AND created_at >= v_day_start
    LIMIT p_daily_cap) today;
  IF v_today < p_daily_cap THEN
    SELECT count(*) INTO v_failed FROM call_outcomes
    WHERE account = v_account AND service_id = p_service_id AND NOT ok AND counted;
    SELECT count(*) INTO v_paid FROM (
      SELECT 1 FROM charges WHERE account = v_account AND service_id = p_service_id AND amount > 0
      LIMIT v_failed + 1) paid;
    IF v_paid <= v_failed THEN
      SELECT v_paid + count(*) INTO v_paid FROM (
        SELECT 1 FROM exact_payments WHERE payer = v_account AND service_id = p_service_id AND status = 'settled'
        LIMIT v_failed + 1 - v_paid) paid;
    END IF;
    v_counted := v_paid > v_failed;
  END IF;
  INSERT INTO call_outcomes (request_id, service_id, ok, upstream_status, error, latency_ms, account, counted)
  VALUES (p_request_id, p_service_id, false, p_status, p_error, p_latency_ms, v_account, v_counted)
  ON CONFLICT (request_id) DO NOTHING;
  RETURN v_counted;
END
$$;

-- As in 003; the outcome now names its account.
CREATE OR REPLACE FUNCTION charge_call(
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
  INSERT INTO call_outcomes (request_id, service_id, ok, upstream_status, latency_ms, account)
  VALUES (p_request_id, v_res.service_id, true, p_status, p_latency_ms, v_res.account);
  RETURN NEXT;
END
$$;

-- As in 003; a failure is recorded by record_failed_call, which decides whether it counts.
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
  WHERE account = v_res.account AND signer = v_res.signer;
  UPDATE ledger_accounts SET reserved = reserved - v_res.max_amount WHERE account = v_res.account;
  IF p_latency_ms IS NOT NULL THEN
    PERFORM record_failed_call(p_request_id, v_res.account, v_res.service_id, p_status, p_error, p_latency_ms);
  END IF;
  RETURN true;
END
$$;
