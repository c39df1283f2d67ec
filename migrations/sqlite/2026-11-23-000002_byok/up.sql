-- BYOK: per-provider platform settings and every provider key, global or per workspace.
CREATE TABLE provider_settings (
    provider TEXT PRIMARY KEY NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    byok_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    failure_policy TEXT NOT NULL DEFAULT 'fail',
    updated_at BIGINT NOT NULL
);

-- One table for global (workspace_id NULL) and workspace keys, so rotation and
-- `keyhold check` walk a single table. `sealed` is wiped on removal; the row stays.
CREATE TABLE provider_keys (
    id TEXT PRIMARY KEY NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('global', 'workspace')),
    workspace_id TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    label TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    sealed BLOB,
    master_key_id TEXT,
    mask TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    last_tested_at BIGINT,
    last_test_result TEXT,
    last_used_at BIGINT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT,
    removed_by TEXT
);
CREATE INDEX provider_keys_ws_idx ON provider_keys (workspace_id, provider, priority);
CREATE INDEX provider_keys_provider_idx ON provider_keys (provider, scope, status);
CREATE INDEX provider_keys_master_idx ON provider_keys (master_key_id);
