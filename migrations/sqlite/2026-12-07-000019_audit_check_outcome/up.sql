-- The chain is checked by a background worker now, not by the admin's page: the row also
-- keeps what the last check found and when, so that the page only reads it. `outcome` is
-- 'held', 'broken' (at event `outcome_id`, `problem` says how) or 'unverifiable'
-- (`problem`), '' before the first check. The MAC now covers these columns too (its
-- context changed), so a row written before this migration no longer verifies: the first
-- check starts over from the first event, which costs time, not truth.
ALTER TABLE audit_checkpoint ADD COLUMN checked_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoint ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_checkpoint ADD COLUMN outcome_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoint ADD COLUMN problem TEXT NOT NULL DEFAULT '';
