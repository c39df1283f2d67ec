//! Every route in one place. The table is data as well as configuration: the test suite
//! walks it to check CSRF on every POST and the role of every route.

use std::sync::LazyLock;

use actix_web::http::Method;
use actix_web::web;

use super::handlers::{
    account, admin, api, auth, chat, health, integrations, invitations, keys, tokens, usage,
    workspace,
};

/// Who a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// Platform admins.
    Admin,
    /// Members (any role) of the workspace in the path.
    WorkspaceMember,
    /// Owners of the workspace in the path.
    WorkspaceOwner,
    /// A workspace API token (`/v1`, no cookies, no CSRF).
    ApiToken,
}

/// One row of the route table.
#[derive(Debug, Clone, Copy)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path, $access:ident;)*) => {
        /// Every route: method, path pattern, who may use it.
        pub const ROUTES: &[RouteInfo] = &[
            $(RouteInfo { method: stringify!($method), path: $path, access: Access::$access },)*
        ];

        /// Every route of the table, sorted into its scope (see [`Registrar`]).
        fn registrar() -> Registrar {
            let mut r = Registrar::default();
            $(r.add($path, web::method(Method::$method).to($handler));)*
            r
        }
    };
}

/// The path as the log shows it. A `{token}` in a route's pattern is a credential (an
/// invitation link's creates the invited account), so for such a route the log shows the
/// pattern instead of the path.
pub fn logged_path(path: &str) -> &str {
    /// (prefix before `{token}`, pattern) of every such route, read once from [`ROUTES`].
    static TOKEN_ROUTES: LazyLock<Vec<(&str, &str)>> = LazyLock::new(|| {
        let mut v: Vec<(&str, &str)> = ROUTES
            .iter()
            .filter_map(|r| Some((r.path.split_once("{token}")?.0, r.path)))
            .collect();
        v.dedup();
        v
    });
    TOKEN_ROUTES
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(path, |(_, pattern)| pattern)
}

/// The path prefixes served as scopes, in the order they are tried (the API first).
const SCOPES: [&str; 3] = ["/v1", "/admin", "/w/{slug}"];
/// The API's place in [`SCOPES`].
const API: usize = 0;

