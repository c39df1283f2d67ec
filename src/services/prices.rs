//! The price table: what a million input and output tokens of a model cost, edited by
//! platform admins (each change audited), and which price applies to a usage row's model.

use diesel::prelude::*;
use serde_json::json;

use super::Ctx;
use super::audit::{self, Actor, Event};
use crate::db::schema::model_prices;
use crate::db::{DbConn, now, write_tx};
use crate::domain::money::{self, price_input};
use crate::domain::providers::{self, ProviderId};
use crate::error::{Error, Result};

/// The longest model name accepted.
const MODEL_MAX: usize = 200;

/// One row of the price table (micro-dollars per million tokens).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = model_prices)]
pub struct Price {
    pub provider: String,
    pub model: String,
    pub input_micros: i64,
    pub output_micros: i64,
    pub updated_at: i64,
}

/// Every price, by provider then model.
pub fn list(conn: &mut DbConn) -> Result<Vec<Price>> {
    Ok(model_prices::table
        .select(Price::as_select())
        .order((model_prices::provider, model_prices::model))
        .load(conn)?)
}

/// A price as typed into the form, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrice {
    pub provider: ProviderId,
    pub model: String,
    pub input_micros: i64,
    pub output_micros: i64,
}

impl NewPrice {
    /// Checks the form's fields; the error names the field and how to fix it.
    pub fn parse(provider: &str, model: &str, input: &str, output: &str) -> Result<NewPrice> {
        let provider = ProviderId::parse(provider.trim())
            .ok_or_else(|| Error::invalid("provider", "Choose a provider from the list."))?;
        let model = model.trim();
        let model = model
            .strip_prefix(provider.as_str())
            .and_then(|m| m.strip_prefix('/'))
            .unwrap_or(model);
        if model.is_empty() {
            return Err(Error::invalid(
                "model",
                "Enter the model's name as calls use it, like gpt-4o-mini.",
            ));
        }
        if model.len() > MODEL_MAX || model.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "model",
                "A model name has no spaces and at most 200 characters.",
            ));
        }
        let input_micros =
            money::parse_usd(input).map_err(|e| Error::invalid("input_price", e.0))?;
        let output_micros =
            money::parse_usd(output).map_err(|e| Error::invalid("output_price", e.0))?;
        Ok(NewPrice {
            provider,
            model: model.to_owned(),
            input_micros,
            output_micros,
        })
    }
}

/// What saving a price did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Added,
    Changed,
    Unchanged,
}

/// Adds the price, or changes the model's existing one; audited in the same transaction.
pub async fn save(ctx: &Ctx, actor: Actor, p: NewPrice) -> Result<Saved> {
    let keyring = ctx.config.keyring.clone();
    ctx.db(move |c| {
        write_tx(c, |c| {
            let provider = p.provider.as_str();
            let key = (provider, p.model.as_str());
            let before: Option<Price> = model_prices::table
                .find(key)
                .select(Price::as_select())
                .first(c)
                .optional()?;
            let target = format!("{provider}/{}", p.model);
            let after = json!({
                "input_usd_per_million": price_input(p.input_micros),
                "output_usd_per_million": price_input(p.output_micros),
            });
            let (saved, details) = match &before {
                Some(b)
                    if b.input_micros == p.input_micros && b.output_micros == p.output_micros =>
                {
                    return Ok(Saved::Unchanged);
                }
                Some(b) => {
                    diesel::update(model_prices::table.find(key))
                        .set((
                            model_prices::input_micros.eq(p.input_micros),
                            model_prices::output_micros.eq(p.output_micros),
                            model_prices::updated_at.eq(now()),
                        ))
                        .execute(c)?;
                    let before = json!({
                        "input_usd_per_million": price_input(b.input_micros),
                        "output_usd_per_million": price_input(b.output_micros),
                    });
                    (Saved::Changed, json!({ "before": before, "after": after }))
                }
                None => {
                    diesel::insert_into(model_prices::table)
                        .values((
                            model_prices::provider.eq(provider),
                            model_prices::model.eq(&p.model),
                            model_prices::input_micros.eq(p.input_micros),
                            model_prices::output_micros.eq(p.output_micros),
                            model_prices::updated_at.eq(now()),
                        ))
                        .execute(c)?;
                    (Saved::Added, after)
                }
            };
            let action = match saved {
                Saved::Added => "price.added",
                _ => "price.changed",
            };
            audit::record(
                c,
                &keyring,
                &actor,
                Event::new(action).target(&target).details(details),
            )?;
            Ok(saved)
        })
    })
    .await
}

/// Removes a model's price; audited. `NotFound` when there was none.
pub async fn remove(ctx: &Ctx, actor: Actor, provider: String, model: String) -> Result<()> {
    let keyring = ctx.config.keyring.clone();
    ctx.db(move |c| {
        write_tx(c, |c| {
            let key = (provider.as_str(), model.as_str());
            let before: Price = model_prices::table
                .find(key)
                .select(Price::as_select())
                .first(c)?;
            diesel::delete(model_prices::table.find(key)).execute(c)?;
            audit::record(
                c,
                &keyring,
                &actor,
                Event::new("price.removed")
                    .target(&format!("{provider}/{model}"))
                    .details(json!({
                        "input_usd_per_million": price_input(before.input_micros),
                        "output_usd_per_million": price_input(before.output_micros),
                    })),
            )?;
            Ok(())
        })
    })
    .await
}

