DROP TRIGGER IF EXISTS sessions_notify ON sessions;
DROP FUNCTION IF EXISTS keyhold_session_changed();
