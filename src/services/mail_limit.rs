//! Per-recipient limits on the mail a stranger can trigger (SPEC §11): password resets and
//! invitations. Counted in the database, so that every instance shares one count; a row is
//! keyed by a hash of the mail's kind and the normalized address, so the table holds no
//! address.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::mail_limits;
use crate::db::{DbConn, now};
use crate::domain::tokens;
use crate::error::Result;

/// How long mails are counted: a recipient's count starts again after this.
pub const WINDOW_SECS: i64 = 3600;

/// The kinds of mail that are limited per recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// "Forgot password": anyone who knows an address can ask.
    PasswordReset,
    /// An invitation to a workspace: any owner (and anyone may own a workspace after
    /// signing up) can send one to any address.
    Invitation,
}

impl MailKind {
    fn name(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::Invitation => "invitation",
        }
    }

    /// How many mails of this kind one address gets within [`WINDOW_SECS`].
    pub fn limit(self) -> i32 {
        match self {
            MailKind::PasswordReset => 3,
            MailKind::Invitation => 5,
        }
    }
}

/// The address as the limit counts it: trimmed, lower-cased, and without a `+tag` in the
/// local part (`ann+1@x.test` and `ann+2@x.test` reach one mailbox, so they share a count).
fn normalized(address: &str) -> String {
    let address = address.trim().to_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}@{domain}")
        }
        None => address,
    }
}

fn key(kind: MailKind, address: &str) -> String {
    let digest = Sha256::digest(format!(
        "keyhold/mail-limit|{}|{}",
        kind.name(),
        normalized(address)
    ));
    tokens::hex(&digest)
}

/// Counts one mail of `kind` to `address` when the address is under its limit and returns
/// `true`; returns `false`, counting nothing, when the limit is reached. Call it inside the
/// transaction that queues the mail, so a mail that is not queued is not counted either.
pub fn try_count(conn: &mut DbConn, kind: MailKind, address: &str) -> Result<bool> {
    let t = now();
    let key = key(kind, address);
    // Windows that ended are forgotten (this one's too, which starts it again).
    diesel::delete(mail_limits::table.filter(mail_limits::window_start.le(t - WINDOW_SECS)))
        .execute(conn)?;
    let row = (
        mail_limits::key.eq(&key),
        mail_limits::sent.eq(0),
        mail_limits::window_start.eq(t),
    );
    crate::native!(conn, |c| diesel::insert_into(mail_limits::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    // One statement that both checks and counts: two instances counting the same address at
    // once are serialized on the row, and the second sees the first one's count.
    let counted = diesel::update(
        mail_limits::table
            .find(&key)
            .filter(mail_limits::sent.lt(kind.limit())),
    )
    .set(mail_limits::sent.eq(mail_limits::sent + 1))
    .execute(conn)?;
    Ok(counted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_counts_the_same_however_it_is_written() {
        let k = key(MailKind::Invitation, "ann@example.test");
        assert_eq!(key(MailKind::Invitation, " Ann@Example.TEST "), k);
        assert_eq!(key(MailKind::Invitation, "ann+promo@example.test"), k);
        assert_ne!(key(MailKind::PasswordReset, "ann@example.test"), k);
        assert_ne!(key(MailKind::Invitation, "bob@example.test"), k);
        assert!(!k.contains("ann"), "the key holds no address");
    }
}
