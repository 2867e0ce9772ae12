-- Group commit for the paid call (issue 15): the reservations, charges and releases that arrive
-- together are applied by ONE statement in ONE transaction (ledger_batch), so that they share a
-- round trip, a plan and a WAL flush, and never wait for each other's row locks (a reserve batch
-- and a charge batch on the same accounts, as two transactions, spent most of their time doing
-- that). Each element runs the same per-call function as before (reserve_call, charge_call,
-- release_call), in account order, so every check and lock is exactly the single call's: two
-- batches (two instances) lock ledger rows in the same ascending order. A deadlock that remains
-- possible across instances (a delegate's rate-limit row, taken before its account's lock) aborts
-- one batch, which the caller retries whole.
--
-- p_calls: one object per call, { i, op, account, request_id, ... }:
--   op 'charge':  amount, fee, method, path, status, latency_ms, issued_at
--   op 'release': status, error, latency_ms (null: record no outcome)
--   op 'reserve': signer, provider, service_id, max, voucher_max, signature, views_schema, ttl_ms,
--                 rate_max, window_ms
-- Per account, charges and releases go before reservations (what they free is then available).
-- Returns one row per call, tagged with its i: a reservation's reserve_call row; a charge's new
-- cumulative (no row when its reservation was gone); a release's `released`.
--
-- A batch without a charge commits without waiting for its WAL flush (synchronous_commit off for
-- this transaction only): what it writes (holds, released holds, rate-limit counts, a better
-- voucher) pays nobody by itself. The charge that follows a reservation commits synchronously, and
-- its flush carries every earlier WAL record with it, the reservation and its voucher included, so
-- a charge and its voucher are durable before the response. A crash of PostgreSQL that loses a
-- reservation's commit loses the hold with it (the ledger row's `reserved` is in the same
-- transaction): the call in flight then finds its reservation gone and is not charged, as when the
-- sweeper takes back an expired one; nothing can be overdrawn.
CREATE OR REPLACE FUNCTION ledger_batch(p_calls jsonb)
RETURNS TABLE (
  i integer, outcome text, rate_remaining integer, retry_after integer, charged numeric, required numeric,
  available numeric, cap numeric, expires_at numeric, spent numeric, cumulative numeric, released boolean
) LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  IF NOT jsonb_path_exists(p_calls, '$[*] ? (@.op == "charge")') THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  FOR c IN
    SELECT * FROM jsonb_to_recordset(p_calls) AS x(
      i integer, op text, account text, request_id uuid,
      amount numeric, fee numeric, method text, path text, status integer, error text, latency_ms integer, issued_at bigint,
      signer text, provider text, service_id text, max numeric, voucher_max numeric, signature text,
      views_schema text, ttl_ms integer, rate_max integer, window_ms bigint)
    ORDER BY x.account, x.op = 'reserve', x.i
  LOOP
    IF c.op = 'reserve' THEN
      RETURN QUERY SELECT c.i, r.*, NULL::numeric, NULL::boolean FROM reserve_call(c.request_id, c.account, c.signer, c.provider,
        c.service_id, c.max, c.voucher_max, c.signature, c.views_schema, c.ttl_ms, c.rate_max, c.window_ms) r;
    ELSIF c.op = 'charge' THEN
      RETURN QUERY SELECT c.i, 'charged'::text, NULL::integer, NULL::integer, NULL::numeric, NULL::numeric, NULL::numeric,
        NULL::numeric, NULL::numeric, NULL::numeric, r.cumulative, NULL::boolean
      FROM charge_call(c.request_id, c.account, c.amount, c.fee, c.method, c.path, c.status, c.latency_ms, c.issued_at) r;
    ELSIF c.op = 'release' THEN
      i := c.i; outcome := 'released'; rate_remaining := NULL; retry_after := NULL; charged := NULL; required := NULL;
      available := NULL; cap := NULL; expires_at := NULL; spent := NULL; cumulative := NULL;
      released := release_call(c.request_id, c.account, c.status, c.error, c.latency_ms);
      RETURN NEXT;
    ELSE
      RAISE EXCEPTION 'ledger_batch: unknown op %', c.op;
    END IF;
  END LOOP;
END
$$;
