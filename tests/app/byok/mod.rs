//! BYOK through HTTP: the admin's Settings → Integrations, the owner's key page, access,
//! the canary key that must never leak, BYOK off/on, and master-key rotation.

mod access;
mod admin;
pub mod canary;
mod key_input;
mod owner;
mod rotation;
mod toggle;

use diesel::prelude::*;
use keyhold::db::models::ProviderKeyRow;
use keyhold::db::schema::provider_keys;
use keyhold::domain::resolution::KeyStatus;
use keyhold::domain::vault::Scope;
use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;

/// An app with an admin, a workspace `acme` with one owner, and OpenAI enabled with BYOK
/// on (no global key yet).
pub struct Byok {
    pub app: TestApp,
    pub admin: Client,
    pub owner: Client,
    pub owner_id: String,
    pub ws_id: String,
    pub slug: String,
}

impl Byok {
    pub async fn start() -> Byok {
        let app = TestApp::spawn().await;
        let (admin, _) = app.user_client("admin@example.test", true).await;
        let (owner, owner_id) = app.user_client("owner@example.test", false).await;
        let (ws_id, slug) = app.create_workspace("acme", &[(&owner_id, "owner")]);
        let b = Byok {
            app,
            admin,
            owner,
            owner_id,
            ws_id,
            slug,
        };
        let r = b
            .save_openai(&[("enabled", "on"), ("byok_enabled", "on")])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "enabling OpenAI");
        b
    }

    /// Posts the OpenAI settings form as the admin (policy `fail` unless given).
    pub async fn save_openai(&self, fields: &[(&str, &str)]) -> Response {
        let mut all = fields.to_vec();
        if !fields.iter().any(|(k, _)| *k == "failure_policy") {
            all.push(("failure_policy", "fail"));
        }
        self.app
            .post_form(&self.admin, "/admin/integrations/openai", &all)
            .await
    }

    pub fn keys_path(&self) -> String {
        format!("/w/{}/settings/keys", self.slug)
    }

    /// Adds an OpenAI key through the owner's form.
    pub async fn add_key(&self, c: &Client, label: &str, key: &str) -> Response {
        self.app
            .post_form(
                c,
                &self.keys_path(),
                &[("provider", "openai"), ("label", label), ("api_key", key)],
            )
            .await
    }

    /// POSTs a key action (`test`, `disable`, `remove`, ...) as `c`.
    pub async fn key_action(
        &self,
        c: &Client,
        key_id: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let path = format!("{}/{key_id}/{action}", self.keys_path());
        self.app.post_form(c, &path, fields).await
    }

    /// Every key row of the database.
    pub fn all_keys(&self) -> Vec<ProviderKeyRow> {
        provider_keys::table
            .order(provider_keys::created_at.asc())
            .select(ProviderKeyRow::as_select())
            .load(&mut self.app.db())
            .expect("load keys")
    }

    /// The workspace key with this label.
    pub fn key(&self, label: &str) -> ProviderKeyRow {
        self.all_keys()
            .into_iter()
            .find(|k| k.label == label && k.scope == Scope::Workspace)
            .unwrap_or_else(|| panic!("no key labelled {label}"))
    }

    /// The owner's key page.
    pub async fn owner_page(&self) -> String {
        let (status, body) = self.app.get_html(&self.owner, &self.keys_path()).await;
        assert_eq!(status, StatusCode::OK);
        body
    }
}

/// A fresh canary key: it must never show up outside the `sealed` column.
pub fn canary() -> String {
    format!("sk-CANARY-{}", uuid::Uuid::new_v4().simple())
}

/// The text of the flash or error message in a page (for messages after a redirect).
pub async fn follow(app: &TestApp, c: &Client, r: Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "expected a redirect");
    let to = location(&r);
    let (status, body) = app.get_html(c, &to).await;
    assert_eq!(status, StatusCode::OK, "{to}");
    body
}

/// The `<tr>` of the "Which key answers now" table for a provider name.
pub fn answer_row<'a>(page: &'a str, provider_name: &str) -> &'a str {
    let needle = format!("<th scope=\"row\">{provider_name}</th>");
    let start = page
        .find(&needle)
        .unwrap_or_else(|| panic!("no row for {provider_name}"));
    let end = page[start..]
        .find("</tr>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}
