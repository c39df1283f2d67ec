-- PostgreSQL only (session-row notifications for other instances); SQLite has one instance.
SELECT 1;
