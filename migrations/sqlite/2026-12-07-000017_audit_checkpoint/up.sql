-- How far the admin's audit page has verified the chain, so that a page view checks only
-- the events since the last view (and re-checks a bounded slice of older ones, wrapping
-- around) instead of walking the whole log. One row, MACed like the chain's head under a
-- key derived from a master key: whoever can write the database cannot claim a
-- verification that did not happen. The row starts with no MAC, which reads as "nothing
-- verified yet"; Keyhold updates it in place (so two first views cannot both insert it).
CREATE TABLE audit_checkpoint (
    id INTEGER PRIMARY KEY NOT NULL,
    verified_id BIGINT NOT NULL,
    verified_hash TEXT NOT NULL,
    verified_at BIGINT NOT NULL,
    swept_id BIGINT NOT NULL,
    key_version TEXT NOT NULL,
    mac TEXT NOT NULL
);
INSERT INTO audit_checkpoint (id, verified_id, verified_hash, verified_at, swept_id, key_version, mac)
    VALUES (1, 0, 'genesis', 0, 0, '', '');
