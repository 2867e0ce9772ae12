-- What an account may still spend from its escrow deposit: the balance the index shows, less a
-- pending withdrawal and less what the ledger holds against it (charges not yet claimed on-chain,
-- and the maxima of calls in flight):
--
--   available = balance − pending withdrawal − (charged − claimed on-chain) − reserved, at least 0
--
-- computed by spendable_from, the formula's one definition, which reserve_call also uses (on the
-- ledger row it holds locked) to refuse a call whose maximum is above it; the balance route shows
-- this. The index is read before the ledger: both
-- totals only grow and a claim never precedes its charge, so a charge landing between the two
-- reads can only overstate `unsettled`, never hide it. An account neither has seen is all zeros.
CREATE OR REPLACE FUNCTION spendable_balance(
  p_account      text,     -- lowercase
  p_views_schema text      -- the indexer's views schema (chain state)
) RETURNS TABLE (
  balance            numeric,  -- in the escrow, as indexed
  pending_withdrawal numeric,  -- requested, not yet finalized or cancelled
  unsettled          numeric,  -- charged off-chain and not yet claimed on-chain
  reserved           numeric,  -- held by calls in flight
  held               numeric,  -- unsettled + reserved
  available          numeric
) LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_claimed numeric;
  v_charged numeric;
BEGIN
  EXECUTE format('SELECT balance, claimed, pending_withdrawal FROM %I.agent_account WHERE address = $1', p_views_schema)
    INTO balance, v_claimed, pending_withdrawal USING p_account;
  SELECT l.charged, l.reserved INTO v_charged, reserved FROM ledger_accounts l WHERE l.account = p_account;
  available := spendable_from(balance, pending_withdrawal, v_claimed, v_charged, reserved);
  balance := coalesce(balance, 0);
  pending_withdrawal := coalesce(pending_withdrawal, 0);
  unsettled := greatest(0, coalesce(v_charged, 0) - coalesce(v_claimed, 0));
  reserved := coalesce(reserved, 0);
  held := unsettled + reserved;
  RETURN NEXT;
END
$$;
