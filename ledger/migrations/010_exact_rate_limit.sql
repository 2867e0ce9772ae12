-- x402 `exact` attempts are rate-limited per payer and per client address before they cost an RPC
-- call (issue 12, item 6), in rate_limit_windows under keys no voucher signer can have
-- ('exact-payer:0x…', 'exact-ip:…'; api/src/payments/exactRateLimit.ts). The rows attempts leave
-- in exact_payments are bounded too: those that moved no money are deleted once their authorization
-- has expired and a day has passed (pruneExactPayments); this index finds them.
CREATE INDEX exact_payments_closed ON exact_payments (updated_at) WHERE status IN ('released', 'failed');
