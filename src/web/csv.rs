//! CSV exports (the audit log, cost): records written by the `csv` crate (quoting and
//! escaping as RFC 4180 has them, `\n` between records), each cell through the formula guard
//! first.

use std::borrow::Cow;

/// A cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return) gets a leading `'`, so that it opens as text.
fn defused(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// CSV text being built in memory, one record at a time.
pub(crate) struct Csv(::csv::Writer<Vec<u8>>);

impl Csv {
    /// An empty text with room for about `bytes`.
    pub(crate) fn with_capacity(bytes: usize) -> Csv {
        Csv(::csv::Writer::from_writer(Vec::with_capacity(bytes)))
    }

    /// Appends one record.
    pub(crate) fn record<I>(&mut self, cells: I)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        // The writer only fails when the underlying writer does, and a Vec never does.
        for cell in cells {
            let _ = self.0.write_field(defused(cell.as_ref()).as_bytes());
        }
        let _ = self.0.write_record(None::<&[u8]>);
    }

    /// The text so far.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        match self.0.into_inner() {
            Ok(bytes) => bytes,
            // Flushing into a Vec cannot fail; keep what reached it if it ever did.
            Err(e) => e.into_inner().get_ref().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Csv;

    /// One record of `cells`, as written.
    fn line(cells: &[&str]) -> String {
        let mut csv = Csv::with_capacity(64);
        csv.record(cells);
        String::from_utf8(csv.into_bytes()).expect("UTF-8")
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(line(&["plain"]), "plain\n");
        assert_eq!(line(&["a,b"]), "\"a,b\"\n");
        assert_eq!(line(&["say \"hi\""]), "\"say \"\"hi\"\"\"\n");
        assert_eq!(line(&["=HYPERLINK(1)"]), "'=HYPERLINK(1)\n");
    }

    #[test]
    fn every_formula_lead_is_defused_and_quoting_still_applies() {
        for lead in ['=', '+', '-', '@', '\t', '\r'] {
            let cell = format!("{lead}cmd|' /C calc'!A0");
            let written = line(&["id", &cell]);
            let second = written
                .trim_end_matches('\n')
                .split_once(',')
                .expect("two cells")
                .1;
            // A cell with a carriage return in it is quoted; its text starts with the guard.
            assert!(
                second.trim_start_matches('"').starts_with('\''),
                "{lead:?}: {written:?}"
            );
        }
        assert_eq!(line(&["=1,2"]), "\"'=1,2\"\n");
        assert_eq!(line(&["a\nb", "c"]), "\"a\nb\",c\n");
        assert_eq!(line(&["", "x"]), ",x\n");
    }

    #[test]
    fn records_follow_one_another() {
        let mut csv = Csv::with_capacity(64);
        csv.record(["id", "time"]);
        csv.record([String::from("1"), String::from("2026-01-02")]);
        assert_eq!(
            String::from_utf8(csv.into_bytes()).expect("UTF-8"),
            "id,time\n1,2026-01-02\n"
        );
    }
}
