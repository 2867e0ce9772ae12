-- A voucher names its provider (issue 13, item 2): Voucher(account, signer, provider, maxCumulative),
-- and the escrow credits each claim to the provider its voucher names. So a spend track is keyed
-- (account, signer, provider): its best voucher and its cumulative charged total are per provider,
-- and a reservation holds a call's maximum on the track of the provider that serves it.
--
-- UPGRADING: settle everything before applying this. Tracks and reservations from before get
-- provider '' — no provider — and their vouchers (signed over the old two-field type) cannot be
-- claimed by the new escrow: charges still unsettled on them would never be paid. Their charged
-- totals still count against a delegate's cap (its on-chain claimed total includes them).

ALTER TABLE spend_tracks ADD COLUMN provider text NOT NULL DEFAULT '';
ALTER TABLE spend_tracks ALTER COLUMN provider DROP DEFAULT;
ALTER TABLE spend_tracks DROP CONSTRAINT spend_tracks_pkey;
-- The prefix (account, signer) serves the sum of a delegate's tracks.
ALTER TABLE spend_tracks ADD PRIMARY KEY (account, signer, provider);

ALTER TABLE reservations ADD COLUMN provider text NOT NULL DEFAULT '';
ALTER TABLE reservations ALTER COLUMN provider DROP DEFAULT;

-- reserve_call takes the provider; charge_call reads it from the reservation instead of a parameter,
-- so that a charge always pays the provider of the track it is charged on.
DROP FUNCTION IF EXISTS reserve_call(uuid, text, text, text, numeric, numeric, text, text, integer, integer, bigint);
DROP FUNCTION IF EXISTS charge_call(uuid, text, numeric, numeric, text, text, text, integer, integer, bigint);

-- reserve_call, charge_call, release_call: one file each in ledger/functions, applied by the migrator
-- after every migration.
