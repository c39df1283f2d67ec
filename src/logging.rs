//! The log, on stdout. A request appends its line to a shared buffer (one lock, one copy)
//! instead of making a `write(2)` of its own, and a background thread writes out whatever
//! has gathered every 100 ms, so a busy server writes its log in a few large writes a
//! second and a request never waits on the terminal, a pipe or a disk. Nothing is dropped:
//! a full buffer (64 KiB) is written out on the spot. The [`Guard`] writes out the rest
//! when the program ends.

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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