/// Puts each route under its scope. actix-web tries resources in order, and each dynamic
/// pattern is a regex: as one flat list, `GET /w/{slug}/settings/keys` was tried against ~35
/// patterns before its own (7 % of a page's CPU). Scoped, a request tests at most the three
/// prefixes, then the few routes of its own scope, most of which compare as plain strings.
/// The behaviour is the same: a route keeps its method guard, so a wrong method falls
/// through to the not-found page as before.
#[derive(Default)]
struct Registrar {
    scoped: [Vec<(&'static str, actix_web::Route)>; SCOPES.len()],
    rest: Vec<(&'static str, actix_web::Route)>,
}

impl Registrar {
    fn add(&mut self, path: &'static str, route: actix_web::Route) {
        let scope = SCOPES.iter().position(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        match scope {
            Some(i) => self.scoped[i].push((&path[SCOPES[i].len()..], route)),
            None => self.rest.push((path, route)),
        }
    }

    /// Registers the API scope (`api`) or everything else.
    fn finish(self, cfg: &mut web::ServiceConfig, api: bool) {
        for (i, (prefix, routes)) in SCOPES.into_iter().zip(self.scoped).enumerate() {
            if (i == API) != api {
                continue;
            }
            let scope = routes
                .into_iter()
                .fold(web::scope(prefix), |scope, (path, route)| {
                    scope.route(path, route)
                });
            cfg.service(scope);
        }
        if !api {
            for (path, route) in self.rest {
                cfg.route(path, route);
            }
        }
    }
}

/// Registers the API (`/v1`). Its callers send a token, not cookies, so it
/// is served outside the session and CSRF layers (they cost an API call ~2 % of its CPU).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    registrar().finish(cfg, true);
}

/// Registers every route but the API's: the pages, behind sessions and CSRF.
pub fn configure_pages(cfg: &mut web::ServiceConfig) {
    registrar().finish(cfg, false);
}

route_table! {
    GET  "/"                                    => auth::home, Public;
    GET  "/healthz"                             => health::healthz, Public;
    GET  "/readyz"                              => health::readyz, Public;
    GET  "/metrics"                             => health::metrics, Public;
    GET  "/static/{version}/{name}"             => super::assets::serve, Public;

    GET  "/login"                               => auth::login_form, Public;
    POST "/login"                               => auth::login, Public;
    POST "/logout"                              => auth::logout, Public;
    GET  "/setup"                               => auth::setup_form, Public;
    POST "/setup"                               => auth::setup, Public;
    GET  "/signup"                              => auth::signup_form, Public;
    POST "/signup"                              => auth::signup, Public;
    GET  "/password/forgot"                     => auth::forgot_form, Public;
    POST "/password/forgot"                     => auth::forgot, Public;
    GET  "/password/reset"                      => auth::reset_form, Public;
    POST "/password/reset"                      => auth::reset, Public;
    GET  "/invite/{token}"                      => auth::invite_form, Public;
    POST "/invite/{token}"                      => auth::invite_accept, Public;

    GET  "/account"                             => account::page, SignedIn;
    POST "/account/password"                    => account::change_password, SignedIn;
    POST "/account/sign-out-everywhere"         => account::sign_out_everywhere, SignedIn;

    GET  "/admin"                               => admin::overview, Admin;
    POST "/admin/settings"                      => admin::save_settings, Admin;
    GET  "/admin/users"                         => admin::users, Admin;
    POST "/admin/users"                         => admin::create_user, Admin;
    GET  "/admin/users/{id}"                    => admin::user, Admin;
    POST "/admin/users/{id}/disable"            => admin::disable_user, Admin;
    POST "/admin/users/{id}/enable"             => admin::enable_user, Admin;
    POST "/admin/users/{id}/admin"              => admin::set_admin, Admin;
    GET  "/admin/workspaces"                    => admin::workspaces, Admin;
    POST "/admin/workspaces"                    => admin::create_workspace, Admin;
    GET  "/admin/workspaces/{id}"               => admin::workspace, Admin;
    POST "/admin/workspaces/{id}/invitations"   => admin::invite, Admin;
    POST "/admin/workspaces/{id}/invitations/{invitation}/resend" => invitations::admin_resend, Admin;
    POST "/admin/workspaces/{id}/invitations/{invitation}/link"   => invitations::admin_link, Admin;
    POST "/admin/workspaces/{id}/invitations/{invitation}/revoke" => invitations::admin_revoke, Admin;
    POST "/admin/workspaces/{id}/allowance"     => admin::save_allowance, Admin;
    GET  "/admin/integrations"                  => integrations::list, Admin;
    GET  "/admin/integrations/{provider}"       => integrations::show, Admin;
    POST "/admin/integrations/{provider}"       => integrations::save, Admin;
    POST "/admin/integrations/{provider}/test"  => integrations::test, Admin;
    GET  "/admin/integrations/{provider}/remove-key" => integrations::remove_key_form, Admin;
    POST "/admin/integrations/{provider}/remove-key" => integrations::remove_key, Admin;
    GET  "/admin/audit"                         => admin::audit, Admin;
    GET  "/admin/audit.csv"                     => admin::audit_csv, Admin;

    POST "/v1/chat/completions"                 => api::chat_completions, ApiToken;
    POST "/v1/messages"                         => api::messages, ApiToken;
    GET  "/v1/models"                           => api::models, ApiToken;

    GET  "/w/{slug}"                                        => chat::show, WorkspaceMember;
    POST "/w/{slug}/chat"                                   => chat::send, WorkspaceMember;
    POST "/w/{slug}/chat/stream"                            => chat::stream, WorkspaceMember;
    POST "/w/{slug}/chat/clear"                             => chat::clear, WorkspaceMember;
    GET  "/w/{slug}/settings/members"                       => workspace::members, WorkspaceOwner;
    POST "/w/{slug}/settings/members/invite"                => workspace::invite, WorkspaceOwner;
    POST "/w/{slug}/settings/members/{user_id}/role"        => workspace::change_role, WorkspaceOwner;
    POST "/w/{slug}/settings/members/{user_id}/remove"      => workspace::remove_member, WorkspaceOwner;
    POST "/w/{slug}/settings/invitations/{id}/revoke"       => workspace::revoke_invitation, WorkspaceOwner;
    POST "/w/{slug}/settings/invitations/{id}/resend"       => invitations::owner_resend, WorkspaceOwner;
    POST "/w/{slug}/settings/invitations/{id}/link"         => invitations::owner_link, WorkspaceOwner;
    GET  "/w/{slug}/settings/keys"                          => keys::page, WorkspaceOwner;
    POST "/w/{slug}/settings/keys"                          => keys::add, WorkspaceOwner;
    GET  "/w/{slug}/settings/keys/{id}/replace"             => keys::replace_form, WorkspaceOwner;
    POST "/w/{slug}/settings/keys/{id}/replace"             => keys::replace, WorkspaceOwner;
    POST "/w/{slug}/settings/keys/{id}/test"                => keys::test, WorkspaceOwner;
    POST "/w/{slug}/settings/keys/{id}/disable"             => keys::disable, WorkspaceOwner;
    POST "/w/{slug}/settings/keys/{id}/enable"              => keys::enable, WorkspaceOwner;
    GET  "/w/{slug}/settings/keys/{id}/remove"              => keys::remove_form, WorkspaceOwner;
    POST "/w/{slug}/settings/keys/{id}/remove"              => keys::remove, WorkspaceOwner;
    POST "/w/{slug}/settings/keys/{id}/move"                => keys::move_key, WorkspaceOwner;
    GET  "/w/{slug}/settings/tokens"                        => tokens::page, WorkspaceOwner;
    POST "/w/{slug}/settings/tokens"                        => tokens::create, WorkspaceOwner;
    POST "/w/{slug}/settings/tokens/{id}/revoke"            => tokens::revoke, WorkspaceOwner;
    GET  "/w/{slug}/usage"                                  => usage::page, WorkspaceOwner;
    GET  "/w/{slug}/audit"                                  => workspace::audit, WorkspaceOwner;
    GET  "/w/{slug}/audit.csv"                              => workspace::audit_csv, WorkspaceOwner;
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn the_log_names_the_invitation_route_not_its_token() {
        assert_eq!(logged_path("/invite/abcDEF123_-token"), "/invite/{token}");
        assert_eq!(logged_path("/invite/"), "/invite/{token}");
        assert_eq!(logged_path("/v1/chat/completions"), "/v1/chat/completions");
        assert_eq!(logged_path("/admin/invitations"), "/admin/invitations");
    }
}
