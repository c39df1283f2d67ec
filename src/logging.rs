//! The log, on stdout: text for a person (the default), or one JSON object a line for a log
//! collector (`KEYHOLD_LOG_FORMAT=json`). Either way every line carries the same fields:
//! time, level, target, message and the event's own fields.
//!
//! A request appends its line to a shared buffer (one lock, one copy) instead of making a
//! `write(2)` of its own, and a background thread writes out whatever has gathered every
//! 100 ms, so a busy server writes its log in a few large writes a second and a request never
//! waits on the terminal, a pipe or a disk. Nothing is dropped: a full buffer (64 KiB) is
//! written out on the spot. The [`Guard`] writes out the rest when the program ends.
//!
//! The one line every request writes ([`request`]) is formatted here by hand, in both formats
//! exactly as tracing-subscriber's formatters write the same event (a test holds the two
//! side by side): their field visitors, a `Debug` pass per value and the date worked out
//! anew on each line were the larger part of a gateway call's own CPU time. Kept because the
//! gateway benchmark shows it pays (BENCHMARKS.md: tracing's `Subscriber::event` 2.3 % and
//! `core::fmt::write` 2.9 % of Keyhold's CPU before, the event gone from the profile after).
//! Every other line goes through tracing-subscriber's own text or JSON formatter.

use std::cell::RefCell;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// How often the gathered lines are written out.
const EVERY: Duration = Duration::from_millis(100);

/// The target of the request line: the module of the request frame, where it was once a
/// tracing event, so that a `RUST_LOG` directive naming it still applies.
const TARGET: &str = "keyhold::web::error";

/// How log lines are written (`KEYHOLD_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-12-06T03:22:16.007080Z  INFO target: message key=value …`
    #[default]
    Text,
    /// `{"timestamp":"…","level":"INFO","message":"…","key":value,…,"target":"…"}`
    Json,
}

impl LogFormat {
    /// `text` or `json` (any case).
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The shared buffer in front of stdout.
pub struct Buffer {
    out: Mutex<BufWriter<Stdout>>,
}

impl Buffer {
    fn lock(&self) -> MutexGuard<'_, BufWriter<Stdout>> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for &Buffer {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.lock().write(line)
    }

