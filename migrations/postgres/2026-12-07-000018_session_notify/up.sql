-- Each instance keeps copies of the session rows it served (src/web/session_store.rs) and
-- must hear when another instance changes one: a sign-out, a refreshed idle deadline, a
-- changed state. The listener of src/db/listen.rs follows this channel beside the epoch's;
-- the payload is the row's id (a hash of the session key, never the key). PostgreSQL
-- delivers it when, and only if, the change commits.
CREATE OR REPLACE FUNCTION keyhold_session_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('keyhold_sessions', OLD.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sessions_notify AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION keyhold_session_changed();
