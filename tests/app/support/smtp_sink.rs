//! An in-process SMTP server on loopback that keeps every message it receives.
//!
//! The app sends mail with lettre's `AsyncSmtpTransport` (plain SMTP, no TLS,
//! no auth). Pointing it at [`SmtpSink::url`] lets a test read the mail back,
//! decoded ([`Mail::text`], [`Mail::html`], all of it in [`Mail::decoded`]) or raw
//! ([`Mail::raw`], for headers only: its bodies are encoded).
//!
//! The server speaks the minimal RFC 5321 command set: `EHLO`/`HELO`,
//! `MAIL FROM`, `RCPT TO`, `DATA`, `RSET`, `NOOP`, `VRFY`, `QUIT`; anything
//! else gets `502`. Several messages may be sent on one connection, and
//! connections are served concurrently.
//!
//! [`SmtpSink::set_down`] simulates an outage: while down, new connections are
//! greeted with `421` and closed, and commands on already open (for instance
//! pooled) connections are answered `421` and the connection is closed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::{MessageParser, PartType};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// The largest message accepted, advertised with the `SIZE` extension.
const MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;
/// The longest command line accepted (RFC 5321 asks for at least 512).
const MAX_LINE: usize = 4096;

/// One message received by the sink.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM:<...>`), without angle brackets; empty
    /// for the null reverse path `<>`.
    pub envelope_from: String,
    /// The envelope recipients (`RCPT TO:<...>`), in order.
    pub envelope_to: Vec<String>,
    /// The message as received, dot-stuffing undone but otherwise undecoded
    /// (headers, MIME boundaries, quoted-printable/base64 bodies).
    pub raw: String,
    /// The decoded `Subject` header; empty when missing.
    pub subject: String,
    /// The address of the first `From` mailbox (no display name); empty when missing.
    pub from: String,
    /// The addresses of the `To` header (no display names).
    pub to: Vec<String>,
    /// The decoded `text/plain` body; empty when the message has none.
    pub text: String,
    /// The decoded `text/html` body; empty when the message has none.
    pub html: String,
}

impl Mail {
    /// Parses a raw message (as received after `DATA`) together with its envelope.
    fn parse(envelope_from: String, envelope_to: Vec<String>, raw: String) -> Mail {
        let mut mail = Mail {
            envelope_from,
            envelope_to,
            ..Mail::default()
        };
        if let Some(message) = MessageParser::default().parse(raw.as_bytes()) {
            mail.subject = message.subject().unwrap_or_default().to_string();
            mail.from = message
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_string();
            mail.to = message
                .to()
                .map(|list| {
                    list.iter()
                        .filter_map(|a| a.address())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            // mail-parser lists a text/plain part among the "html bodies" too
            // when there is no HTML alternative (and vice versa), so only take
            // parts whose real type matches.
            if let Some(PartType::Text(text)) = message.text_part(0).map(|p| &p.body) {
                mail.text = text.to_string();
            }
            if let Some(PartType::Html(html)) = message.html_part(0).map(|p| &p.body) {
                mail.html = html.to_string();
            }
        }
        mail.raw = raw;
        mail
    }

    /// Parses a message read from elsewhere (an `.eml` file), with no envelope.
    pub fn from_raw(raw: &str) -> Mail {
        Mail::parse(String::new(), Vec::new(), raw.to_owned())
    }

    /// What a reader sees, decoded: the Subject, the text part and the HTML part, with the
    /// HTML's character references turned back into characters and zero-width spaces
    /// dropped. Search this, never [`Mail::raw`]: quoted-printable or base64 encoding hides
    /// non-ASCII text such as "…" and may split a long value with a soft line break.
    pub fn decoded(&self) -> String {
        let html = self
            .html
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&");
        format!("{}\n{}\n{}", self.subject, self.text, html).replace('\u{200b}', "")
    }

    /// Whether the decoded mail (see [`Mail::decoded`]) holds `needle`.
    pub fn shows(&self, needle: &str) -> bool {
        self.decoded().contains(needle)
    }

    /// The first `http://` or `https://` URL in the text body that contains
    /// `needle` (e.g. `"/invite/"`). When the text body has none, the HTML
    /// body is searched (with `&amp;` turned back into `&`).
    pub fn link_with(&self, needle: &str) -> Option<String> {
        find_url(&self.text, needle)
            .or_else(|| find_url(&self.html, needle).map(|url| url.replace("&amp;", "&")))
    }
}

/// Finds the first http(s) URL in `haystack` that contains `needle`.
fn find_url(haystack: &str, needle: &str) -> Option<String> {
    let mut rest = haystack;
    loop {
        // The earliest of the next "http://" and "https://".
        let start = ["http://", "https://"]
            .iter()
            .filter_map(|scheme| rest.find(scheme))
            .min()?;
        let candidate = &rest[start..];
        // A URL ends at whitespace or at a character that cannot appear
        // unescaped in one and commonly delimits it in text or HTML.
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(candidate.len());
        // Trailing punctuation belongs to the sentence, not to the URL.
        let url = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        if url.contains(needle) {
            return Some(url.to_string());
        }
        rest = &candidate[end.max(1)..];
    }
}

/// State shared between the handles and the server tasks.
#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Mail>>,
    /// Woken whenever a message arrives.
    arrived: Notify,
    down: AtomicBool,
    /// How many times a connection or command was answered `421`.
    refused: AtomicUsize,
}

/// Aborts the accept loop once the last [`SmtpSink`] handle is dropped.
struct AcceptLoop(AbortHandle);

impl Drop for AcceptLoop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handle to a running SMTP sink. Clones share the same server.
#[derive(Clone)]
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    _accept_loop: Arc<AcceptLoop>,
}

