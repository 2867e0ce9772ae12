-- The paid call's ledger steps as functions, so that each is one round trip and one commit, and
-- the per-account lock is held for one statement instead of a dozen client round trips.
-- Lock order everywhere: rate-limit window, then ledger_accounts, then spend_tracks, then the
-- reservation row.

-- Receipts are deterministic (RFC 6979) over the charge row's fields, so the row need not hold the
-- signature: it is signed right after the charge commits and can be re-derived at any time.
ALTER TABLE charges ALTER COLUMN receipt_signature DROP NOT NULL;

-- reserve_call, charge_call, release_call: one file each in ledger/functions, applied by the migrator
-- after every migration.
