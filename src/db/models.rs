//! Row types: what the tables hold, read and written by the services.

use diesel::prelude::*;

use super::schema::*;
use crate::domain::ids::{KeyId, UserId, WorkspaceId};
use crate::domain::resolution::{FailurePolicy, KeyStatus};
use crate::domain::roles::Role;
use crate::domain::vault::Scope;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub session_epoch: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = workspaces)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub slug: String,
    pub name: String,
    pub allowance_tokens: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub role: Role,
    pub token_hash: String,
    pub invited_by: Option<UserId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_resets)]
pub struct PasswordReset {
    pub token_hash: String,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// An audit event as stored. Its ids stay text, not the typed ids of the other rows: an
/// event outlives what it names (a removed member, a deleted workspace or key), and its
/// columns are hashed into the chain exactly as written.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub ip: Option<String>,
    pub workspace_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
    /// The master-key version whose derived key MACed `hash`; `None` for the events
    /// written before the chain was keyed.
    pub key_version: Option<String>,
    /// HMAC-SHA256 of `hash` under that key (hex).
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub to_addr: String,
    pub to_name: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub created_at: i64,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = provider_settings)]
pub struct ProviderSettingsRow {
    pub provider: String,
    pub enabled: bool,
    pub byok_enabled: bool,
    pub failure_policy: FailurePolicy,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = provider_keys)]
pub struct ProviderKeyRow {
    pub id: KeyId,
    pub scope: Scope,
    pub workspace_id: Option<WorkspaceId>,
    pub provider: String,
    pub label: String,
    pub priority: i32,
    pub sealed: Option<Vec<u8>>,
    pub master_key_id: Option<String>,
    pub mask: String,
    pub fingerprint: String,
    /// A status Keyhold does not know reads as `Invalid` (`db::types`).
    pub status: KeyStatus,
    pub last_tested_at: Option<i64>,
    pub last_test_result: Option<String>,
    pub last_used_at: Option<i64>,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
    pub removed_at: Option<i64>,
    pub removed_by: Option<UserId>,
}
