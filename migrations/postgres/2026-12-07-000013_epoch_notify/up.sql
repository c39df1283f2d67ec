-- Every trigger that moves the cache epoch also tells the other instances, which listen on
-- `keyhold_epoch` (src/db/listen.rs), so they need not read the row on every request. The
-- payload is the new version; PostgreSQL delivers it when (and only if) the change commits.
CREATE OR REPLACE FUNCTION keyhold_bump_epoch() RETURNS trigger AS $$
DECLARE
    v BIGINT;
BEGIN
    UPDATE cache_epoch SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
    PERFORM pg_notify('keyhold_epoch', v::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
