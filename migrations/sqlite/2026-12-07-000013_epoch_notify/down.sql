-- PostgreSQL only: its epoch triggers notify the other instances (one SQLite database has
-- one instance, which follows the epoch in-process).
SELECT 1;
