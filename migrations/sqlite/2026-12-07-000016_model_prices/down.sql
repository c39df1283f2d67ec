DROP TRIGGER usage_model_daily_add;
DROP TABLE usage_model_daily;
DROP TABLE model_prices;
