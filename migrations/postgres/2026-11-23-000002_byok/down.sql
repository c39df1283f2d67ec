DROP TABLE provider_keys;
DROP TABLE provider_settings;
