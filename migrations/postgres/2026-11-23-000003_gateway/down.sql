DROP TRIGGER epoch_provider_keys ON provider_keys;
DROP TRIGGER epoch_provider_settings ON provider_settings;
DROP TRIGGER epoch_api_tokens ON api_tokens;
DROP TRIGGER epoch_workspaces ON workspaces;
DROP FUNCTION keyhold_bump_epoch();
DROP TABLE cache_epoch;
DROP TABLE chat_messages;
DROP TABLE usage_events;
DROP TABLE api_tokens;
