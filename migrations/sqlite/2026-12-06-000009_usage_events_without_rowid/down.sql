CREATE TABLE usage_events_rowid (
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
INSERT INTO usage_events_rowid (id, at, workspace_id, token_id, user_id, provider, model, source,
                                key_id, status, error_code, latency_ms, prompt_tokens,
                                completion_tokens)
SELECT id, at, workspace_id, token_id, user_id, provider, model, source, key_id, status,
       error_code, latency_ms, prompt_tokens, completion_tokens
FROM usage_events;
DROP TABLE usage_events;
ALTER TABLE usage_events_rowid RENAME TO usage_events;
