//! Keyhold's integration tests: one binary, each test with its own app and database.

mod support;

mod helpers;
mod smoke;

mod access;
mod admin_search;
mod audit;
mod audit_views;
mod browser;
mod byok;
mod canary;
mod cli;
mod csrf;
mod faults;
mod faults_pg;
mod files;
mod gateway;
mod gateway_api;
mod gateway_failover;
mod invitations;
mod mail;
mod mail_abuse;
mod metrics;
mod passwords;
mod process;
mod sdk;
mod sessions;
mod usage_pages;
mod usage_rollup;
