//! README's screenshots, in `docs/screenshots/`. The browser journey (`browser.rs`) takes
//! them on the pages it walks and, with `KEYHOLD_SCREENSHOTS=write`, writes them there at
//! its end (only when it passed, and only the set README links), so they never go stale.
//! The tests below keep README's links and the folder's files the same set, so they never
//! drift apart either.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The folder, relative to the repository's root.
pub(crate) const DIR: &str = "docs/screenshots";
/// The largest screenshot worth committing.
pub(crate) const MAX_BYTES: usize = 300 * 1024;
/// What every PNG file starts with.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The folder in this checkout.
pub(crate) fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR)
}

/// README.md of this checkout.
pub(crate) fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether this run writes the screenshots into the repository: `KEYHOLD_SCREENSHOTS=write`
/// (a clean clone's CI leaves its tree alone). Any other value is a mistake worth hearing of.
pub(crate) fn writing() -> bool {
    match std::env::var("KEYHOLD_SCREENSHOTS").as_deref() {
        Ok("write") => true,
        Ok("") | Err(_) => false,
        Ok(other) => panic!("KEYHOLD_SCREENSHOTS={other}: the only value is `write`"),
    }
}

/// One mention in README of a file in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// The file's name, e.g. `01-setup.png`.
    pub(crate) name: String,
    /// The alt text, when the mention is a Markdown image (`![alt](docs/screenshots/…)`).
    pub(crate) alt: Option<String>,
}

/// Every mention in `readme` of a file in the folder, in order: Markdown images with their
/// alt text, and any other path naming a file there (a plain link, an HTML `<img>`).
pub(crate) fn links(readme: &str) -> Vec<Link> {
    let prefix = format!("{DIR}/");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = readme[from..].find(&prefix) {
        let start = from + at;
        let rest = &readme[start + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        from = start + prefix.len() + name.len();
        if name.is_empty() {
            continue; // the folder itself, e.g. in the "regenerate with" sentence
        }
        found.push(Link {
            alt: image_alt(&readme[..start]),
            name,
        });
    }
    found
}

/// The alt text when the path that follows `before` is a Markdown image's target:
/// `before` then ends with `![alt](` (optionally `./`).
fn image_alt(before: &str) -> Option<String> {
    let before = before.strip_suffix("./").unwrap_or(before);
    let before = before.strip_suffix("](")?;
    let open = before.rfind("![")?;
    let alt = &before[open + 2..];
    (!alt.contains(']')).then(|| alt.to_owned())
}

/// What is wrong between README's mentions and the folder's file names: a mention of a
/// missing file, a file nobody mentions, an image without alt text.
pub(crate) fn drift(links: &[Link], files: &[String]) -> Vec<String> {
    let linked: BTreeSet<&str> = links.iter().map(|l| l.name.as_str()).collect();
    let present: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let mut problems = Vec::new();
    for name in linked.difference(&present) {
        problems.push(format!("README links {DIR}/{name}, which is not there"));
    }
    for name in present.difference(&linked) {
        problems.push(format!("{DIR}/{name} is not linked from README"));
    }
    for l in links {
        if l.alt.as_deref().is_some_and(|a| a.trim().is_empty()) {
            problems.push(format!("README shows {DIR}/{} without alt text", l.name));
        }
    }
    problems
}

/// The names of the files in the folder (none if it does not exist).
fn files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// What is wrong with one screenshot's bytes.
pub(crate) fn check_png(name: &str, png: &[u8]) -> Option<String> {
    if !png.starts_with(PNG_MAGIC) {
        Some(format!("{name} is not a PNG"))
    } else if png.len() > MAX_BYTES {
        Some(format!(
            "{name} is {} KB, more than {} KB",
            png.len() / 1024,
            MAX_BYTES / 1024
        ))
    } else {
        None
    }
}

/// The screenshots one journey took for README, written at its end.
#[derive(Default)]
pub(crate) struct Shots {
    taken: Vec<(String, Vec<u8>)>,
}

impl Shots {
    pub(crate) fn add(&mut self, name: &str, png: Vec<u8>) {
        assert!(
            self.taken.iter().all(|(n, _)| n != name),
            "the screenshot {name} was taken twice"
        );
        self.taken.push((name.to_owned(), png));
    }

    /// After a journey that passed: the pictures taken must be exactly those README links,
    /// each a PNG under [`MAX_BYTES`]. They are kept in `e2e` as `readme-<name>` and, when
    /// [`writing`], replace the folder's files. Returns where they were written.
    pub(crate) fn finish(self, e2e: &Path) -> PathBuf {
        let taken: BTreeSet<&str> = self.taken.iter().map(|(n, _)| n.as_str()).collect();
        let readme_links = links(&readme());
        let linked: BTreeSet<&str> = readme_links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            taken, linked,
            "the journey's screenshots (left) and README's (right) differ"
        );
        let bad: Vec<String> = self
            .taken
            .iter()
            .filter_map(|(n, png)| check_png(n, png))
            .collect();
        assert!(bad.is_empty(), "screenshots unfit for README: {bad:?}");
        for (name, png) in &self.taken {
            std::fs::write(e2e.join(format!("readme-{name}")), png).expect("write to e2e");
        }
        if !writing() {
            return e2e.to_owned();
        }
        let dir = dir();
        std::fs::create_dir_all(&dir).expect("create docs/screenshots");
        for stale in files_in(&dir) {
            if !taken.contains(stale.as_str()) {
                std::fs::remove_file(dir.join(&stale)).expect("remove a stale screenshot");
            }
        }
        for (name, png) in &self.taken {
            std::fs::write(dir.join(name), png)
                .unwrap_or_else(|e| panic!("write {DIR}/{name}: {e}"));
        }
        dir
    }
}

