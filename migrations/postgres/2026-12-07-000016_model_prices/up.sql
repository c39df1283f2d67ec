-- Cost in money (issue 19, item 9): a price per model, and usage by model to price.

-- What a million tokens cost, in USD micro-dollars (1 USD = 1,000,000), so money is never a
-- float: $0.15 per million is 150000. `model` is the model as usage events record it, without
-- the provider prefix ("gpt-4o-mini", not "openai/gpt-4o-mini"); a row also prices the model's
-- dated or aliased names ("claude-sonnet-4" prices "claude-sonnet-4-20250514" and
-- "claude-sonnet-4-0"; see src/services/prices.rs).
CREATE TABLE model_prices (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_micros BIGINT NOT NULL,
    output_micros BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (provider, model)
);

-- Editable defaults: the providers' public list prices (USD per million tokens, standard
-- tier, no caching or batch discounts) as of mid-2025. Prices change; admins keep them
-- current under Settings → Prices, and each change is audited.
INSERT INTO model_prices (provider, model, input_micros, output_micros, updated_at) VALUES
    ('openai', 'gpt-4o-mini', 150000, 600000, 0),
    ('openai', 'gpt-4o', 2500000, 10000000, 0),
    ('openai', 'gpt-4.1', 2000000, 8000000, 0),
    ('openai', 'gpt-4.1-mini', 400000, 1600000, 0),
    ('openai', 'gpt-4.1-nano', 100000, 400000, 0),
    ('openai', 'o4-mini', 1100000, 4400000, 0),
    ('anthropic', 'claude-3-5-haiku', 800000, 4000000, 0),
    ('anthropic', 'claude-sonnet-4', 3000000, 15000000, 0),
    ('anthropic', 'claude-opus-4', 15000000, 75000000, 0),
    ('gemini', 'gemini-2.5-pro', 1250000, 10000000, 0),
    ('gemini', 'gemini-2.5-flash', 300000, 2500000, 0),
    ('gemini', 'gemini-2.0-flash', 100000, 400000, 0),
    ('mistral', 'mistral-large-latest', 2000000, 6000000, 0),
    ('mistral', 'mistral-small-latest', 100000, 300000, 0),
    ('deepseek', 'deepseek-chat', 270000, 1100000, 0),
    ('deepseek', 'deepseek-reasoner', 550000, 2190000, 0),
    ('xai', 'grok-3', 3000000, 15000000, 0),
    ('xai', 'grok-3-mini', 300000, 500000, 0),
    ('xai', 'grok-4', 3000000, 15000000, 0),
    ('groq', 'llama-3.3-70b-versatile', 590000, 790000, 0),
    ('groq', 'llama-3.1-8b-instant', 50000, 80000, 0);

-- Tokens by model, per workspace, UTC day and key source: usage_daily has no model and no
-- input/output split, and a price needs both. The usage writer adds each batch to it, grouped,
-- in the batch's transaction (src/gateway/usage.rs), as it does to usage_daily.
CREATE TABLE usage_model_daily (
    workspace_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    requests BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, provider, model, source)
)
;
-- The platform-wide cost reads a range of days across every workspace.
CREATE INDEX usage_model_daily_day_idx ON usage_model_daily (day);

INSERT INTO usage_model_daily (workspace_id, day, provider, model, source, requests,
                               input_tokens, output_tokens)
SELECT workspace_id, at / 86400, provider, model, source, COUNT(*), SUM(prompt_tokens),
       SUM(completion_tokens)
FROM usage_events
GROUP BY workspace_id, at / 86400, provider, model, source;
