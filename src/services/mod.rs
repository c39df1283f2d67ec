//! Use cases: each runs inside one transaction and writes its audit event with the change.

pub mod accounts;
pub mod api_tokens;
pub mod audit;
pub mod audit_chain;
pub mod chat;
pub mod explain;
pub mod global_keys;
pub mod integrations;
pub mod key_health;
pub mod key_lifecycle;
pub mod key_mail;
pub mod key_records;
pub mod keys;
pub mod mail;
pub mod mail_limit;
pub mod mail_text;
pub mod rotation;
pub mod seed;
pub mod settings;
pub mod sign_in;
pub mod sign_up;
pub mod throttle;
pub mod token_revocation;
pub mod usage_report;
pub mod workspaces;
