-- The usage pages read this daily rollup instead of grouping the raw events on every view:
-- one row per workspace, UTC day (days since the Unix epoch, `at / 86400`), provider and
-- key source. The usage writer adds each batch to it in the transaction that writes the
-- events; usage_events stays the detailed record.
CREATE TABLE usage_daily (
    workspace_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    provider TEXT NOT NULL,
    source TEXT NOT NULL,
    requests BIGINT NOT NULL,
    -- Requests answered with status 400 or above.
    errors BIGINT NOT NULL,
    -- Prompt plus completion tokens.
    tokens BIGINT NOT NULL,
    -- Summed, so that a mean over any range is exact.
    latency_ms BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, provider, source)
) WITHOUT ROWID;
-- The platform-wide report reads a range of days across every workspace.
CREATE INDEX usage_daily_day_idx ON usage_daily (day);

INSERT INTO usage_daily (workspace_id, day, provider, source, requests, errors, tokens, latency_ms)
SELECT workspace_id, at / 86400, provider, source,
       COUNT(*),
       SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
       SUM(prompt_tokens + completion_tokens),
       SUM(latency_ms)
FROM usage_events
GROUP BY workspace_id, at / 86400, provider, source;
