//! `/admin/prices` (Settings → Prices): the price table the usage pages price calls with.
//! Add, change and remove a price; each change is audited; a refused form keeps what was typed.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{ok, render};
use crate::domain::money::{price_display, price_input};
use crate::domain::providers;
use crate::error::{Error, Result};
use crate::services::prices::{self, NewPrice, Saved};
use crate::state::AppState;
use crate::web::extractors::PlatformAdmin;
use crate::web::forms::{FormErrors, see_other};
use crate::web::layout::{Layout, flash_error, flash_success};

/// A row of the price table.
struct PriceLine {
    provider: String,
    provider_name: String,
    model: String,
    input: String,
    output: String,
    edit_href: String,
}

#[derive(Template)]
#[template(path = "admin/prices.html")]
struct PricesPage {
    layout: Layout,
    rows: Vec<PriceLine>,
    /// (id, name) of every provider, for the form's list.
    providers: Vec<(&'static str, &'static str)>,
    editing: bool,
    provider: String,
    model: String,
    input_price: String,
    output_price: String,
    errors: FormErrors,
}

/// The form's fields (also `?provider=&model=` to change a row).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PriceForm {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    input_price: String,
    #[serde(default)]
    output_price: String,
}

async fn page_of(
    admin: &PlatformAdmin,
    state: &AppState,
    mut form: PriceForm,
    errors: FormErrors,
) -> Result<PricesPage> {
    let list = state.db(prices::list).await?;
    // `?provider=&model=` of an existing row fills the form to change it.
    let editing = list
        .iter()
        .find(|p| p.provider == form.provider && p.model == form.model);
    if let Some(p) = editing
        && !errors.any()
    {
        form.input_price = price_input(p.input_micros);
        form.output_price = price_input(p.output_micros);
    }
    let editing = editing.is_some();
    let rows = list
        .into_iter()
        .map(|p| PriceLine {
            provider_name: providers::find(&p.provider)
                .map_or_else(|| p.provider.clone(), |x| x.name.into()),
            input: price_display(p.input_micros),
            output: price_display(p.output_micros),
            edit_href: format!(
                "/admin/prices?{}",
                serde_urlencoded::to_string([("provider", &p.provider), ("model", &p.model)])
                    .unwrap_or_default()
            ),
            provider: p.provider,
            model: p.model,
        })
        .collect();
    Ok(PricesPage {
        layout: admin.0.layout("Prices", "admin-prices"),
        rows,
        providers: providers::catalogue()
            .iter()
            .map(|p| (p.id, p.name))
            .collect(),
        editing,
        provider: form.provider,
        model: form.model,
        input_price: form.input_price,
        output_price: form.output_price,
        errors,
    })
}

/// `GET /admin/prices`.
pub async fn page(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<PriceForm>,
) -> Result<HttpResponse> {
    ok(&page_of(&admin, &state, q.into_inner(), FormErrors::default()).await?)
}

/// `POST /admin/prices`: add a price, or change the model's price.
pub async fn save(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    form: web::Form<PriceForm>,
) -> Result<HttpResponse> {
    let form = form.into_inner();
    let parsed = NewPrice::parse(
        &form.provider,
        &form.model,
        &form.input_price,
        &form.output_price,
    );
    let result = match parsed {
        Ok(p) => {
            let name = format!("{}/{}", p.provider.as_str(), p.model);
            prices::save(&state, admin.0.actor(), p)
                .await
                .map(|s| (s, name))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((saved, name)) => {
            let message = match saved {
                Saved::Added => format!("Price of {name} added."),
                Saved::Changed => format!("Price of {name} changed."),
                Saved::Unchanged => {
                    format!("The price of {name} was already that; nothing changed.")
                }
            };
            flash_success(&admin.0.session, message);
            Ok(see_other("/admin/prices"))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            render(
                &page_of(&admin, &state, form, errors).await?,
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

/// The remove button's fields.
#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    provider: String,
    model: String,
}

/// `POST /admin/prices/remove`.
pub async fn remove(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse> {
    let RemoveForm { provider, model } = form.into_inner();
    let name = format!("{provider}/{model}");
    match prices::remove(&state, admin.0.actor(), provider, model).await {
        Ok(()) => flash_success(&admin.0.session, format!("Price of {name} removed.")),
        Err(Error::NotFound) => flash_error(
            &admin.0.session,
            format!("{name} had no price (already removed?); nothing changed."),
        ),
        Err(e) => return Err(e),
    }
    Ok(see_other("/admin/prices"))
}
