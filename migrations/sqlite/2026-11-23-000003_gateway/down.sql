DROP TABLE cache_epoch;
DROP TABLE chat_messages;
DROP TABLE usage_events;
DROP TABLE api_tokens;
