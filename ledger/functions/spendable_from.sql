-- The formula of what an account may still spend, from the index's figures and the ledger's:
--
--   available = balance − pending withdrawal − (charged − claimed on-chain) − reserved, at least 0
--
-- The one definition: spendable_balance (the balance route) and reserve_call (every paid call)
-- both compute it here. A plain SQL expression, so PostgreSQL inlines it where it is used: the
-- paid call pays for no function call and no dynamic statement.
CREATE OR REPLACE FUNCTION spendable_from(
  p_balance numeric,   -- in the escrow, as indexed (null: the index has not seen the account)
  p_pending numeric,   -- withdrawal requested, as indexed
  p_claimed numeric,   -- claimed on-chain, as indexed
  p_charged numeric,   -- charged off-chain (null: the ledger has not seen the account)
  p_reserved numeric   -- held by calls in flight
) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
  SELECT greatest(0, coalesce(p_balance, 0) - coalesce(p_pending, 0)
    - greatest(0, coalesce(p_charged, 0) - coalesce(p_claimed, 0)) - coalesce(p_reserved, 0))
$$;