/// The price table, ready to price usage rows.
#[derive(Debug, Clone, Default)]
pub struct PriceBook(Vec<Price>);

impl PriceBook {
    /// Reads the whole table (a few dozen rows).
    pub fn load(conn: &mut DbConn) -> Result<PriceBook> {
        Ok(PriceBook(list(conn)?))
    }

    /// Builds a book from rows (tests).
    pub fn of(prices: Vec<Price>) -> PriceBook {
        PriceBook(prices)
    }

    /// The price for a usage row's `model` of `provider`: the row named exactly, else the
    /// row whose name the model extends with a date or version (`-20250514`, `-2024-07-18`,
    /// `-0`) or `-latest`. A longer name is never priced as a shorter one
    /// (`gpt-4.1-nano` is not `gpt-4.1`). The provider prefix calls may carry
    /// (`openai/gpt-4o`) is ignored.
    pub fn find(&self, provider: &str, model: &str) -> Option<&Price> {
        let model = bare_model(provider, model);
        let rows = self.0.iter().filter(|p| p.provider == provider);
        let mut best: Option<&Price> = None;
        for p in rows {
            if p.model == model {
                return Some(p);
            }
            let extends = model
                .strip_prefix(p.model.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(is_version_suffix);
            if extends && best.is_none_or(|b| b.model.len() < p.model.len()) {
                best = Some(p);
            }
        }
        best
    }
}

/// The model as the provider names it: without the `provider/` (or `custom/`) prefix a call
/// may have used to pick the provider.
pub fn bare_model<'a>(provider: &str, model: &'a str) -> &'a str {
    match model.split_once('/') {
        Some((p, rest))
            if p == provider || (p == providers::CUSTOM && provider == "openai_compatible") =>
        {
            rest
        }
        _ => model,
    }
}

/// `latest`, or digits and dashes (a date or a version number).
fn is_version_suffix(s: &str) -> bool {
    s == "latest" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(provider: &str, model: &str, input: i64) -> Price {
        Price {
            provider: provider.into(),
            model: model.into(),
            input_micros: input,
            output_micros: input * 4,
            updated_at: 0,
        }
    }

    fn book() -> PriceBook {
        PriceBook::of(vec![
            price("openai", "gpt-4o", 1),
            price("openai", "gpt-4o-mini", 2),
            price("openai", "gpt-4.1", 3),
            price("anthropic", "claude-sonnet-4", 4),
            price("anthropic", "claude-3-5-haiku", 5),
        ])
    }

    fn input_of(provider: &str, model: &str) -> Option<i64> {
        book().find(provider, model).map(|p| p.input_micros)
    }

    #[test]
    fn a_model_is_priced_by_its_exact_name_or_a_dated_alias() {
        assert_eq!(input_of("openai", "gpt-4o-mini"), Some(2));
        assert_eq!(input_of("openai", "openai/gpt-4o"), Some(1));
        assert_eq!(input_of("openai", "gpt-4o-mini-2024-07-18"), Some(2));
        assert_eq!(input_of("anthropic", "claude-sonnet-4-20250514"), Some(4));
        assert_eq!(input_of("anthropic", "claude-sonnet-4-0"), Some(4));
        assert_eq!(input_of("anthropic", "claude-3-5-haiku-latest"), Some(5));
    }

    #[test]
    fn a_different_model_is_never_priced_as_a_shorter_name() {
        assert_eq!(input_of("openai", "gpt-4.1-nano"), None);
        assert_eq!(input_of("openai", "gpt-4o-audio-preview"), None);
        assert_eq!(input_of("openai", "gpt-4"), None);
        assert_eq!(input_of("openrouter", "gpt-4o"), None, "per provider");
        assert_eq!(input_of("openai", "anthropic/gpt-4o"), None);
    }

    #[test]
    fn the_form_checks_every_field() {
        let ok = NewPrice::parse("openai", " openai/gpt-5 ", "1.25", "$10").expect("valid");
        assert_eq!(ok.model, "gpt-5");
        assert_eq!((ok.input_micros, ok.output_micros), (1_250_000, 10_000_000));
        let field = |r: Result<NewPrice>| match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(NewPrice::parse("nope", "m", "1", "1")), "provider");
        assert_eq!(field(NewPrice::parse("openai", " ", "1", "1")), "model");
        assert_eq!(field(NewPrice::parse("openai", "a b", "1", "1")), "model");
        assert_eq!(
            field(NewPrice::parse("openai", "m", "x", "1")),
            "input_price"
        );
        assert_eq!(
            field(NewPrice::parse("openai", "m", "1", "-2")),
            "output_price"
        );
    }
}
