//! `/admin/users` and `/admin/workspaces`: the lists an admin scans (search, totals,
//! numbered pages) and the forms that create a user or a workspace.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::workspace::format_time;
use super::{ok, render};
use crate::db::now;
use crate::error::Result;
use crate::services::admin_lists::{self, Page, UserSummary, WorkspaceSummary};
use crate::services::{accounts, workspaces};
use crate::state::AppState;
use crate::web::charts::thousands;
use crate::web::extractors::PlatformAdmin;
use crate::web::forms::{FormErrors, see_other};
use crate::web::layout::{Layout, flash_success};
use crate::web::pager::{Pager, requested_page};

/// `?q=…&page=…`; both optional, and a page that is not a number is page 1.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<String>,
}

/// One page of a list as found: its rows, the search as read (trimmed) and the page links.
struct Found<T> {
    rows: Vec<T>,
    q: String,
    pager: Pager,
}

impl ListQuery {
    /// Runs a list's search: `find` gets the trimmed search and the page asked for.
    async fn find<T, F>(self, noun: (&str, &str), find: F) -> Result<Found<T>>
    where
        F: AsyncFnOnce(String, i64) -> Result<Page<T>>,
    {
        let q = self.q.unwrap_or_default().trim().to_owned();
        let found = find(q.clone(), requested_page(self.page.as_deref())).await?;
        Ok(Found {
            pager: Pager::new(found.page, found.pages, found.total, noun, &q),
            rows: found.rows,
            q,
        })
    }
}

/// A list's page: built for a search, with the create form's errors and the values it keeps
/// (empty when the list is simply shown).
trait ListPage: Template + Sized {
    /// The create form's values, kept when the form is refused.
    type Kept: Default;

    async fn build(
        admin: &PlatformAdmin,
        state: &AppState,
        q: ListQuery,
        errors: FormErrors,
        kept: Self::Kept,
    ) -> Result<Self>;
}

/// `GET` of a list.
async fn show<P: ListPage>(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let page = P::build(
        &admin,
        &state,
        q.into_inner(),
        FormErrors::default(),
        P::Kept::default(),
    );
    ok(&page.await?)
}

/// The list again, first page, with the refused create form's errors and values (400); an
/// error that is not the form's is passed on.
async fn refused<P: ListPage>(
    admin: &PlatformAdmin,
    state: &AppState,
    e: crate::error::Error,
    kept: P::Kept,
) -> Result<HttpResponse> {
    let errors = FormErrors::from_error(e)?;
    let page = P::build(admin, state, ListQuery::default(), errors, kept);
    render(&page.await?, StatusCode::BAD_REQUEST)
}

/// `2026-11-23` (UTC).
fn day(t: i64) -> String {
    format_time(t).get(..10).unwrap_or_default().to_owned()
}

// ---------------------------------------------------------------- users

