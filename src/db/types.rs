//! How the domain's types are stored: roles, key statuses, scopes, failure policies, key
//! sources and row ids are `Text` columns, read and written as the domain's enums and
//! newtypes, so no service converts or compares their text by hand.
//!
//! The impls are generic over the backend: they delegate to `String`/`str`, which SQLite,
//! PostgreSQL and the `MultiBackend` that `#[derive(MultiConnection)]` generates all store
//! as `Text`. One impl therefore serves a query through `DbConn` and one run on the
//! backend's own connection (`native!`). Diesel's own recipe for custom types on a
//! `MultiConnection` (`FromSql<ST, MultiBackend>` through `RawValue::from_sql`, `ToSql`
//! through `Output::set_value`) is for new SQL types; these are all plain `Text`.
//!
//! What an unknown stored text reads as is decided per type:
//! - a key status Keyhold does not know reads as `Invalid` (never usable; see
//!   `services::routes::status`), so a row written by a newer version fails closed;
//! - a failure policy it does not know reads as `Fail` (the platform never pays for a
//!   workspace's broken key);
//! - a role or a scope cannot be unknown (a `CHECK` constraint holds them); one would be a
//!   corrupt row, and reading it is an error;
//! - the usage tables' `source` ([`UsageSource`]) has no constraint: a text Keyhold does
//!   not know reads as no key (`none`), which is how the allowance and cost sums already
//!   count it (they add only `platform` and `workspace` rows), so no page fails on it and
//!   no spend is put on a payer it may not belong to. A bare [`Source`] (read only where
//!   the query keeps to those two) is strict.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text};

use crate::domain::ids::{KeyId, TokenId, UserId, WorkspaceId};
use crate::domain::resolution::{FailurePolicy, KeyStatus, Source};
use crate::domain::roles::Role;
use crate::domain::vault::Scope;

/// The parts every stored type shares: read as a row field, bound as a query value
/// (owned, borrowed, and into a nullable column).
macro_rules! text_column {
    ($ty:ty, owned = $owned:ty, |$v:ident| $text:expr) => {
        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                let $v = self;
                <str as ToSql<Text, DB>>::to_sql($text, out)
            }
        }

        impl<DB: Backend> ToSql<Nullable<Text>, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <$ty as ToSql<Text, DB>>::to_sql(self, out)
            }
        }

        impl<DB: Backend> Queryable<Text, DB> for $ty
        where
            $ty: FromSql<Text, DB>,
        {
            type Row = $ty;
            fn build(row: $ty) -> deserialize::Result<$ty> {
                Ok(row)
            }
        }

        impl AsExpression<Text> for $ty {
            type Expression = <$owned as AsExpression<Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = self;
                AsExpression::<Text>::as_expression(<$owned>::from($text))
            }
        }

        impl<'a> AsExpression<Text> for &'a $ty {
            type Expression = <&'a str as AsExpression<Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = self;
                AsExpression::<Text>::as_expression($text)
            }
        }

        impl AsExpression<Nullable<Text>> for $ty {
            type Expression = <$owned as AsExpression<Nullable<Text>>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = self;
                AsExpression::<Nullable<Text>>::as_expression(<$owned>::from($text))
            }
        }

        impl<'a> AsExpression<Nullable<Text>> for &'a $ty {
            type Expression = <&'a str as AsExpression<Nullable<Text>>>::Expression;
            fn as_expression(self) -> Self::Expression {
                let $v = self;
                AsExpression::<Nullable<Text>>::as_expression($text)
            }
        }
    };
}

/// A domain enum stored as its `as_str()` text; `$read` turns a stored text into it.
macro_rules! text_enum {
    ($ty:ty, $read:expr) => {
        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<$ty> {
                let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                let read: fn(&str) -> deserialize::Result<$ty> = $read;
                read(&text)
            }
        }

        text_column!($ty, owned = &'static str, |v| v.as_str());
    };
}

/// A row id stored as its text.
macro_rules! text_id {
    ($ty:ty) => {
        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<$ty> {
                <String as FromSql<Text, DB>>::from_sql(bytes).map(<$ty>::from_trusted)
            }
        }

        text_column!($ty, owned = String, |v| v.as_str());
    };
}

/// A corrupt row: a stored text that a `CHECK` constraint or the code should have kept out.
fn unknown(what: &str, text: &str) -> Box<dyn std::error::Error + Send + Sync> {
    format!("unknown {what} {text:?} in the database").into()
}

text_enum!(Role, |t| Role::parse(t).ok_or_else(|| unknown("role", t)));
text_enum!(KeyStatus, |t| Ok(
    KeyStatus::parse(t).unwrap_or(KeyStatus::Invalid)
));
text_enum!(FailurePolicy, |t| Ok(
    FailurePolicy::parse(t).unwrap_or_default()
));
text_enum!(Scope, |t| [Scope::Global, Scope::Workspace]
    .into_iter()
    .find(|s| s.as_str() == t)
    .ok_or_else(|| unknown("key scope", t)));
text_enum!(Source, |t| [Source::Workspace, Source::Platform]
    .into_iter()
    .find(|s| s.as_str() == t)
    .ok_or_else(|| unknown("key source", t)));

