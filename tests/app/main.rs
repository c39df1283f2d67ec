//! Keyhold's integration tests: one binary, each test with its own app and database.

mod support;

mod helpers;
mod smoke;

mod audit;
mod audit_views;
mod mail;
mod sessions;
