//! The web's shared state: the services' context, the gateway and the signed-in users.
//! Only the web layer and start-up see it; services and the gateway take the narrower
//! [`Ctx`] it dereferences to.

use std::sync::Arc;

use crate::services::Ctx;

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// What the services need.
    pub ctx: Ctx,
    /// The API gateway's cache, limits and usage queue.
    pub gateway: Arc<crate::gateway::Gateway>,
    /// Signed-in users, kept between requests where that is safe.
    pub principals: Arc<crate::web::principals::Principals>,
}

impl std::ops::Deref for AppState {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}
