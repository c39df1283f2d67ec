-- Scale (SPEC §12: 10,000 workspaces, 50,000 keys, 1,000,000 audit events, every list page
-- within 50 ms), found by bench/scale.sh.

-- Live keys by scope and provider. The global keys (read by every page that explains which
-- key answers: API keys, a workspace's admin page) were a scan of all keys, and so was the
-- per-provider count of workspaces with keys on Integrations; both now read this index.
CREATE INDEX provider_keys_live_idx ON provider_keys (scope, provider, workspace_id, status)
    WHERE removed_at IS NULL;

-- The audit date filter looks up the first and last id of a range on (at, id), then walks
-- the ids (events are numbered in time order), instead of sorting every event of the range.
DROP INDEX audit_at_idx;
CREATE INDEX audit_at_id_idx ON audit_events (at, id);