/// A user's row: what the admin scans for, and nothing else of the account.
struct UserRow {
    id: String,
    email: String,
    name: String,
    is_admin: bool,
    disabled: bool,
    last_sign_in: String,
    /// (admin page href, name, "owner" or "")
    workspaces: Vec<(String, String, &'static str)>,
}

impl UserRow {
    fn of(u: UserSummary) -> UserRow {
        UserRow {
            last_sign_in: u.last_sign_in.map_or_else(|| "Never".into(), format_time),
            workspaces: u
                .workspaces
                .into_iter()
                .map(|w| {
                    (
                        format!("/admin/workspaces/{}", w.id),
                        w.name,
                        if w.owner { "owner" } else { "" },
                    )
                })
                .collect(),
            id: u.id.to_string(),
            email: u.email,
            name: u.name,
            is_admin: u.is_admin,
            disabled: u.disabled,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    q: String,
    pager: Pager,
    errors: FormErrors,
    new_email: String,
    new_name: String,
}

impl ListPage for UsersPage {
    type Kept = (String, String);

    async fn build(
        admin: &PlatformAdmin,
        state: &AppState,
        q: ListQuery,
        errors: FormErrors,
        (new_email, new_name): (String, String),
    ) -> Result<UsersPage> {
        let found = q
            .find(("user", "users"), async |search, page| {
                state
                    .db(move |c| admin_lists::users_page(c, Some(&search), page))
                    .await
            })
            .await?;
        Ok(UsersPage {
            layout: admin.0.layout("Users", "admin-users"),
            users: found.rows.into_iter().map(UserRow::of).collect(),
            q: found.q,
            pager: found.pager,
            errors,
            new_email,
            new_name,
        })
    }
}

/// `GET /admin/users`.
pub async fn users(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    show::<UsersPage>(admin, state, q).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    email: String,
    name: String,
    is_admin: Option<String>,
}

/// `POST /admin/users`: the person gets a mail to choose a password.
pub async fn create_user(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    let (email, name) = (f.email.clone(), f.name.clone());
    match accounts::admin_create_user(&state, admin.0.actor(), email, name, f.is_admin.is_some())
        .await
    {
        Ok(user) => {
            flash_success(
                &admin.0.session,
                format!(
                    "{} was created and has been sent a link to choose a password.",
                    user.email
                ),
            );
            Ok(see_other(&format!("/admin/users/{}", user.id)))
        }
        Err(e) => refused::<UsersPage>(&admin, &state, e, (f.email, f.name)).await,
    }
}

// ---------------------------------------------------------------- workspaces

/// A workspace's row.
struct WorkspaceRow {
    id: String,
    name: String,
    slug: String,
    created: String,
    members: i64,
    owners: String,
    keys_usable: i64,
    keys_invalid: i64,
    /// "12,300 of 100,000" or "12,300 (no limit)".
    platform_tokens: String,
    /// This month's platform tokens reached the allowance.
    over_allowance: bool,
}

impl WorkspaceRow {
    fn of(w: WorkspaceSummary) -> WorkspaceRow {
        WorkspaceRow {
            created: day(w.created_at),
            owners: if w.owners.is_empty() {
                String::new()
            } else {
                w.owners.join(", ")
            },
            platform_tokens: match w.allowance {
                Some(limit) => format!("{} of {}", thousands(w.platform_tokens), thousands(limit)),
                None => format!("{} (no limit)", thousands(w.platform_tokens)),
            },
            over_allowance: w.allowance.is_some_and(|l| w.platform_tokens >= l),
            id: w.id.to_string(),
            name: w.name,
            slug: w.slug,
            members: w.members,
            keys_usable: w.keys_usable,
            keys_invalid: w.keys_invalid,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/workspaces.html")]
struct WorkspacesPage {
    layout: Layout,
    rows: Vec<WorkspaceRow>,
    q: String,
    pager: Pager,
    errors: FormErrors,
    new_name: String,
    new_slug: String,
}

impl ListPage for WorkspacesPage {
    type Kept = (String, String);

    async fn build(
        admin: &PlatformAdmin,
        state: &AppState,
        q: ListQuery,
        errors: FormErrors,
        (new_name, new_slug): (String, String),
    ) -> Result<WorkspacesPage> {
        let found = q
            .find(("workspace", "workspaces"), async |search, page| {
                state
                    .db(move |c| admin_lists::workspaces_page(c, Some(&search), page, now()))
                    .await
            })
            .await?;
        Ok(WorkspacesPage {
            layout: admin.0.layout("Workspaces", "admin-workspaces"),
            rows: found.rows.into_iter().map(WorkspaceRow::of).collect(),
            q: found.q,
            pager: found.pager,
            errors,
            new_name,
            new_slug,
        })
    }
}

/// `GET /admin/workspaces`.
pub async fn workspaces(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    show::<WorkspacesPage>(admin, state, q).await
}

#[derive(Deserialize)]
pub struct NewWorkspaceForm {
    name: String,
    slug: String,
}

/// `POST /admin/workspaces`.
pub async fn create_workspace(
    admin: PlatformAdmin,
    state: web::Data<AppState>,
    form: web::Form<NewWorkspaceForm>,
) -> Result<HttpResponse> {
    let f = form.into_inner();
    match workspaces::create(&state, admin.0.actor(), f.name.clone(), f.slug.clone()).await {
        Ok(ws) => {
            flash_success(
                &admin.0.session,
                format!(
                    "Workspace “{}” created. Invite its first owner below.",
                    ws.name
                ),
            );
            Ok(see_other(&format!("/admin/workspaces/{}", ws.id)))
        }
        Err(e) => refused::<WorkspacesPage>(&admin, &state, e, (f.name, f.slug)).await,
    }
}
