//! `keyhold seed-demo`: a platform with many workspaces, keys and audit events, for the
//! benchmarks and for trying Keyhold out. Writes in large transactions, bypassing the
//! per-change services (the audit chain is still computed, so `audit verify` holds).

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::json;

use super::audit::Actor;
use super::audit_chain as chain;
use super::{api_tokens, key_records};
use crate::db::models::{AuditRow, Membership, ProviderKeyRow, User, Workspace};
use crate::db::schema::{
    audit_events, memberships, provider_keys, provider_settings, users, workspaces,
};
use crate::db::{DbConn, now, write_tx};
use crate::domain::audit::{ChainKey, ChainedFields, Head, chain_hash};
use crate::domain::credentials::{Bedrock, Credential};
use crate::domain::ids::{KeyId, UserId, WorkspaceId, new_id};
use crate::domain::password;
use crate::domain::providers::{self, Provider};
use crate::domain::resolution::{FailurePolicy, KeyStatus};
use crate::domain::roles::Role;
use crate::domain::vault::{Keyring, Scope};
use crate::error::{Error, Result};

/// How much to create.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub workspaces: usize,
    pub keys: usize,
    pub audit: usize,
    /// The global OpenAI key and every workspace key get this secret (a mock accepts any).
    pub secret: String,
}

/// What was created that the caller needs.
pub struct SeedReport {
    pub admin_email: String,
    pub admin_password: String,
    pub first_workspace: String,
    pub token: String,
}

const BATCH: usize = 1000;

fn provider(id: &str) -> Result<&'static Provider> {
    providers::find(id)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("provider {id} missing from the catalogue")))
}

