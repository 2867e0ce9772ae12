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

-- record_failed_call, charge_call, release_call: one file each in ledger/functions, applied by the migrator
-- after every migration.
