//! The checks every typed secret goes through (API keys, AWS secrets, session tokens):
//! trimmed, present, undamaged, printable ASCII without spaces, of a sane length. Nothing
//! is repaired: a secret that is not exactly what the provider issued would fail later.

use secrecy::SecretString;

/// How to name a secret in messages, and how long it may be.
#[derive(Debug, Clone, Copy)]
pub struct SecretRules {
    /// "API key", "secret access key", ...
    pub noun: &'static str,
    /// "An API key", "A secret access key", ...
    pub a_noun: &'static str,
    pub min_len: usize,
    pub max_len: usize,
}

/// An API key (the rules `parse_secret` has always applied).
pub const API_KEY: SecretRules = SecretRules {
    noun: "API key",
    a_noun: "An API key",
    min_len: 8,
    max_len: 512,
};

/// Checks `input` (outer whitespace trimmed) against `rules`; the error is the sentence to
/// show, which never holds any of the input.
pub fn check_secret(input: &str, rules: SecretRules) -> Result<SecretString, String> {
    let SecretRules {
        noun,
        a_noun,
        min_len,
        max_len,
    } = rules;
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("Enter the {noun}."));
    }
    // Form decoding turns bytes that are not UTF-8 into U+FFFD; no secret holds that character.
    if s.contains(char::REPLACEMENT_CHARACTER) {
        return Err(format!(
            "The {noun} holds bytes that are not text (not valid UTF-8), so it was damaged \
             on the way. Copy it again from the provider and paste it."
        ));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{a_noun} is one word without spaces, line breaks or control characters. \
             Paste it again."
        ));
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "{a_noun} is made of plain letters, digits and symbols such as - _ . only. \
             Check that nothing else (a quote mark, an invisible character) was pasted with it."
        ));
    }
    if s.len() < min_len || s.len() > max_len {
        let an = lower_first(a_noun);
        return Err(format!(
            "That does not look like {an}. Paste the whole {}.",
            if noun == API_KEY.noun { "key" } else { noun }
        ));
    }
    Ok(SecretString::from(s))
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn api_key_messages_are_the_ones_owners_already_see() {
        assert_eq!(
            check_secret("  ", API_KEY).expect_err("empty"),
            "Enter the API key."
        );
        assert_eq!(
            check_secret("short", API_KEY).expect_err("short"),
            "That does not look like an API key. Paste the whole key."
        );
        assert!(
            check_secret("sk-abc defgh1234", API_KEY)
                .expect_err("space")
                .starts_with("An API key is one word")
        );
        assert!(
            check_secret("sk-abc\u{201c}defgh1234", API_KEY)
                .expect_err("quote")
                .starts_with("An API key is made of plain letters")
        );
        assert!(
            check_secret("sk-abc\u{fffd}defgh1234", API_KEY)
                .expect_err("damaged")
                .contains("not valid UTF-8")
        );
        let ok = check_secret(" sk-abcdefgh1234\n", API_KEY).expect("ok");
        assert_eq!(ok.expose_secret(), "sk-abcdefgh1234");
    }

    #[test]
    fn other_secrets_are_named_in_their_messages() {
        let rules = SecretRules {
            noun: "secret access key",
            a_noun: "A secret access key",
            min_len: 40,
            max_len: 40,
        };
        assert_eq!(
            check_secret("", rules).expect_err("empty"),
            "Enter the secret access key."
        );
        assert_eq!(
            check_secret("abc", rules).expect_err("short"),
            "That does not look like a secret access key. Paste the whole secret access key."
        );
        assert!(
            check_secret("a b", rules)
                .expect_err("space")
                .starts_with("A secret access key is one word")
        );
    }
}
