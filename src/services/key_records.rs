//! Provider settings and stored keys as the admin and owner use cases share them: settings
//! with their defaults, sealing a secret into its record and opening it again, the checks
//! on a typed key and label, and who to mail. The only place that touches `sealed`.

use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use crate::db::models::{ProviderKeyRow, ProviderSettingsRow};
use crate::db::schema::{memberships, provider_keys, provider_settings, users, workspaces};
use crate::db::{DbConn, now};
use crate::domain::credentials::secret::{API_KEY, check_secret};
use crate::domain::ids::{KeyId, UserId, WorkspaceId};
use crate::domain::providers::{self, Provider};
use crate::domain::resolution::{FailurePolicy, KeyStatus};
use crate::domain::roles::Role;
use crate::domain::vault::{self, Keyring, Scope};
use crate::error::{Error, Result};

/// The admin's settings for one provider; a provider never configured is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub provider: &'static Provider,
    pub enabled: bool,
    pub byok_enabled: bool,
    pub failure_policy: FailurePolicy,
}

impl Settings {
    /// Disabled, BYOK off, policy `fail`.
    pub fn defaults(provider: &'static Provider) -> Settings {
        Settings {
            provider,
            enabled: false,
            byok_enabled: false,
            failure_policy: FailurePolicy::Fail,
        }
    }

    fn from_row(provider: &'static Provider, row: &ProviderSettingsRow) -> Settings {
        Settings {
            provider,
            enabled: row.enabled,
            byok_enabled: row.byok_enabled,
            failure_policy: row.failure_policy,
        }
    }

    /// Whether owners may add keys now: the provider is on and BYOK is on.
    pub fn byok_available(&self) -> bool {
        self.enabled && self.byok_enabled
    }
}

/// Every catalogue provider's settings, in catalogue order (one query).
pub fn all_settings(conn: &mut DbConn) -> Result<Vec<Settings>> {
    let rows: Vec<ProviderSettingsRow> = crate::native!(conn, |c| provider_settings::table
        .select(ProviderSettingsRow::as_select())
        .load(c))?;
    Ok(providers::catalogue()
        .iter()
        .map(|p| match rows.iter().find(|r| r.provider == p.id) {
            Some(row) => Settings::from_row(p, row),
            None => Settings::defaults(p),
        })
        .collect())
}

/// One provider's settings.
pub fn settings(conn: &mut DbConn, provider: &'static Provider) -> Result<Settings> {
    let row: Option<ProviderSettingsRow> = provider_settings::table
        .find(provider.id)
        .select(ProviderSettingsRow::as_select())
        .get_result(conn)
        .optional()?;
    Ok(row.map_or_else(
        || Settings::defaults(provider),
        |r| Settings::from_row(provider, &r),
    ))
}

