//! Keyhold: a self-hosted backoffice for Bring Your Own Key to AI providers.
//!
//! `domain` holds the rules (no HTTP, no SQL), `db` the data layer, `services` one use
//! case per function inside one transaction, and `web` the thin HTTP layer.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod logging;
pub mod metrics;
pub mod outbound;
pub mod private_files;
pub mod services;
pub mod startup;
pub mod state;
pub mod upstream;
pub mod web;

#[cfg(test)]
mod layout_tests;
