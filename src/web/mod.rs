//! The web layer: thin handlers, typed extractors, pages, and the middleware frame.

pub mod assets;
pub mod charts;
pub mod credential_fields;
pub mod csrf;
pub(crate) mod csv;
pub mod error;
pub mod extractors;
pub mod forms;
pub mod handlers;
pub mod layout;
pub mod pager;
pub mod principals;
pub mod routes;
pub mod session_store;
