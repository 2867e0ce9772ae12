-- Removing a team member (issue 7, review S1). A removed member stays a row, tombstoned by
-- removed_at, and check_team_call refuses its calls on the owner's account: removal must not lift
-- the member's limits while it is still the owner's on-chain delegate (revoking that is the owner's
-- on-chain step). Re-adding the member (a later signed TeamMember change) clears removed_at.

ALTER TABLE team_members ADD COLUMN removed_at timestamptz;

-- check_team_call: ledger/functions/check_team_call.sql, applied by the migrator after every
-- migration.
