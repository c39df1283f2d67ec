DROP INDEX audit_at_id_idx;
CREATE INDEX audit_at_idx ON audit_events (at);
DROP INDEX provider_keys_live_idx;
