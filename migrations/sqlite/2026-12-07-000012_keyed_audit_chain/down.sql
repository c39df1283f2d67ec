ALTER TABLE audit_chain DROP COLUMN mac;
ALTER TABLE audit_chain DROP COLUMN sealed_at;
ALTER TABLE audit_chain DROP COLUMN legacy_until;
ALTER TABLE audit_chain DROP COLUMN key_version;
ALTER TABLE audit_events DROP COLUMN mac;
ALTER TABLE audit_events DROP COLUMN key_version;