/// Writes one provider's settings (insert or update). Call inside a write transaction.
pub fn store_settings(conn: &mut DbConn, s: &Settings) -> Result<()> {
    let t = now();
    let updated = diesel::update(provider_settings::table.find(s.provider.id))
        .set((
            provider_settings::enabled.eq(s.enabled),
            provider_settings::byok_enabled.eq(s.byok_enabled),
            provider_settings::failure_policy.eq(s.failure_policy),
            provider_settings::updated_at.eq(t),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(provider_settings::table)
            .values(&ProviderSettingsRow {
                provider: s.provider.id.to_owned(),
                enabled: s.enabled,
                byok_enabled: s.byok_enabled,
                failure_policy: s.failure_policy,
                updated_at: t,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// The stored status of a row (unknown text reads as invalid, never usable: `db::types`).
pub fn status_of(row: &ProviderKeyRow) -> KeyStatus {
    row.status
}

/// The current (not removed) global keys of every provider.
pub fn global_keys(conn: &mut DbConn) -> Result<Vec<ProviderKeyRow>> {
    Ok(crate::native!(conn, |c| provider_keys::table
        .filter(provider_keys::scope.eq(Scope::Global))
        .filter(provider_keys::removed_at.is_null())
        .order(provider_keys::created_at.desc())
        .select(ProviderKeyRow::as_select())
        .load(c))?)
}

/// The provider's current global key, if one is stored.
pub fn global_key(conn: &mut DbConn, provider_id: &str) -> Result<Option<ProviderKeyRow>> {
    Ok(provider_keys::table
        .filter(provider_keys::scope.eq(Scope::Global))
        .filter(provider_keys::provider.eq(provider_id))
        .filter(provider_keys::removed_at.is_null())
        .order(provider_keys::created_at.desc())
        .select(ProviderKeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every key of a workspace, removed ones included, by provider then priority.
pub fn workspace_keys(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
) -> Result<Vec<ProviderKeyRow>> {
    Ok(crate::native!(conn, |c| provider_keys::table
        .filter(provider_keys::scope.eq(Scope::Workspace))
        .filter(provider_keys::workspace_id.eq(workspace_id))
        .order((
            provider_keys::provider.asc(),
            provider_keys::priority.asc(),
            provider_keys::id.asc(),
        ))
        .select(ProviderKeyRow::as_select())
        .load(c))?)
}

/// One key of the workspace; `NotFound` when it belongs to another workspace or none.
pub fn workspace_key(
    conn: &mut DbConn,
    workspace_id: &WorkspaceId,
    key_id: &KeyId,
) -> Result<ProviderKeyRow> {
    Ok(provider_keys::table
        .find(key_id)
        .filter(provider_keys::scope.eq(Scope::Workspace))
        .filter(provider_keys::workspace_id.eq(workspace_id))
        .select(ProviderKeyRow::as_select())
        .get_result(conn)?)
}

/// A key record by id, any scope (for the gateway and the CLI).
pub fn key_by_id(conn: &mut DbConn, key_id: &KeyId) -> Result<ProviderKeyRow> {
    Ok(provider_keys::table
        .find(key_id)
        .select(ProviderKeyRow::as_select())
        .get_result(conn)?)
}

/// What is stored beside a sealed secret.
pub struct SealedKey {
    pub sealed: Vec<u8>,
    pub master_key_id: String,
    pub mask: String,
    pub fingerprint: String,
}

/// Seals `secret` for the record (`scope`, workspace, provider, `key_id`) under the
/// active master key, with its mask and fingerprint.
pub fn seal(
    keyring: &Keyring,
    scope: Scope,
    workspace_id: Option<&WorkspaceId>,
    provider: &Provider,
    key_id: &KeyId,
    secret: &SecretString,
) -> Result<SealedKey> {
    let aad = vault::aad(scope, workspace_id, provider.id, key_id);
    let sealed = keyring
        .seal(secret, &aad)
        .map_err(|e| Error::Internal(anyhow::anyhow!("sealing a key: {e}")))?;
    Ok(SealedKey {
        sealed,
        master_key_id: keyring.active_id().to_owned(),
        mask: provider.mask_key(secret.expose_secret()),
        fingerprint: keyring.fingerprint(secret),
    })
}

/// A stored key could not be opened: wiped, tampered, moved to another record, or sealed
/// under a master key that is no longer configured. Never a reason to fall back silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key unavailable")]
pub struct KeyUnavailable {
    /// The record id (never the secret).
    pub key_id: KeyId,
}

impl From<KeyUnavailable> for Error {
    fn from(_: KeyUnavailable) -> Error {
        Error::Conflict(
            "Key unavailable: the stored key cannot be opened. Replace it with a new one.".into(),
        )
    }
}

/// The associated data a row's ciphertext must have been sealed with.
pub fn aad_of(row: &ProviderKeyRow) -> String {
    vault::aad(row.scope, row.workspace_id.as_ref(), &row.provider, &row.id)
}

/// The credential a provider's secret holds: an API key as it is, a structured
/// credential's sealed document read back.
pub fn credential_of(
    provider: &Provider,
    secret: &SecretString,
) -> Result<crate::domain::credentials::Credential> {
    use crate::domain::credentials::{Credential, CredentialKind};
    match provider.auth.credential_kind() {
        CredentialKind::ApiKey => Ok(Credential::ApiKey(secret.clone())),
        kind => Credential::from_opened(kind, secret).map_err(|_| {
            Error::Conflict(
                "Key unavailable: the stored credential cannot be read. Replace it with a new one."
                    .into(),
            )
        }),
    }
}

/// Opens a row's secret, for a resolved candidate (the gateway) or a key test.
pub fn open_secret(
    keyring: &Keyring,
    row: &ProviderKeyRow,
) -> Result<SecretString, KeyUnavailable> {
    let unavailable = || KeyUnavailable {
        key_id: row.id.clone(),
    };
    let blob = row.sealed.as_deref().ok_or_else(unavailable)?;
    let aad = aad_of(row);
    keyring.open(blob, &aad).map_err(|_| unavailable())
}

/// Wipes a key: the ciphertext goes, the row (label, mask, who, when) stays.
pub fn wipe(conn: &mut DbConn, key_id: &KeyId, by: Option<&UserId>) -> Result<()> {
    let t = now();
    diesel::update(provider_keys::table.find(key_id))
        .set((
            provider_keys::sealed.eq(None::<Vec<u8>>),
            provider_keys::master_key_id.eq(None::<String>),
            provider_keys::status.eq(KeyStatus::Removed),
            provider_keys::removed_at.eq(Some(t)),
            provider_keys::removed_by.eq(by),
            provider_keys::updated_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Checks a typed API key: outer whitespace trimmed, present, printable ASCII with no
/// space or control character inside, of a sane length. Nothing is repaired: a key that is
/// not exactly what the provider issued would be stored and fail later.
pub fn parse_secret(input: &SecretString) -> Result<SecretString> {
    check_secret(input.expose_secret(), API_KEY).map_err(|m| Error::invalid("api_key", m))
}

/// Checks a key's label, and refuses one that holds (or looks like) the key itself, since
/// labels are shown in pages, mail and the audit log.
pub fn parse_label(input: &str, secret: Option<&SecretString>) -> Result<String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Error::invalid(
            "label",
            "Enter a label, such as Production.",
        ));
    }
    if s.chars().any(char::is_control) || s.chars().count() > 60 {
        return Err(Error::invalid(
            "label",
            "Use at most 60 characters and no line breaks.",
        ));
    }
    if label_holds_key(s, secret) {
        return Err(Error::invalid(
            "label",
            "The label must not contain the key. Put the key in the API key field.",
        ));
    }
    Ok(s.to_owned())
}

/// Whether a label holds the key typed with it, or looks like a key: such a label is
/// refused, and never shown back in the form either.
pub fn label_holds_key(input: &str, secret: Option<&SecretString>) -> bool {
    let s = input.trim();
    let holds_secret = secret.is_some_and(|k| {
        let k = k.expose_secret().trim();
        (!k.is_empty() && s.contains(k)) || (s.len() >= 8 && k.contains(s))
    });
    let looks_like_key = !s.contains(' ')
        && s.len() >= 20
        && providers::catalogue()
            .iter()
            .flat_map(|p| p.key_prefixes.iter())
            .any(|prefix| s.starts_with(prefix));
    holds_secret || looks_like_key
}

/// Someone to mail, and the workspace it concerns.
#[derive(Debug, Clone)]
pub struct OwnerContact {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub workspace_slug: String,
}

/// The enabled owners of the given workspaces (all workspaces when `None`).
pub fn owners(
    conn: &mut DbConn,
    workspace_ids: Option<&[WorkspaceId]>,
) -> Result<Vec<OwnerContact>> {
    let mut q = memberships::table
        .inner_join(users::table)
        .inner_join(workspaces::table)
        .filter(memberships::role.eq(Role::Owner))
        .filter(users::disabled.eq(false))
        .into_boxed();
    if let Some(ids) = workspace_ids {
        q = q.filter(memberships::workspace_id.eq_any(ids.to_vec()));
    }
    let rows: Vec<(UserId, String, String, WorkspaceId, String, String)> = q
        .order((users::email.asc(), workspaces::name.asc()))
        .select((
            users::id,
            users::email,
            users::name,
            workspaces::id,
            workspaces::name,
            workspaces::slug,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, email, name, workspace_id, workspace_name, workspace_slug)| OwnerContact {
                user_id,
                email,
                name,
                workspace_id,
                workspace_name,
                workspace_slug,
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_holding_the_key_is_refused() {
        let key = SecretString::from("sk-proj-abcdefghijklmnop1234");
        assert!(parse_label("prod sk-proj-abcdefghijklmnop1234", Some(&key)).is_err());
        assert!(parse_label("sk-proj-abcdefghijklmnopqrstu", None).is_err());
        assert_eq!(
            parse_label(" Production ", Some(&key)).expect("fine"),
            "Production"
        );
    }

    #[test]
    fn a_typed_key_is_trimmed_and_must_be_one_word() {
        let k = parse_secret(&SecretString::from("  sk-abcdefgh1234 \n")).expect("ok");
        assert_eq!(k.expose_secret(), "sk-abcdefgh1234");
        assert!(parse_secret(&SecretString::from("sk-abc defgh1234")).is_err());
        assert!(parse_secret(&SecretString::from("   ")).is_err());
        assert!(parse_secret(&SecretString::from("short")).is_err());
        for bad in [
            "sk-abc\u{fffd}defgh1234",
            "sk-abc\u{7}defgh1234",
            "sk-abc\u{200b}defgh1234",
            "“sk-abcdefgh1234”",
        ] {
            assert!(parse_secret(&SecretString::from(bad)).is_err(), "{bad:?}");
        }
    }
}
