DROP TRIGGER usage_model_daily_add ON usage_events;
DROP FUNCTION usage_model_daily_add();
DROP TABLE usage_model_daily;
DROP TABLE model_prices;
