//! Mail: rendered and queued in the outbox inside the transaction of its cause, then sent
//! by a background worker with retries, so an SMTP outage loses nothing.

use std::path::PathBuf;
use std::time::Duration;

use askama::Template;
use diesel::prelude::*;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Ctx;
use super::mail_text;
use crate::db::models::OutboxRow;
use crate::db::schema::outbox;
use crate::db::{DbConn, now};
use crate::domain::ids::new_id;
use crate::error::{Error, Result};

/// A mail's content. Subject and text come from one `.txt` template with the blocks
/// `subject` and `text`; the HTML body is the shared layout around the same paragraphs.
pub trait MailContent {
    fn subject(&self) -> askama::Result<String>;
    fn text(&self) -> askama::Result<String>;
    /// The button of the HTML body, if any: (label, url).
    fn action(&self) -> Option<(&str, &str)>;
}

/// Implements [`MailContent`] for a template struct with `subject`/`text` blocks and an
/// `action` field.
#[macro_export]
macro_rules! mail_content {
    ($ty:ident, $label:expr) => {
        impl $crate::services::mail::MailContent for $ty {
            fn subject(&self) -> askama::Result<String> {
                askama::Template::render(&self.as_subject()).map(|s| s.trim().to_owned())
            }
            fn text(&self) -> askama::Result<String> {
                askama::Template::render(&self.as_text()).map(|s| s.trim().to_owned() + "\n")
            }
            fn action(&self) -> Option<(&str, &str)> {
                let url: &str = &self.action_url;
                (!url.is_empty()).then_some(($label, url))
            }
        }
    };
}

#[derive(Template)]
#[template(path = "email/layout.html")]
struct HtmlBody<'a> {
    subject: &'a str,
    paragraphs: Vec<Paragraph>,
    action: Option<(&'a str, &'a str)>,
}

/// A paragraph of the HTML body: the action's own link, or text in which nothing can
/// become a link (see [`mail_text::defang`]).
struct Paragraph {
    text: String,
    is_link: bool,
}

fn html_paragraphs(text: &str, action_url: Option<&str>) -> Vec<Paragraph> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if Some(p) == action_url {
                Paragraph {
                    text: p.to_owned(),
                    is_link: true,
                }
            } else {
                Paragraph {
                    text: mail_text::defang(p),
                    is_link: false,
                }
            }
        })
        .collect()
}

/// Renders `mail` and queues it for `to_addr`. Call inside the transaction of its cause.
/// The recipient is addressed by address alone: a display name is text someone chose, and
/// a mail client shows it beside the address.
pub fn enqueue(conn: &mut DbConn, to_addr: &str, mail: &dyn MailContent) -> Result<()> {
    let render = |r: askama::Result<String>| {
        r.map_err(|e| Error::Internal(anyhow::anyhow!("mail template: {e}")))
    };
    let subject = render(mail.subject())?;
    let text = render(mail.text())?;
    let action = mail.action();
    let html = render(
        HtmlBody {
            subject: &subject,
            paragraphs: html_paragraphs(&text, action.map(|(_, url)| url)),
            action,
        }
        .render(),
    )?;
    let at = now();
    diesel::insert_into(outbox::table)
        .values(&OutboxRow {
            id: new_id(),
            to_addr: to_addr.to_owned(),
            to_name: String::new(),
            subject,
            body_text: text,
            body_html: html,
            created_at: at,
            attempts: 0,
            next_attempt_at: at,
            locked_until: None,
            sent_at: None,
            last_error: None,
        })
        .execute(conn)?;
    Ok(())
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a folder (no SMTP configured).
    Files(PathBuf),
}

impl Transport {
    /// SMTP when `KEYHOLD_SMTP_URL` is set, else files under the data folder.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Transport> {
        match &config.smtp_url {
            Some(url) => {
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("KEYHOLD_SMTP_URL: {e}"))?
                    .timeout(Some(Duration::from_secs(10)))
                    .build();
                Ok(Transport::Smtp(t))
            }
            None => {
                let dir = config.mail_dir();
                crate::private_files::create_dir(&dir)?;
                Ok(Transport::Files(dir))
            }
        }
    }

    async fn send(&self, id: &str, message: Message) -> anyhow::Result<()> {
        match self {
            Transport::Smtp(t) => {
                t.send(message).await?;
            }
            Transport::Files(dir) => {
                // A mail holds live links (reset, invitation): this user's only.
                let path = dir.join(format!("{id}.eml"));
                let mut file = tokio::fs::OpenOptions::from(crate::private_files::file_options())
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .await?;
                tokio::io::AsyncWriteExt::write_all(&mut file, &message.formatted()).await?;
                tokio::io::AsyncWriteExt::flush(&mut file).await?;
                tracing::info!(path = %path.display(), "mail written to a file (no SMTP configured)");
            }
        }
        Ok(())
    }
}

