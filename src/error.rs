//! The error policy: services say what went wrong as a value; the web layer maps each to a
//! status and a page. Unexpected causes are logged with the request id, never shown.

/// What can go wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing does not exist, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    /// The caller is known but lacks the role.
    #[error("forbidden")]
    Forbidden,
    /// The caller must sign in first.
    #[error("sign-in required")]
    SignInRequired,
    /// Submitted input is wrong; `field` names the form field, `message` says how to fix it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The request is fine but conflicts with the current state ("last owner", "already a member").
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts.
    #[error("{0}")]
    Throttled(String),
    /// A dependency (the database) is down; try again shortly.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged, shown as a short sentence with the request id.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// An input error for `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match e {
            D::NotFound => Error::NotFound,
            // The server went away (`UnableToSendCommand`: libpq could not even send).
            D::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Error::Unavailable(info.message().to_owned()),
            other => Error::Internal(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

/// Result of a use case.
pub type Result<T, E = Error> = std::result::Result<T, E>;
