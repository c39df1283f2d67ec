-- SQLite only: there usage_events becomes a WITHOUT ROWID table (its row stored once, in
-- id order). A PostgreSQL table is a heap with its primary key beside it either way; nothing
-- changes here. The migration exists so that both trees keep the same steps.
SELECT 1;