// ---------------------------------------------------------------- the tests

#[test]
fn readme_links_every_screenshot_and_each_one_it_links_exists() {
    let links = links(&readme());
    assert!(
        links.iter().any(|l| l.alt.is_some()),
        "README shows no screenshot from {DIR}"
    );
    let files = files_in(&dir());
    let problems = drift(&links, &files);
    assert!(
        problems.is_empty(),
        "README and {DIR} drifted apart (regenerate with README's command):\n{}",
        problems.join("\n")
    );
    let bad: Vec<String> = files
        .iter()
        .filter_map(|n| {
            let png = std::fs::read(dir().join(n)).expect("read a screenshot");
            check_png(n, &png)
        })
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn the_drift_check_sees_a_missing_an_unlinked_and_an_unlabelled_screenshot() {
    let readme = "Intro.\n\n1. **Setup.** ![The setup page](docs/screenshots/01-setup.png)\n\
                  2. See [the phone view](./docs/screenshots/02-phone.png).\n\
                  3. ![](docs/screenshots/03-chat.png)\n\
                  Regenerate into `docs/screenshots/` with the command.\n";
    let found = links(readme);
    assert_eq!(
        found,
        vec![
            Link {
                name: "01-setup.png".into(),
                alt: Some("The setup page".into())
            },
            Link {
                name: "02-phone.png".into(),
                alt: None
            },
            Link {
                name: "03-chat.png".into(),
                alt: Some(String::new())
            },
        ]
    );
    let files = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        drift(&found[..2], &files(&["01-setup.png", "02-phone.png"])),
        Vec::<String>::new()
    );
    assert_eq!(
        drift(&found[..2], &files(&["01-setup.png", "04-usage.png"])),
        vec![
            "README links docs/screenshots/02-phone.png, which is not there".to_owned(),
            "docs/screenshots/04-usage.png is not linked from README".to_owned(),
        ]
    );
    assert_eq!(
        drift(
            &found,
            &files(&["01-setup.png", "02-phone.png", "03-chat.png"])
        ),
        vec!["README shows docs/screenshots/03-chat.png without alt text".to_owned()]
    );
}

#[test]
fn a_screenshot_must_be_a_small_png() {
    let mut png = PNG_MAGIC.to_vec();
    png.extend([0; 64]);
    assert_eq!(check_png("a.png", &png), None);
    assert!(check_png("b.png", b"GIF89a").is_some());
    png.resize(MAX_BYTES + 1, 0);
    assert!(check_png("c.png", &png).is_some());
}