impl SmtpSink {
    /// Binds `127.0.0.1:0` and serves on a task of the current tokio runtime.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink on loopback");
        let port = listener.local_addr().expect("SMTP sink address").port();
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        SmtpSink {
            port,
            shared,
            _accept_loop: Arc::new(AcceptLoop(task.abort_handle())),
        }
    }

    /// The port the sink listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order of arrival.
    pub fn messages(&self) -> Vec<Mail> {
        self.shared.messages.lock().expect("sink lock").clone()
    }

    /// Waits until a message matching `pred` has arrived (including one that
    /// arrived before the call) and returns the first such; `None` after `timeout`.
    pub async fn wait_for(&self, pred: impl Fn(&Mail) -> bool, timeout: Duration) -> Option<Mail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register for the wake-up before looking, so that a message
            // arriving in between is not missed.
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(mail) = self.messages().into_iter().find(|m| pred(m)) {
                return Some(mail);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// Waits until at least `n` messages have arrived and returns all of them;
    /// after `timeout`, returns whatever has arrived (possibly fewer than `n`).
    pub async fn wait_for_count(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.messages();
            }
        }
    }

    /// Simulates an outage (`true`) or ends it (`false`). While down, new
    /// connections get `421` and are closed, and so does the next command
    /// on a connection that is already open.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// How many connections or commands were answered `421` because the sink was down.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Forgets the messages received so far.
    pub fn clear(&self) {
        self.shared.messages.lock().expect("sink lock").clear();
    }
}

/// Accepts connections forever, serving each on its own task.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            // A client that goes away mid-session is not an error worth reporting.
            let _ = serve(socket, shared).await;
        });
    }
}

/// The state of the current mail transaction.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

