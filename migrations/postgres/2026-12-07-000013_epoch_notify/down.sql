CREATE OR REPLACE FUNCTION keyhold_bump_epoch() RETURNS trigger AS $$
BEGIN
    UPDATE cache_epoch SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