    fn write_all(&mut self, line: &[u8]) -> io::Result<()> {
        self.lock().write_all(line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

/// Writes out what is left when dropped; [`Guard::flush`] does it at once (before printing
/// straight to stdout, so that the two stay in order).
pub struct Guard(Arc<Buffer>);

impl Guard {
    /// Writes out the gathered lines now.
    pub fn flush(&self) {
        let _ = (&*self.0).flush();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The buffer [`request`] writes to and the format it writes in: set by [`init`] for JSON,
/// and for text without colours.
static FAST: OnceLock<(Arc<Buffer>, LogFormat)> = OnceLock::new();

/// One request's log line, as `tracing::info!(request_id, method, path, status, us,
/// "request")` would write it, and subject to the same level filter (`RUST_LOG`).
pub fn request(request_id: &str, method: &str, path: &str, status: u16, us: u64) {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    let Some((buffer, format)) = FAST.get() else {
        // Colours, or no log installed (tests in one process): tracing's own formatter.
        tracing::info!(target: TARGET, request_id = %request_id, method = %method, path = %path, status, us, "request");
        return;
    };
    thread_local! {
        // The line being built, and the date and time to the second of the last one.
        static LINE: RefCell<(Vec<u8>, i64, [u8; 19])> = const { RefCell::new((Vec::new(), i64::MIN, [0; 19])) };
    }
    let now = OffsetDateTime::now_utc();
    LINE.with_borrow_mut(|(line, second, stamp)| {
        if now.unix_timestamp() != *second {
            *second = now.unix_timestamp();
            *stamp = seconds_stamp(now);
        }
        line.clear();
        let fields = [request_id, method, path];
        match format {
            LogFormat::Text => text_line(line, stamp, now.microsecond(), fields, status, us),
            LogFormat::Json => json_line(line, stamp, now.microsecond(), fields, status, us),
        }
        let _ = (&**buffer).write_all(line);
    });
}

/// Appends `2026-01-02T03:04:05.007080Z` to `line`.
fn timestamp(line: &mut Vec<u8>, stamp: &[u8; 19], micros: u32) {
    line.extend_from_slice(stamp);
    // Six digits with leading zeros: 1_000_000 + µs has seven, the first a 1.
    line.push(b'.');
    line.extend_from_slice(&itoa::Buffer::new().format(1_000_000 + micros).as_bytes()[1..]);
    line.push(b'Z');
}

/// Appends the text line of [`request`] to `line`.
fn text_line(
    line: &mut Vec<u8>,
    stamp: &[u8; 19],
    micros: u32,
    [request_id, method, path]: [&str; 3],
    status: u16,
    us: u64,
) {
    timestamp(line, stamp, micros);
    line.extend_from_slice(b"  INFO ");
    line.extend_from_slice(TARGET.as_bytes());
    for (text, value) in [
        (": request request_id=", request_id),
        (" method=", method),
        (" path=", path),
    ] {
        line.extend_from_slice(text.as_bytes());
        line.extend_from_slice(value.as_bytes());
    }
    let mut digits = itoa::Buffer::new();
    line.extend_from_slice(b" status=");
    line.extend_from_slice(digits.format(status).as_bytes());
    line.extend_from_slice(b" us=");
    line.extend_from_slice(digits.format(us).as_bytes());
    line.push(b'\n');
}

/// Appends the JSON line of [`request`] to `line`: the keys and order of tracing-subscriber's
/// JSON formatter with flattened fields.
fn json_line(
    line: &mut Vec<u8>,
    stamp: &[u8; 19],
    micros: u32,
    [request_id, method, path]: [&str; 3],
    status: u16,
    us: u64,
) {
    line.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(line, stamp, micros);
    line.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\"");
    for (key, value) in [
        (",\"request_id\":", request_id),
        (",\"method\":", method),
        (",\"path\":", path),
    ] {
        line.extend_from_slice(key.as_bytes());
        // A string with its escapes; writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *line, value);
    }
    let mut digits = itoa::Buffer::new();
    line.extend_from_slice(b",\"status\":");
    line.extend_from_slice(digits.format(status).as_bytes());
    line.extend_from_slice(b",\"us\":");
    line.extend_from_slice(digits.format(us).as_bytes());
    line.extend_from_slice(b",\"target\":\"");
    line.extend_from_slice(TARGET.as_bytes());
    line.extend_from_slice(b"\"}\n");
}

/// `2026-12-06T03:22:16`: a line's date and time to the second, in UTC.
fn seconds_stamp(t: OffsetDateTime) -> [u8; 19] {
    let mut out = [0u8; 19];
    let _ = t.format_into(
        &mut &mut out[..],
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    );
    out
}

/// tracing's formatter for `format`, writing to `writer`.
fn subscriber<W>(
    format: LogFormat,
    colour: bool,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(log.with_ansi(colour).finish()),
        LogFormat::Json => Box::new(log.json().flatten_event(true).finish()),
    }
}

/// Installs the log (level from `RUST_LOG`, default `info`) and its writer thread.
pub fn init(format: LogFormat) -> Guard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn,actix_session=warn"));
    let buffer = Arc::new(Buffer {
        out: Mutex::new(BufWriter::with_capacity(64 * 1024, io::stdout())),
    });
    let writer = buffer.clone();
    let spawned = std::thread::Builder::new()
        .name("keyhold-log".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EVERY);
                let _ = (&*writer).flush();
            }
        });
    // Colours only for a person at a terminal: escape codes in a file or a log collector are
    // noise (and formatting them was a tenth of the cost of a request's log line).
    let colour = format == LogFormat::Text
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    if !colour {
        let _ = FAST.set((buffer.clone(), format));
    }
    let _ = subscriber(format, colour, filter, buffer.clone()).try_init();
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no log writer thread: lines are written when 64 KiB gather or at exit");
    }
    Guard(buffer)
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

    use time::macros::datetime;
    use tracing_subscriber::EnvFilter;

    use super::{LogFormat, TARGET, json_line, seconds_stamp, subscriber, text_line};

    /// Lines a subscriber wrote.
    #[derive(Default)]
    struct Capture(Mutex<Vec<u8>>);

    impl Write for &Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("capture").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Our line for the request, in `format`, at 2026-01-02 03:04:05.007080.
    fn ours(format: LogFormat, fields: [&str; 3], status: u16, us: u64) -> String {
        let stamp = seconds_stamp(datetime!(2026-01-02 03:04:05 UTC));
        let mut line = Vec::new();
        match format {
            LogFormat::Text => text_line(&mut line, &stamp, 7_080, fields, status, us),
            LogFormat::Json => json_line(&mut line, &stamp, 7_080, fields, status, us),
        }
        String::from_utf8(line).expect("UTF-8")
    }

    #[test]
    fn the_request_line_reads_as_tracings_formatter_writes_it() {
        assert_eq!(
            ours(
                LogFormat::Text,
                ["0a1b2c3d4e5f", "POST", "/v1/messages"],
                200,
                1103
            ),
            "2026-01-02T03:04:05.007080Z  INFO keyhold::web::error: request \
             request_id=0a1b2c3d4e5f method=POST path=/v1/messages status=200 us=1103\n"
        );
        assert_eq!(
            ours(
                LogFormat::Json,
                ["0a1b2c3d4e5f", "POST", "/v1/messages"],
                200,
                1103
            ),
            "{\"timestamp\":\"2026-01-02T03:04:05.007080Z\",\"level\":\"INFO\",\
             \"message\":\"request\",\"request_id\":\"0a1b2c3d4e5f\",\"method\":\"POST\",\
             \"path\":\"/v1/messages\",\"status\":200,\"us\":1103,\
             \"target\":\"keyhold::web::error\"}\n"
        );
    }

    #[test]
    fn both_formats_match_what_tracing_writes_for_the_same_event() {
        let fields = ["id-1", "GET", "/w/a \"b\"\\c/\u{e9}\u{1}"];
        for format in [LogFormat::Text, LogFormat::Json] {
            let capture = Arc::new(Capture::default());
            let log = subscriber(format, false, EnvFilter::new("info"), capture.clone());
            tracing::subscriber::with_default(log, || {
                let [request_id, method, path] = fields;
                let (status, us) = (404u16, 0u64);
                tracing::info!(target: TARGET, request_id = %request_id, method = %method, path = %path, status, us, "request");
            });
            let theirs =
                String::from_utf8(capture.0.lock().expect("capture").clone()).expect("UTF-8");
            let ours = ours(format, fields, 404, 0);
            // Everything but the time: 27 characters, after `{"timestamp":"` in JSON.
            let skip = 27 + if format == LogFormat::Json { 14 } else { 0 };
            assert!(theirs.len() > skip && ours.len() > skip, "{theirs:?}");
            assert_eq!(ours[skip..], theirs[skip..], "{format:?}");
            if format == LogFormat::Json {
                let v: serde_json::Value = serde_json::from_str(&ours).expect("one JSON object");
                assert_eq!(v["path"], fields[2]);
                assert_eq!(v["status"], 404);
            }
        }
    }

    #[test]
    fn microseconds_keep_their_leading_zeros() {
        let stamp = seconds_stamp(datetime!(2026-12-31 23:59:59 UTC));
        for (micros, text) in [(0, ".000000Z"), (999_999, ".999999Z"), (10, ".000010Z")] {
            for format in [LogFormat::Text, LogFormat::Json] {
                let mut line = Vec::new();
                let fields = ["id", "GET", "/"];
                match format {
                    LogFormat::Text => text_line(&mut line, &stamp, micros, fields, 404, 0),
                    LogFormat::Json => json_line(&mut line, &stamp, micros, fields, 404, 0),
                }
                let line = String::from_utf8(line).expect("UTF-8");
                assert!(
                    line.contains(&format!("2026-12-31T23:59:59{text}")),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn log_formats_are_named_text_and_json() {
        assert_eq!(LogFormat::parse("json"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse(" Text "), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("logfmt"), None);
    }
}
