//! How text that people choose (display names, workspace names, key labels, addresses)
//! appears in mail (SPEC §11): never in a Subject, and in a body only quoted as a name: on
//! one line, shortened, and defanged so that no mail client turns it into a link. Someone
//! who signs up as "Keyhold Security: your account is locked. Verify at https://…" is then
//! shown as a name, not as a message from Keyhold.

/// The longest name shown in full; a longer one is cut with "…".
const MAX_CHARS: usize = 60;

/// Invisible characters that change how the text around them reads (bidirectional
/// overrides, zero-width characters): dropped from names.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{180e}' | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff9}'..='\u{fffb}')
}

/// `“name”`: on one line, at most [`MAX_CHARS`] characters, defanged (see [`defang`]).
pub fn quoted(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !invisible(*c)).collect();
    let one_line = clean
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let short = if one_line.chars().count() > MAX_CHARS {
        let cut: String = one_line.chars().take(MAX_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        one_line
    };
    format!("“{}”", defang(&short))
}

/// Names quoted and listed: `“A”`, `“A” and “B”`, `“A”, “B” and “C”`.
pub fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| quoted(n)).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Breaks whatever a mail client would turn into a link (`https://x.test/a`, `x.test`,
/// `ann@x.test`) with a zero-width space after each `.`, `:`, `/` and `@` that a letter or
/// digit follows. Nothing visible changes; applying it twice changes nothing more.
pub fn defang(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if matches!(c, '.' | ':' | '/' | '@') && chars.peek().is_some_and(|n| n.is_alphanumeric()) {
            out.push('\u{200b}');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_quoted_on_one_line_and_shortened() {
        assert_eq!(quoted("Mallory Example"), "“Mallory Example”");
        assert_eq!(quoted("  Ann \t Lee\u{202e} "), "“Ann Lee”");
        let long = quoted(&"x".repeat(200));
        assert_eq!(long.chars().count(), MAX_CHARS + 2);
        assert!(long.ends_with("…”"));
    }

    #[test]
    fn nothing_in_a_name_reads_as_a_link() {
        let q = quoted("Go to https://evil.test/x or www.evil.test, mail a@evil.test");
        for link in ["https://evil", "evil.test", "www.evil", "a@evil"] {
            assert!(!q.contains(link), "{link} in {q}");
        }
        assert_eq!(
            q.replace('\u{200b}', ""),
            "“Go to https://evil.test/x or www.evil.test, mail a@evil.test”"
        );
        assert_eq!(defang(&defang("a.b")), defang("a.b"));
        assert_eq!(defang("The end. Next: 3 / 4"), "The end. Next: 3 / 4");
    }

    #[test]
    fn lists_read_as_a_sentence() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(quoted_list(&names(&["A"])), "“A”");
        assert_eq!(quoted_list(&names(&["A", "B"])), "“A” and “B”");
        assert_eq!(quoted_list(&names(&["A", "B", "C"])), "“A”, “B” and “C”");
    }
}
