CREATE INDEX usage_at_idx ON usage_events (at);
