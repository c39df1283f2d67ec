//! Typed access: a handler that takes `PlatformAdmin` or `WorkspaceOwner` cannot forget the
//! role check. Anyone outside a workspace gets 404 for it (no existence leak); a member on
//! an owner page gets 403.

use std::net::IpAddr;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::layout::{Layout, NavUser, NavWorkspace, take_flash};
use crate::domain::ids::UserId;
use crate::domain::roles::Role;
use crate::error::Error;
use crate::services::audit::Actor;
use crate::state::AppState;

/// Session keys for the signed-in user.
pub const SESSION_USER: &str = "uid";
pub const SESSION_EPOCH: &str = "ep";

pub use crate::services::principals::MembershipInfo;

/// A signed-in, enabled user whose session is current.
#[derive(Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub memberships: Vec<MembershipInfo>,
    pub session: Session,
    pub ip: Option<String>,
}

impl CurrentUser {
    /// The actor for audit events.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.id.clone()),
            email: Some(self.email.clone()),
            ip: self.ip.clone(),
        }
    }

    /// The page frame for this user.
    pub fn layout(&self, title: impl Into<String>, section: &'static str) -> Layout {
        Layout {
            title: title.into(),
            user: Some(NavUser {
                email: self.email.clone(),
                name: self.name.clone(),
                is_admin: self.is_admin,
            }),
            workspaces: self
                .memberships
                .iter()
                .map(|m| NavWorkspace {
                    slug: m.slug.clone(),
                    name: m.name.clone(),
                    is_owner: m.role == Role::Owner,
                })
                .collect(),
            current_ws: None,
            section,
            csrf: super::csrf::token(&self.session),
            flash: take_flash(&self.session),
            asset_v: super::assets::version(),
        }
    }
}

/// The frame for a page seen while signed out.
pub fn anonymous_layout(session: &Session, title: impl Into<String>) -> Layout {
    Layout {
        title: title.into(),
        csrf: super::csrf::token(session),
        flash: take_flash(session),
        ..Layout::bare("")
    }
}

/// The client's address: the peer, or the nearest untrusted `X-Forwarded-For` hop when the
/// peer is a trusted proxy.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let trusted = |ip: IpAddr| state.config.trusted_proxies.iter().any(|n| n.contains(&ip));
    if !trusted(peer) {
        return Some(peer.to_string());
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let hops: Vec<IpAddr> = forwarded
        .split(',')
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .collect();
    let client = hops
        .iter()
        .rev()
        .find(|ip| !trusted(**ip))
        .or(hops.first())
        .copied();
    Some(client.unwrap_or(peer).to_string())
}

/// The app state from a request.
pub fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, Error> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("application state missing")))
}

impl FromRequest for CurrentUser {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(cached) = req.extensions().get::<CurrentUser>() {
                return Ok(cached.clone());
            }
            let session = req.get_session();
            if super::session_store::unavailable(&session) {
                return Err(Error::Unavailable(
                    "the session store is unavailable".into(),
                ));
            }
            let uid = session.get::<UserId>(SESSION_USER).ok().flatten();
            let epoch = session.get::<i64>(SESSION_EPOCH).ok().flatten();
            let (Some(uid), Some(epoch)) = (uid, epoch) else {
                return Err(Error::SignInRequired);
            };
            let state = app_state(&req)?;
            let loaded = state.principals.get(&state, &uid).await?;
            match loaded {
                Some(user) if !user.disabled && user.session_epoch == epoch => {
                    let current = CurrentUser {
                        id: uid,
                        email: user.email.clone(),
                        name: user.name.clone(),
                        is_admin: user.is_admin,
                        memberships: user.memberships.clone(),
                        session,
                        ip: client_ip(&req, &state),
                    };
                    req.extensions_mut().insert(current.clone());
                    Ok(current)
                }
                _ => {
                    // Disabled, signed out everywhere, or deleted: this session is over.
                    session.purge();
                    Err(Error::SignInRequired)
                }
            }
        })
    }
}

/// A platform admin.
#[derive(Clone)]
pub struct PlatformAdmin(pub CurrentUser);

impl FromRequest for PlatformAdmin {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.is_admin {
                Ok(PlatformAdmin(user))
            } else {
                Err(Error::Forbidden)
            }
        })
    }
}

/// A member (any role) of the workspace named by the `{slug}` path segment.
#[derive(Clone)]
pub struct WorkspaceMember {
    pub user: CurrentUser,
    pub workspace: MembershipInfo,
}

impl WorkspaceMember {
    /// The page frame with the workspace's navigation.
    pub fn layout(&self, title: impl Into<String>, section: &'static str) -> Layout {
        let mut layout = self.user.layout(title, section);
        layout.current_ws = Some(NavWorkspace {
            slug: self.workspace.slug.clone(),
            name: self.workspace.name.clone(),
            is_owner: self.workspace.role == Role::Owner,
        });
        layout
    }

    /// Whether this member owns the workspace.
    pub fn is_owner(&self) -> bool {
        self.workspace.role == Role::Owner
    }
}

impl FromRequest for WorkspaceMember {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let slug = req.match_info().get("slug").map(str::to_owned);
        let user = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            let slug = slug.ok_or(Error::NotFound)?;
            let workspace = user
                .memberships
                .iter()
                .find(|m| m.slug == slug)
                .cloned()
                .ok_or(Error::NotFound)?;
            Ok(WorkspaceMember { user, workspace })
        })
    }
}

/// An owner of the workspace named by `{slug}`.
#[derive(Clone)]
pub struct WorkspaceOwner(pub WorkspaceMember);

impl FromRequest for WorkspaceOwner {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let member = WorkspaceMember::from_request(req, payload);
        Box::pin(async move {
            let member = member.await?;
            if member.is_owner() {
                Ok(WorkspaceOwner(member))
            } else {
                Err(Error::Forbidden)
            }
        })
    }
}

/// The client address and session of an anonymous visitor.
pub struct Visitor {
    pub session: Session,
    pub ip: Option<String>,
}

impl Visitor {
    /// The actor for audit events.
    pub fn actor(&self, email: Option<String>) -> Actor {
        Actor {
            user_id: None,
            email,
            ip: self.ip.clone(),
        }
    }
}

impl FromRequest for Visitor {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = app_state(req).ok().and_then(|s| client_ip(req, &s));
        std::future::ready(Ok(Visitor {
            session: req.get_session(),
            ip,
        }))
    }
}