/// Creates the demo data; returns the admin's credentials and an API token of the first
/// workspace.
pub fn seed_demo(conn: &mut DbConn, keyring: &Keyring, opts: &SeedOptions) -> Result<SeedReport> {
    let t = now();
    let admin_password = crate::domain::tokens::generate("")[..20].to_owned();
    let hash =
        password::hash(&SecretString::from(admin_password.clone())).map_err(Error::Internal)?;
    let stamp = &new_id()[..8];
    let admin = User {
        id: UserId::random(),
        email: format!("admin+{stamp}@demo.keyhold.test"),
        name: "Demo Admin".into(),
        password_hash: hash.clone(),
        is_admin: true,
        disabled: false,
        session_epoch: 1,
        created_at: t,
        updated_at: t,
    };
    let openai = provider("openai")?;
    let secret = SecretString::from(opts.secret.clone());
    write_tx(conn, |c| {
        diesel::insert_into(users::table)
            .values(&admin)
            .execute(c)?;
        for p in providers::catalogue() {
            diesel::delete(provider_settings::table.find(p.id)).execute(c)?;
            diesel::insert_into(provider_settings::table)
                .values((
                    provider_settings::provider.eq(p.id),
                    provider_settings::enabled.eq(p.id == "openai" || p.id == "anthropic"),
                    provider_settings::byok_enabled.eq(true),
                    provider_settings::failure_policy.eq(FailurePolicy::Fail),
                    provider_settings::updated_at.eq(t),
                ))
                .execute(c)?;
        }
        for p in [openai, provider("anthropic")?] {
            let id = KeyId::random();
            let sealed = key_records::seal(keyring, Scope::Global, None, p, &id, &secret)?;
            diesel::insert_into(provider_keys::table)
                .values(&key_row(
                    id,
                    Scope::Global,
                    None,
                    p,
                    "Global key",
                    0,
                    sealed,
                    t,
                ))
                .execute(c)?;
        }
        Ok::<_, Error>(())
    })?;

    let mut first_workspace = String::new();
    let mut ws_ids = Vec::with_capacity(opts.workspaces);
    for chunk_start in (0..opts.workspaces).step_by(BATCH) {
        let end = (chunk_start + BATCH).min(opts.workspaces);
        write_tx(conn, |c| {
            for i in chunk_start..end {
                let ws = Workspace {
                    id: WorkspaceId::random(),
                    slug: format!("demo-{stamp}-{i:05}"),
                    name: format!("Demo workspace {i}"),
                    allowance_tokens: None,
                    created_at: t,
                };
                let owner = User {
                    id: UserId::random(),
                    email: format!("owner{i}+{stamp}@demo.keyhold.test"),
                    name: format!("Owner {i}"),
                    password_hash: hash.clone(),
                    is_admin: false,
                    disabled: false,
                    session_epoch: 1,
                    created_at: t,
                    updated_at: t,
                };
                diesel::insert_into(workspaces::table)
                    .values(&ws)
                    .execute(c)?;
                diesel::insert_into(users::table)
                    .values(&owner)
                    .execute(c)?;
                diesel::insert_into(memberships::table)
                    .values(&Membership {
                        workspace_id: ws.id.clone(),
                        user_id: owner.id.clone(),
                        role: Role::Owner,
                        created_at: t,
                    })
                    .execute(c)?;
                if first_workspace.is_empty() {
                    first_workspace = ws.slug.clone();
                }
                ws_ids.push(ws.id);
            }
            Ok::<_, Error>(())
        })?;
    }

    for chunk_start in (0..opts.keys).step_by(BATCH) {
        let end = (chunk_start + BATCH).min(opts.keys);
        write_tx(conn, |c| {
            for i in chunk_start..end {
                let Some(ws) = ws_ids.get(i % ws_ids.len().max(1)) else {
                    break;
                };
                let id = KeyId::random();
                let sealed =
                    key_records::seal(keyring, Scope::Workspace, Some(ws), openai, &id, &secret)?;
                let row = key_row(
                    id,
                    Scope::Workspace,
                    Some(ws.clone()),
                    openai,
                    &format!("Key {i}"),
                    (i / ws_ids.len().max(1)) as i32,
                    sealed,
                    t,
                );
                diesel::insert_into(provider_keys::table)
                    .values(&row)
                    .execute(c)?;
            }
            Ok::<_, Error>(())
        })?;
    }

    seed_audit(conn, keyring, opts.audit, &admin, &ws_ids, t)?;

    // A bulk load leaves PostgreSQL's planner statistics behind until autovacuum comes by
    // (up to a minute or more); pages measured right after seeding would get plans made for
    // empty tables.
    if matches!(conn, DbConn::Postgres(_)) {
        diesel::sql_query("ANALYZE").execute(conn)?;
    }

    let actor = Actor {
        user_id: Some(admin.id.clone()),
        email: Some(admin.email.clone()),
        ip: None,
    };
    let token = match ws_ids.first() {
        None => String::new(),
        Some(ws_id) => api_tokens::create(conn, keyring, &actor, ws_id, "Benchmark")?.1,
    };
    Ok(SeedReport {
        admin_email: admin.email,
        admin_password,
        first_workspace,
        token,
    })
}

/// The demo Bedrock key: AWS's documentation example, which only a mock accepts.
const DEMO_AWS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const DEMO_AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const DEMO_AWS_REGION: &str = "us-east-1";

/// Turns AWS Bedrock on with a global key (the benchmark's Bedrock round: point
/// `KEYHOLD_PROVIDER_BEDROCK_BASE_URL` at a mock). The credential is sealed as the admin's
/// page seals a global key: its document, to its record.
pub fn seed_bedrock(conn: &mut DbConn, keyring: &Keyring) -> Result<()> {
    let bedrock = provider("bedrock")?;
    let cred = Credential::Bedrock(Bedrock {
        access_key_id: DEMO_AWS_KEY_ID.to_owned(),
        secret_access_key: SecretString::from(DEMO_AWS_SECRET),
        session_token: None,
        region: DEMO_AWS_REGION.to_owned(),
    });
    let t = now();
    write_tx(conn, |c| {
        diesel::update(provider_settings::table.find(bedrock.id))
            .set((
                provider_settings::enabled.eq(true),
                provider_settings::updated_at.eq(t),
            ))
            .execute(c)?;
        let id = KeyId::random();
        let sealed = key_records::seal(
            keyring,
            Scope::Global,
            None,
            bedrock,
            &id,
            &cred.to_sealed_json(),
        )?;
        diesel::insert_into(provider_keys::table)
            .values(&key_row(
                id,
                Scope::Global,
                None,
                bedrock,
                "Global key",
                0,
                sealed,
                t,
            ))
            .execute(c)?;
        Ok::<_, Error>(())
    })
}

