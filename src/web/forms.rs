//! Small helpers shared by form handlers: redirects and inline errors.

use actix_web::HttpResponse;
use actix_web::http::header;

use crate::error::Error;

/// A 303 redirect (after a successful POST).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// An id from a URL path, parsed at the edge: a malformed one names nothing, so it is the
/// same 404 as an unknown one (never a 500).
pub fn path_id<T: std::str::FromStr>(text: &str) -> Result<T, Error> {
    text.parse().map_err(|_| Error::NotFound)
}

/// Inline errors for a form: the field that is wrong and the sentence to show beside it.
#[derive(Debug, Default, Clone)]
pub struct FormErrors {
    pub field: Option<&'static str>,
    pub message: Option<String>,
}

impl FormErrors {
    /// Turns an input error into inline errors; any other error is passed back.
    pub fn from_error(e: Error) -> Result<FormErrors, Error> {
        match e {
            Error::Invalid { field, message } => Ok(FormErrors {
                field: Some(field),
                message: Some(message),
            }),
            Error::Conflict(message) | Error::Throttled(message) => Ok(FormErrors {
                field: Some("form"),
                message: Some(message),
            }),
            other => Err(other),
        }
    }

    /// The message for `field`, if that is the field at fault.
    pub fn get(&self, field: &str) -> Option<String> {
        (self.field == Some(field))
            .then(|| self.message.clone())
            .flatten()
    }

    /// Whether there is any error.
    pub fn any(&self) -> bool {
        self.message.is_some()
    }
}
