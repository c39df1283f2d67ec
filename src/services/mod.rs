//! Use cases: each runs inside one transaction and writes its audit event with the change.

pub mod accounts;
pub mod audit;
pub mod mail;
pub mod settings;
pub mod throttle;
pub mod workspaces;
