//! What every page's frame needs: the user, their workspaces, the CSRF token and a flash.

use actix_session::Session;
use serde::{Deserialize, Serialize};

/// The signed-in user as the navigation shows them.
#[derive(Debug, Clone)]
pub struct NavUser {
    pub email: String,
    pub name: String,
    pub is_admin: bool,
}

/// A workspace in the navigation.
#[derive(Debug, Clone)]
pub struct NavWorkspace {
    pub slug: String,
    pub name: String,
    pub is_owner: bool,
}

/// A one-time message shown at the top of the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: String,
    pub message: String,
    /// Where a "Test again" button posts, for a key saved but not known to work.
    #[serde(default)]
    pub retry: Option<String>,
}

/// The frame of every page (see templates/base.html).
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub user: Option<NavUser>,
    pub workspaces: Vec<NavWorkspace>,
    pub current_ws: Option<NavWorkspace>,
    pub section: &'static str,
    pub csrf: String,
    pub flash: Option<Flash>,
    pub asset_v: &'static str,
}

impl Layout {
    /// A frame with no user and no session (error pages).
    pub fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            user: None,
            workspaces: Vec::new(),
            current_ws: None,
            section: "",
            csrf: String::new(),
            flash: None,
            asset_v: super::assets::version(),
        }
    }
}

const FLASH_KEY: &str = "flash";

/// Queues a success message for the next page.
pub fn flash_success(session: &Session, message: impl Into<String>) {
    set_flash(session, "success", message.into());
}

/// Queues a warning for the next page (done, but with something to look at).
pub fn flash_warning(session: &Session, message: impl Into<String>) {
    set_flash(session, "warning", message.into());
}

/// Queues a warning with a "Test again" button posting to `retry` (a key test's URL).
pub fn flash_warning_retry(session: &Session, message: impl Into<String>, retry: String) {
    let _ = session.insert(
        FLASH_KEY,
        Flash {
            kind: "warning".to_owned(),
            message: message.into(),
            retry: Some(retry),
        },
    );
}

/// Queues an error message for the next page.
pub fn flash_error(session: &Session, message: impl Into<String>) {
    set_flash(session, "error", message.into());
}

fn set_flash(session: &Session, kind: &str, message: String) {
    let _ = session.insert(
        FLASH_KEY,
        Flash {
            kind: kind.to_owned(),
            message,
            retry: None,
        },
    );
}

/// Takes the queued message, if any.
pub fn take_flash(session: &Session) -> Option<Flash> {
    if !session.contains_key(FLASH_KEY) {
        return None;
    }
    session.remove_as::<Flash>(FLASH_KEY).and_then(Result::ok)
}
