DROP TABLE usage_model_daily;
DROP TABLE model_prices;
