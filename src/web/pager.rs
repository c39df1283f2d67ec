//! Numbered pagination for the admin lists: "Page 2 of 7 · 312 workspaces", the first and
//! last pages, the pages around the current one, and gaps between them.

/// One item of the page links: a page number (a link unless it is the current page) or a
/// gap ("…").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLink {
    /// The page number, or `None` for a gap.
    pub number: Option<i64>,
    pub href: String,
    pub current: bool,
}

/// What a list page shows under its table.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    /// "312 workspaces", "1 user".
    pub total_text: String,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub links: Vec<PageLink>,
}

/// How many pages either side of the current one get a link.
const AROUND: i64 = 2;

impl Pager {
    /// `noun` is the singular and plural of what is counted; `q` the search kept in every
    /// link.
    pub fn new(page: i64, pages: i64, total: i64, noun: (&str, &str), q: &str) -> Pager {
        let href = |n: i64| {
            let mut pairs = Vec::new();
            if !q.is_empty() {
                pairs.push(("q", q.to_owned()));
            }
            if n > 1 {
                pairs.push(("page", n.to_string()));
            }
            let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
            if query.is_empty() {
                "?".to_owned()
            } else {
                format!("?{query}")
            }
        };
        let mut links = Vec::new();
        let mut last_shown = 0;
        for n in 1..=pages {
            if n == 1 || n == pages || (n - page).abs() <= AROUND {
                if n > last_shown + 1 {
                    links.push(PageLink {
                        number: None,
                        href: String::new(),
                        current: false,
                    });
                }
                links.push(PageLink {
                    number: Some(n),
                    href: href(n),
                    current: n == page,
                });
                last_shown = n;
            }
        }
        Pager {
            page,
            pages,
            total_text: format!(
                "{} {}",
                crate::web::charts::thousands(total),
                if total == 1 { noun.0 } else { noun.1 }
            ),
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
            links,
        }
    }

    /// Whether there is more than one page (the links are worth showing).
    pub fn several(&self) -> bool {
        self.pages > 1
    }
}

/// Reads `?page=`: anything that is not a page number is page 1 (a list never fails on a
/// stale or hand-edited link).
pub fn requested_page(raw: Option<&str>) -> i64 {
    raw.and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(p: &Pager) -> Vec<Option<i64>> {
        p.links.iter().map(|l| l.number).collect()
    }

    #[test]
    fn long_lists_show_the_ends_the_neighbours_and_gaps() {
        let p = Pager::new(7, 20, 990, ("user", "users"), "");
        assert_eq!(
            numbers(&p),
            vec![
                Some(1),
                None,
                Some(5),
                Some(6),
                Some(7),
                Some(8),
                Some(9),
                None,
                Some(20)
            ]
        );
        assert_eq!(p.prev.as_deref(), Some("?page=6"));
        assert_eq!(p.next.as_deref(), Some("?page=8"));
        assert_eq!(p.total_text, "990 users");
        assert!(p.links.iter().filter(|l| l.current).count() == 1);
    }

    #[test]
    fn the_first_page_links_without_a_page_number_and_keeps_the_search() {
        let p = Pager::new(2, 2, 51, ("user", "users"), "a&b");
        assert_eq!(p.prev.as_deref(), Some("?q=a%26b"));
        assert_eq!(p.next, None);
        assert_eq!(numbers(&p), vec![Some(1), Some(2)]);
        let one = Pager::new(1, 1, 1, ("user", "users"), "");
        assert!(!one.several());
        assert_eq!(one.total_text, "1 user");
    }

    #[test]
    fn odd_page_parameters_mean_the_first_page() {
        assert_eq!(requested_page(None), 1);
        assert_eq!(requested_page(Some("abc")), 1);
        assert_eq!(requested_page(Some("-3")), 1);
        assert_eq!(requested_page(Some(" 4 ")), 4);
    }
}
