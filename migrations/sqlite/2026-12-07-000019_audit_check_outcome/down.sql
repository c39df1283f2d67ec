ALTER TABLE audit_checkpoint DROP COLUMN problem;
ALTER TABLE audit_checkpoint DROP COLUMN outcome_id;
ALTER TABLE audit_checkpoint DROP COLUMN outcome;
ALTER TABLE audit_checkpoint DROP COLUMN checked_at;