#[allow(clippy::too_many_arguments)]
fn key_row(
    id: KeyId,
    scope: Scope,
    ws: Option<WorkspaceId>,
    p: &Provider,
    label: &str,
    priority: i32,
    s: key_records::SealedKey,
    t: i64,
) -> ProviderKeyRow {
    ProviderKeyRow {
        id,
        scope,
        workspace_id: ws,
        provider: p.id.to_owned(),
        label: label.to_owned(),
        priority,
        sealed: Some(s.sealed),
        master_key_id: Some(s.master_key_id),
        mask: s.mask,
        fingerprint: s.fingerprint,
        status: KeyStatus::Active,
        last_tested_at: None,
        last_test_result: None,
        last_used_at: None,
        created_by: None,
        created_at: t,
        updated_at: t,
        removed_at: None,
        removed_by: None,
    }
}

/// Appends `n` events to the chain, in batches, keeping it verifiable.
fn seed_audit(
    conn: &mut DbConn,
    keyring: &Keyring,
    n: usize,
    admin: &User,
    ws_ids: &[WorkspaceId],
    t: i64,
) -> Result<()> {
    let key = ChainKey::active(keyring)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no active master key")))?;
    const ACTIONS: [&str; 5] = [
        "user.signed_in",
        "workspace_key.tested",
        "member.added",
        "provider.byok_enabled",
        "api_token.created",
    ];
    let mut done = 0;
    while done < n {
        let count = BATCH.min(n - done);
        write_tx(conn, |c| {
            let head = chain::head_for_append(c, keyring)?;
            let (mut last_id, mut last_hash) = (head.last_id, head.last_hash.clone());
            for k in 0..count {
                let i = done + k;
                let id = last_id + 1;
                let ws = ws_ids.get(i % ws_ids.len().max(1)).map(WorkspaceId::as_str);
                let action = ACTIONS[i % ACTIONS.len()];
                let details = json!({ "seeded": true, "n": i }).to_string();
                // Spread the events over the last 90 days, oldest first.
                let at = t - 90 * 86_400 + (i as i64 * 90 * 86_400) / n.max(1) as i64;
                let hash = chain_hash(
                    &last_hash,
                    &ChainedFields {
                        id,
                        at,
                        actor_id: Some(&admin.id),
                        actor_email: Some(&admin.email),
                        ip: Some("127.0.0.1"),
                        workspace_id: ws,
                        action,
                        target: Some("seed"),
                        details: &details,
                    },
                );
                diesel::insert_into(audit_events::table)
                    .values(&AuditRow {
                        id,
                        at,
                        actor_id: Some(admin.id.to_string()),
                        actor_email: Some(admin.email.clone()),
                        ip: Some("127.0.0.1".into()),
                        workspace_id: ws.map(str::to_owned),
                        action: action.into(),
                        target: Some("seed".into()),
                        details,
                        prev_hash: last_hash.clone(),
                        mac: Some(key.event_mac(id, &hash)),
                        hash: hash.clone(),
                        key_version: Some(key.version().to_owned()),
                    })
                    .execute(c)?;
                last_id = id;
                last_hash = hash;
            }
            chain::write_head(
                c,
                &key,
                &Head {
                    last_id,
                    last_hash,
                    ..head
                },
            )?;
            Ok::<_, Error>(())
        })?;
        done += count;
    }
    Ok(())
}
