//! Values parsed once at the edge and known good afterwards: emails, names, slugs, and
//! the typed ids of rows.

/// A lower-cased email address, safe to put in a mail header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Accepts a plausible address: one `@`, no spaces or control characters (so no CR/LF
    /// header injection), at most 254 characters.
    pub fn parse(input: &str) -> Result<Email, &'static str> {
        let s = input.trim();
        if s.is_empty() {
            return Err("Enter an email address.");
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("An email address cannot contain spaces or line breaks.");
        }
        if s.len() > 254 {
            return Err("That email address is too long.");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("Enter an email address like name@example.com.");
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') || !domain.contains('.') {
            return Err("Enter an email address like name@example.com.");
        }
        if s.contains(['<', '>', ',', ';', '"', '(', ')', '[', ']', '\\']) {
            return Err("Enter an email address like name@example.com.");
        }
        if s.parse::<lettre::Address>().is_err() {
            return Err("Enter an email address like name@example.com.");
        }
        Ok(Email(s.to_lowercase()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's display name: 1–100 characters, no control characters (it goes into mail
/// headers).
pub fn parse_name(input: &str) -> Result<String, &'static str> {
    let s = input.trim();
    if s.is_empty() {
        return Err("Enter a name.");
    }
    if s.chars().any(char::is_control) {
        return Err("A name cannot contain line breaks or control characters.");
    }
    if s.chars().count() > 100 {
        return Err("Keep the name under 100 characters.");
    }
    Ok(s.to_owned())
}

/// A workspace's URL name: 3–40 of `a-z0-9-`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSlug(String);

impl WorkspaceSlug {
    /// Parses a submitted slug.
    pub fn parse(input: &str) -> Result<WorkspaceSlug, &'static str> {
        let s = input.trim();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(3..=40).contains(&s.len()) || !ok_chars || s.starts_with('-') || s.ends_with('-') {
            return Err("Use 3–40 lowercase letters, digits and dashes (not at the start or end).");
        }
        Ok(WorkspaceSlug(s.to_owned()))
    }

    /// Derives a slug from a workspace name (`"Acme Labs"` → `acme-labs`).
    pub fn from_name(name: &str) -> WorkspaceSlug {
        let mut out = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        let mut out: String = out.trim_matches('-').chars().take(32).collect();
        out = out.trim_end_matches('-').to_owned();
        while out.len() < 3 {
            out.push('x');
        }
        WorkspaceSlug(out)
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new random id for a row.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Why a text is not an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an id")]
pub struct BadId;

/// Declares a row id: an opaque text (a UUID for the rows Keyhold creates) that only one
/// kind of row carries, so a workspace id cannot be passed where a key id is expected. It
/// reads as `&str` (`Deref`), so code that only shows or compares it needs nothing new.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn random() -> $name {
                $name(new_id())
            }

            /// Wraps a text read from a trusted place (a row, a cache entry), unchecked.
            pub fn from_trusted(id: String) -> $name {
                $name(id)
            }

            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Accepts what a URL or form may carry as an id: 1–64 ASCII letters, digits, `-`
        /// or `_` (never `|`, the separator of a sealed secret's associated data).
        impl std::str::FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<$name, BadId> {
                let ok = (1..=64).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if ok { Ok($name(s.to_owned())) } else { Err(BadId) }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

row_id!(
    /// A user's id.
    UserId
);
row_id!(
    /// A workspace's id.
    WorkspaceId
);
row_id!(
    /// A provider key's id (a workspace's key or a platform key).
    KeyId
);
row_id!(
    /// An API token's id.
    TokenId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rejects_header_injection_and_lowercases() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").expect("valid").as_str(),
            "ann@example.com"
        );
        // Surrounding whitespace (a trailing newline from a paste) is trimmed, not kept.
        assert_eq!(Email::parse("x@y.z\n").expect("valid").as_str(), "x@y.z");
        for bad in [
            "a@b.c\r\nBcc: x@y.z",
            "a b@c.d",
            "",
            "no-at.example",
            "a@nodot",
            "x@y.z\nBcc: a@b.c",
            "\"a\"@b.c",
            "a@b@c.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ids_parse_what_a_url_carries_and_refuse_the_rest() {
        let id = WorkspaceId::random();
        assert_eq!(id.as_str().parse::<WorkspaceId>(), Ok(id.clone()));
        assert_eq!(id.to_string(), id.as_str());
        for bad in ["", "a|b", "a b", "../x", &"x".repeat(65)] {
            assert_eq!(bad.parse::<KeyId>(), Err(BadId), "{bad:?}");
        }
        let json = serde_json::to_string(&id).expect("serializes");
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(
            serde_json::from_str::<WorkspaceId>(&json).expect("reads"),
            id
        );
    }

    #[test]
    fn names_refuse_line_breaks() {
        assert!(parse_name("Ann\r\nBcc: x@y.z").is_err());
        assert!(parse_name("   ").is_err());
        assert_eq!(parse_name(" Ann Lee ").expect("valid"), "Ann Lee");
    }

    #[test]
    fn slugs_parse_and_derive() {
        assert!(WorkspaceSlug::parse("acme-labs").is_ok());
        for bad in ["ab", "-acme", "acme-", "Acme", "acme labs", "ä-ws"] {
            assert!(WorkspaceSlug::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(WorkspaceSlug::from_name("Acme Labs!").as_str(), "acme-labs");
        assert_eq!(WorkspaceSlug::from_name("Ω").as_str(), "xxx");
        assert!(
            WorkspaceSlug::parse(
                WorkspaceSlug::from_name("  A  very long name that goes on and on forever ")
                    .as_str()
            )
            .is_ok()
        );
    }
}
