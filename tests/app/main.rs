//! Keyhold's integration tests: one binary, each test with its own app and database.

mod support;

mod helpers;
mod smoke;

mod access;
mod admin_search;
mod audit;
mod audit_chain;
mod audit_views;
mod browser;
mod byok;
mod canary;
mod catalogue;
mod chat_page;
mod cli;
mod cloud_gateway;
mod cloud_mocks;
mod csrf;
mod failures_explained;
mod faults;
mod faults_pg;
mod files;
mod gateway;
mod gateway_api;
mod gateway_failover;
mod hardening;
mod invitations;
mod mail;
mod mail_abuse;
mod metrics;
mod next_steps;
mod operator_pages;
mod passwords;
mod process;
mod propagation;
mod provider_misbehaves;
mod sdk;
mod sessions;
mod token_revocation;
mod usage_pages;
mod usage_queue;
mod usage_rollup;
