//! The log, on stdout. A request appends its line to a shared buffer (one lock, one copy)
//! instead of making a `write(2)` of its own, and a background thread writes out whatever
//! has gathered every 100 ms, so a busy server writes its log in a few large writes a
//! second and a request never waits on the terminal, a pipe or a disk. Nothing is dropped:
//! a full buffer (64 KiB) is written out on the spot. The [`Guard`] writes out the rest
//! when the program ends.
//!
//! The one line every request writes ([`request`]) is formatted here by hand, in the same
//! form as tracing's: its formatter (field visitors, a `Debug` pass per value, the date
//! worked out anew on each line) was the larger part of a gateway call's own CPU time.

use std::cell::RefCell;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// How often the gathered lines are written out.
const EVERY: Duration = Duration::from_millis(100);

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

/// The buffer [`request`] writes to: set by [`init`] when lines go out without colours.
static PLAIN: OnceLock<Arc<Buffer>> = OnceLock::new();

/// One request's log line, as `tracing::info!(request_id, method, path, status, us,
/// "request")` would write it, and subject to the same level filter (`RUST_LOG`).
pub fn request(request_id: &str, method: &str, path: &str, status: u16, us: u64) {
    // The target the line had as a tracing event in the request frame, so that a RUST_LOG
    // directive naming it still applies.
    if !tracing::enabled!(target: "keyhold::web::error", tracing::Level::INFO) {
        return;
    }
    let Some(buffer) = PLAIN.get() else {
        // Colours, or no log installed (tests in one process): tracing's own formatter.
        tracing::info!(target: "keyhold::web::error", request_id = %request_id, method = %method, path = %path, status, us, "request");
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
        request_line(
            line,
            stamp,
            now.microsecond(),
            [request_id, method, path],
            status,
            us,
        );
        let _ = (&**buffer).write_all(line);
    });
}

/// Appends the line of [`request`] to `line`.
fn request_line(
    line: &mut Vec<u8>,
    stamp: &[u8; 19],
    micros: u32,
    [request_id, method, path]: [&str; 3],
    status: u16,
    us: u64,
) {
    line.extend_from_slice(stamp);
    // Six digits with leading zeros: 1_000_000 + µs has seven, the first a 1.
    let mut digits = itoa::Buffer::new();
    line.push(b'.');
    line.extend_from_slice(&digits.format(1_000_000 + micros).as_bytes()[1..]);
    for (text, value) in [
        ("Z  INFO request request_id=", request_id),
        (" method=", method),
        (" path=", path),
    ] {
        line.extend_from_slice(text.as_bytes());
        line.extend_from_slice(value.as_bytes());
    }
    line.extend_from_slice(b" status=");
    line.extend_from_slice(digits.format(status).as_bytes());
    line.extend_from_slice(b" us=");
    line.extend_from_slice(digits.format(us).as_bytes());
    line.push(b'\n');
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

/// Installs the log (level from `RUST_LOG`, default `info`) and its writer thread.
pub fn init() -> Guard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,actix_server=warn,actix_session=warn")
    });
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
    let colour = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if !colour {
        let _ = PLAIN.set(buffer.clone());
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        .with_writer(buffer.clone())
        .init();
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no log writer thread: lines are written when 64 KiB gather or at exit");
    }
    Guard(buffer)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::{request_line, seconds_stamp};

    #[test]
    fn the_request_line_reads_as_tracings_formatter_writes_it() {
        let stamp = seconds_stamp(datetime!(2026-01-02 03:04:05 UTC));
        let mut line = Vec::new();

        request_line(
            &mut line,
            &stamp,
            7_080,
            ["0a1b2c3d4e5f", "POST", "/v1/messages"],
            200,
            1103,
        );

        assert_eq!(
            String::from_utf8(line).expect("UTF-8"),
            "2026-01-02T03:04:05.007080Z  INFO request request_id=0a1b2c3d4e5f method=POST \
             path=/v1/messages status=200 us=1103\n"
        );
    }

    #[test]
    fn microseconds_keep_their_leading_zeros() {
        let stamp = seconds_stamp(datetime!(2026-12-31 23:59:59 UTC));
        for (micros, text) in [(0, ".000000Z"), (999_999, ".999999Z"), (10, ".000010Z")] {
            let mut line = Vec::new();
            request_line(&mut line, &stamp, micros, ["id", "GET", "/"], 404, 0);
            let line = String::from_utf8(line).expect("UTF-8");
            assert!(
                line.starts_with(&format!("2026-12-31T23:59:59{text}")),
                "{line}"
            );
        }
    }
}