/// Runs one SMTP session.
async fn serve(socket: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (reader, mut writer) = socket.into_split();
    let mut reader = BufReader::new(reader);

    if shared.down.load(Ordering::SeqCst) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        writer
            .write_all(b"421 4.3.2 keyhold-sink service not available\r\n")
            .await?;
        return writer.shutdown().await;
    }
    writer
        .write_all(b"220 keyhold-sink ESMTP ready\r\n")
        .await?;

    let mut greeted = false;
    let mut tx = Transaction::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(()); // the client closed the connection
        }
        if shared.down.load(Ordering::SeqCst) {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            writer
                .write_all(b"421 4.3.2 keyhold-sink service not available, closing channel\r\n")
                .await?;
            return writer.shutdown().await;
        }
        if !line.ends_with(b"\n") {
            writer.write_all(b"500 5.5.2 line too long\r\n").await?;
            return writer.shutdown().await;
        }

        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        // The verb is case-insensitive; "MAIL FROM:" and "RCPT TO:" are
        // matched as a whole on the upper-cased line.
        let upper = text.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or_default();

        let reply: String = match verb {
            "EHLO" => {
                greeted = true;
                tx = Transaction::default();
                format!(
                    "250-keyhold-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250 SIZE {MAX_MESSAGE_SIZE}\r\n"
                )
            }
            "HELO" => {
                greeted = true;
                tx = Transaction::default();
                "250 keyhold-sink\r\n".into()
            }
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                if !greeted {
                    "503 5.5.1 send EHLO or HELO first\r\n".into()
                } else if tx.from.is_some() {
                    "503 5.5.1 nested MAIL command\r\n".into()
                } else {
                    match parse_path(&text["MAIL FROM:".len()..]) {
                        Some(path) => {
                            tx.from = Some(path);
                            "250 2.1.0 OK\r\n".into()
                        }
                        None => "501 5.1.7 bad sender address syntax\r\n".into(),
                    }
                }
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                if tx.from.is_none() {
                    "503 5.5.1 need MAIL before RCPT\r\n".into()
                } else {
                    match parse_path(&text["RCPT TO:".len()..]) {
                        Some(path) if !path.is_empty() => {
                            tx.to.push(path);
                            "250 2.1.5 OK\r\n".into()
                        }
                        _ => "501 5.1.3 bad recipient address syntax\r\n".into(),
                    }
                }
            }
            "DATA" => {
                if tx.from.is_none() || tx.to.is_empty() {
                    "503 5.5.1 need MAIL and RCPT before DATA\r\n".into()
                } else {
                    writer
                        .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let reply = match read_data(&mut reader).await? {
                        Some(raw) => {
                            let tx = std::mem::take(&mut tx);
                            let mail = Mail::parse(tx.from.unwrap_or_default(), tx.to, raw);
                            shared.messages.lock().expect("sink lock").push(mail);
                            shared.arrived.notify_waiters();
                            "250 2.0.0 OK queued\r\n"
                        }
                        None => {
                            tx = Transaction::default();
                            "552 5.3.4 message too big\r\n"
                        }
                    };
                    reply.into()
                }
            }
            "RSET" => {
                tx = Transaction::default();
                "250 2.0.0 OK\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "VRFY" => "252 2.1.5 cannot VRFY user\r\n".into(),
            "QUIT" => {
                writer.write_all(b"221 2.0.0 bye\r\n").await?;
                return writer.shutdown().await;
            }
            _ => "502 5.5.2 command not implemented\r\n".into(),
        };
        writer.write_all(reply.as_bytes()).await?;
    }
}

/// Extracts the address from a `<path>` argument, ignoring any ESMTP
/// parameters after it (`BODY=8BITMIME`, `SMTPUTF8`, `SIZE=...`).
/// `<>` gives an empty string.
fn parse_path(arg: &str) -> Option<String> {
    let arg = arg.trim_start();
    let rest = arg.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_string())
}

/// Reads the message after `354` up to the terminating `<CRLF>.<CRLF>`,
/// undoing dot-stuffing. Returns `None` when it exceeds [`MAX_MESSAGE_SIZE`]
/// (the rest is still read, so the session can go on).
async fn read_data<R>(reader: &mut R) -> std::io::Result<Option<String>>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut message = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        // A line beginning with "." was sent with an extra "." in front.
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if message.len() + content.len() > MAX_MESSAGE_SIZE {
            too_big = true;
        }
        if !too_big {
            message.extend_from_slice(content);
        }
    }
    Ok((!too_big).then(|| String::from_utf8_lossy(&message).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::find_url;

    #[test]
    fn finds_urls_with_needle() {
        let text = "Hi, see https://a.test/home. Then (https://a.test/invite/abc?x=1&y=2), ok";
        assert_eq!(
            find_url(text, "/invite/").as_deref(),
            Some("https://a.test/invite/abc?x=1&y=2")
        );
        assert_eq!(
            find_url(text, "/home").as_deref(),
            Some("https://a.test/home")
        );
        assert_eq!(find_url(text, "/nope"), None);
        assert_eq!(
            find_url("<a href=\"http://h/invite/1\">", "invite").as_deref(),
            Some("http://h/invite/1")
        );
    }
}
