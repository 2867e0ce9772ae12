-- Records a forwarded call the upstream failed (not charged) and decides whether it counts against
-- the service (issue 12, item 8: free failing calls must not damage a provider's record): only
-- while the account's counted failures on the service (a) all time are fewer than the calls it has
-- paid that service for (charges above zero, settled exact payments), so each counted failure has
-- one paid call behind it, and (b) since 00:00 UTC are fewer than p_daily_cap. Both counts stop at
-- what the comparison needs; the all-time count of counted failures is itself bounded by the daily
-- cap times the days. Calls of one account to one service serialize on an advisory lock, so
-- concurrent failures can never overshoot either bound. Returns whether it counted. Idempotent.
CREATE OR REPLACE FUNCTION record_failed_call(
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
