-- Usage reports read usage_daily since 000006; nothing reads usage_events by time alone any
-- more, and every API call paid for this index on insert. (Ids are UUIDv7, so the primary
-- key is in time order too, should a purge by age be wanted.)
DROP INDEX usage_at_idx;
