CREATE INDEX usage_ws_at_idx ON usage_events (workspace_id, at);
