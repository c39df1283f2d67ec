-- Member-facing AI: workspace API tokens, usage events, chat history, and the cache epoch
-- every instance checks so that a change takes effect on the next request.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    revoked_by TEXT
);
CREATE INDEX api_tokens_ws_idx ON api_tokens (workspace_id, created_at);

CREATE TABLE usage_events (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    workspace_id TEXT NOT NULL,
    token_id TEXT,
    user_id TEXT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    key_id TEXT,
    status INTEGER NOT NULL,
    error_code TEXT,
    latency_ms BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL
);
CREATE INDEX usage_ws_at_idx ON usage_events (workspace_id, at);
CREATE INDEX usage_at_idx ON usage_events (at);

CREATE TABLE chat_messages (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    model TEXT,
    source TEXT,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_ws_user_idx ON chat_messages (workspace_id, user_id, created_at);

CREATE TABLE cache_epoch (
    id INTEGER PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO cache_epoch (id, version) VALUES (1, 0);

-- Any change the gateway caches moves the epoch, whoever makes it (app, CLI, SQL).
-- last_used_at updates are excluded: they are bookkeeping, not configuration.
CREATE FUNCTION keyhold_bump_epoch() RETURNS trigger AS $$
BEGIN
    UPDATE cache_epoch SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER epoch_provider_keys AFTER INSERT OR DELETE OR UPDATE OF status, sealed, priority, removed_at, label, workspace_id, provider, scope ON provider_keys FOR EACH STATEMENT EXECUTE FUNCTION keyhold_bump_epoch();
CREATE TRIGGER epoch_provider_settings AFTER INSERT OR DELETE OR UPDATE OF enabled, byok_enabled, failure_policy ON provider_settings FOR EACH STATEMENT EXECUTE FUNCTION keyhold_bump_epoch();
CREATE TRIGGER epoch_api_tokens AFTER INSERT OR DELETE OR UPDATE OF revoked_at, token_hash, workspace_id ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION keyhold_bump_epoch();
CREATE TRIGGER epoch_workspaces AFTER DELETE OR UPDATE OF allowance_tokens ON workspaces FOR EACH STATEMENT EXECUTE FUNCTION keyhold_bump_epoch();