fn build_message(from: &Mailbox, row: &OutboxRow) -> anyhow::Result<Message> {
    // No display name, even from a row queued before names were left out (see `enqueue`).
    let to = Mailbox::new(None, row.to_addr.parse()?);
    // One Message-ID per outbox row, the same on every retry, so that a receiver can drop
    // a duplicate if a send succeeded but its result was never recorded.
    let message_id = format!("<{}@{}>", row.id, from.email.domain());
    Ok(Message::builder()
        .message_id(Some(message_id))
        .from(from.clone())
        .to(to)
        .subject(row.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            row.body_text.clone(),
            row.body_html.clone(),
        ))?)
}

/// Claims up to `limit` due messages for `lease` seconds so that another instance does not
/// send them at the same time.
fn claim_due(conn: &mut DbConn, limit: i64, lease: i64) -> Result<Vec<OutboxRow>> {
    let t = now();
    let due: Vec<OutboxRow> = outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::next_attempt_at.le(t))
        .filter(
            outbox::locked_until
                .is_null()
                .or(outbox::locked_until.lt(t)),
        )
        .order(outbox::next_attempt_at.asc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?;
    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        let n = diesel::update(outbox::table.find(&row.id))
            .filter(
                outbox::locked_until
                    .is_null()
                    .or(outbox::locked_until.lt(t)),
            )
            .filter(outbox::sent_at.is_null())
            .set(outbox::locked_until.eq(t + lease))
            .execute(conn)?;
        if n == 1 {
            claimed.push(row);
        }
    }
    Ok(claimed)
}

/// The delay before retry number `attempts` (1-based): base × 2^(n-1), capped at 15 min.
pub fn backoff(base_secs: i64, attempts: i32) -> i64 {
    let exp = attempts.clamp(1, 16) - 1;
    (base_secs.max(1) << exp).min(900)
}

/// Sends what is due until `shutdown` resolves; woken early by `state.mail_wakeup`.
pub async fn run_worker(
    state: Ctx,
    transport: Transport,
    retry_base_secs: i64,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let from: Mailbox = match state.config.mail_from.parse() {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "KEYHOLD_MAIL_FROM is not a valid address; the mail worker stops");
            return;
        }
    };
    let mut shutdown = shutdown;
    loop {
        match state.db(|c| claim_due(c, 20, 120)).await {
            Ok(batch) => {
                for row in batch {
                    deliver(&state, &transport, &from, row, retry_base_secs).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "outbox: cannot read the queue; retrying"),
        }
        tokio::select! {
            _ = state.mail_wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn deliver(
    state: &Ctx,
    transport: &Transport,
    from: &Mailbox,
    row: OutboxRow,
    retry_base_secs: i64,
) {
    let id = row.id.clone();
    let result = match build_message(from, &row) {
        Ok(message) => transport.send(&id, message).await,
        Err(e) => Err(e),
    };
    let attempts = row.attempts + 1;
    let outcome = match result {
        Ok(()) => {
            tracing::info!(mail_id = %id, "mail sent");
            state
                .db(move |c| {
                    // Links in a sent mail are one-time secrets: keep only the envelope.
                    diesel::update(outbox::table.find(&id))
                        .set((
                            outbox::sent_at.eq(now()),
                            outbox::attempts.eq(attempts),
                            outbox::locked_until.eq(None::<i64>),
                            outbox::body_text.eq(""),
                            outbox::body_html.eq(""),
                            outbox::last_error.eq(None::<String>),
                        ))
                        .execute(c)?;
                    Ok(())
                })
                .await
        }
        Err(e) => {
            let delay = backoff(retry_base_secs, attempts);
            tracing::warn!(mail_id = %id, attempts, retry_in_secs = delay, error = %e, "mail not sent; will retry");
            let message = e.to_string().chars().take(300).collect::<String>();
            state
                .db(move |c| {
                    diesel::update(outbox::table.find(&id))
                        .set((
                            outbox::attempts.eq(attempts),
                            outbox::next_attempt_at.eq(now() + delay),
                            outbox::locked_until.eq(None::<i64>),
                            outbox::last_error.eq(Some(message)),
                        ))
                        .execute(c)?;
                    Ok(())
                })
                .await
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "outbox: cannot record the delivery result");
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(2, 1), 2);
        assert_eq!(backoff(2, 2), 4);
        assert_eq!(backoff(2, 3), 8);
        assert_eq!(backoff(2, 40), 900);
        assert_eq!(backoff(0, 1), 1);
    }
}
