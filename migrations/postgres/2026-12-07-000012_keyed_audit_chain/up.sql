-- The audit chain becomes keyed. Every event keeps its plain SHA-256 link to the one
-- before it (`hash`), and every event from now on also carries `mac`, an HMAC-SHA256 of
-- its link under a key derived from a master key whose version it records. The head row
-- is MACed too (the last event, how many events came before keying, and when keying
-- began), and rewritten with every event: whoever can write the database but lacks the
-- master keys can neither recompute the chain nor cut its tail. Events written before
-- this keep key_version and mac NULL and verify as before, pinned by the keyed head.
-- SQL cannot compute the MAC: Keyhold seals the head in the same transaction as this
-- migration (see `services::audit_chain::seal_after_migrations`).
ALTER TABLE audit_events ADD COLUMN key_version TEXT;
ALTER TABLE audit_events ADD COLUMN mac TEXT;
ALTER TABLE audit_chain ADD COLUMN key_version TEXT;
ALTER TABLE audit_chain ADD COLUMN legacy_until BIGINT;
ALTER TABLE audit_chain ADD COLUMN sealed_at BIGINT;
ALTER TABLE audit_chain ADD COLUMN mac TEXT;
