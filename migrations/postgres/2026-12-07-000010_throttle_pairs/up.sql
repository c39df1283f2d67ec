-- Sign-in throttling by (account, address) pair with backoff, plus wide per-account and
-- per-address counters that only slow. The rows are short-lived counters, so the old
-- table is replaced rather than converted.
DROP TABLE throttle;
CREATE TABLE throttle (
    key TEXT PRIMARY KEY NOT NULL,
    -- Hash of the account's email for its pair and account rows (a completed password
    -- reset lifts them all); NULL for address and current-password rows.
    account TEXT,
    failures INTEGER NOT NULL,
    last_failure BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);
CREATE INDEX throttle_account_idx ON throttle (account);
CREATE INDEX throttle_last_failure_idx ON throttle (last_failure);
