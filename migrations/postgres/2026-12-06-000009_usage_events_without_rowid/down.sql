-- SQLite only: undoes the WITHOUT ROWID table there; nothing to undo here.
SELECT 1;
