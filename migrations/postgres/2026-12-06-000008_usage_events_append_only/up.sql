-- Nothing reads usage_events: the usage pages, the charts and the allowance read usage_daily
-- (000006), so the event table is append-only and this index was paid for on every API call's
-- insert and never used. A feature that lists a workspace's events brings back what it reads.
DROP INDEX usage_ws_at_idx;