/// The usage tables' `source` column: whose key a metered call went to, or `None` (stored
/// as `none`) when none was tried — the call was refused before a key was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UsageSource(pub Option<Source>);

impl UsageSource {
    /// The stored text: the source's, or `none`.
    pub fn as_str(self) -> &'static str {
        self.0.map_or("none", Source::as_str)
    }

    /// Reads a stored text; one Keyhold does not know is `none` (see the module notes).
    pub fn read(text: &str) -> UsageSource {
        UsageSource(
            [Source::Workspace, Source::Platform]
                .into_iter()
                .find(|s| s.as_str() == text),
        )
    }
}

impl From<Option<Source>> for UsageSource {
    fn from(source: Option<Source>) -> UsageSource {
        UsageSource(source)
    }
}

text_enum!(UsageSource, |t| Ok(UsageSource::read(t)));

text_id!(UserId);
text_id!(WorkspaceId);
text_id!(KeyId);
text_id!(TokenId);

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::*;
    use crate::db::DbConn;

    diesel::table! {
        probe (id) {
            id -> Integer,
            word -> Text,
            maybe -> Nullable<Text>,
        }
    }

    fn conn() -> DbConn {
        let mut conn = crate::db::establish("sqlite://:memory:").expect("opens");
        diesel::sql_query(
            "CREATE TABLE probe (id INTEGER PRIMARY KEY, word TEXT NOT NULL, maybe TEXT)",
        )
        .execute(&mut conn)
        .expect("creates");
        conn
    }

    fn store(conn: &mut DbConn, id: i32, word: &str) {
        diesel::insert_into(probe::table)
            .values((probe::id.eq(id), probe::word.eq(word)))
            .execute(conn)
            .expect("inserts");
    }

    fn read<T>(conn: &mut DbConn, id: i32) -> QueryResult<T>
    where
        T: Queryable<Text, crate::db::MultiBackend> + 'static,
        T: FromSql<Text, crate::db::MultiBackend>,
    {
        probe::table
            .find(id)
            .select(probe::word)
            .get_result::<T>(conn)
    }

    #[test]
    fn enums_round_trip_through_both_connection_kinds() {
        let mut conn = conn();
        for (i, status) in KeyStatus::ALL.into_iter().enumerate() {
            let id = i32::try_from(i).expect("small");
            diesel::insert_into(probe::table)
                .values((
                    probe::id.eq(id),
                    probe::word.eq(status),
                    probe::maybe.eq(Some(Role::Owner)),
                ))
                .execute(&mut conn)
                .expect("inserts");
            assert_eq!(read::<KeyStatus>(&mut conn, id).expect("reads"), status);
            let native: (KeyStatus, Option<Role>) = crate::native!(&mut conn, |c| probe::table
                .find(id)
                .select((probe::word, probe::maybe))
                .get_result(c))
            .expect("reads natively");
            assert_eq!(native, (status, Some(Role::Owner)));
        }
        let n = probe::table
            .filter(probe::word.eq(KeyStatus::Removed))
            .count()
            .get_result::<i64>(&mut conn)
            .expect("counts");
        assert_eq!(n, 1, "an enum binds as its stored text");
    }

    #[test]
    fn unknown_stored_text_reads_as_decided_per_type() {
        let mut conn = conn();
        store(&mut conn, 1, "suspended_by_a_newer_version");
        assert_eq!(
            read::<KeyStatus>(&mut conn, 1).expect("reads"),
            KeyStatus::Invalid
        );
        assert_eq!(
            read::<FailurePolicy>(&mut conn, 1).expect("reads"),
            FailurePolicy::Fail
        );
        assert!(
            read::<Role>(&mut conn, 1).is_err(),
            "a role cannot be guessed"
        );
        assert!(read::<Scope>(&mut conn, 1).is_err(), "nor a scope");
        assert!(read::<Source>(&mut conn, 1).is_err(), "nor a bare source");
        assert_eq!(
            read::<UsageSource>(&mut conn, 1).expect("reads"),
            UsageSource(None),
            "a usage row's unknown source is no key: it counts as no one's spend"
        );
        for known in [Some(Source::Platform), Some(Source::Workspace), None] {
            store(&mut conn, 2, UsageSource(known).as_str());
            assert_eq!(
                read::<UsageSource>(&mut conn, 2).expect("reads"),
                UsageSource(known)
            );
            diesel::delete(probe::table.find(2))
                .execute(&mut conn)
                .expect("deletes");
        }
    }

    #[test]
    fn ids_round_trip_and_bind_as_text() {
        let mut conn = conn();
        let ws = WorkspaceId::random();
        diesel::insert_into(probe::table)
            .values((
                probe::id.eq(1),
                probe::word.eq(&ws),
                probe::maybe.eq(None::<UserId>),
            ))
            .execute(&mut conn)
            .expect("inserts");
        assert_eq!(read::<WorkspaceId>(&mut conn, 1).expect("reads"), ws);
        let found: Option<i32> = probe::table
            .filter(probe::word.eq(ws.clone()))
            .filter(probe::maybe.is_null())
            .select(probe::id)
            .first(&mut conn)
            .optional()
            .expect("finds");
        assert_eq!(found, Some(1));
    }
}
