//! Streamed answers: passed on to the client chunk by chunk (shaped, then redacted) and
//! recorded when the stream ends, however it ends — completed, broken off upstream, too
//! long, or dropped because the client went away (which also cancels the upstream call).

use std::sync::Arc;
use std::time::Instant;

use actix_web::web::Bytes;
use futures_util::StreamExt;

use super::{Answered, Prepared, event};
use crate::db::now;
use crate::domain::error_code::ErrorCode;
use crate::domain::providers::Wire;
use crate::gateway::dispatch::Answer;
use crate::gateway::errors::Format;
use crate::gateway::redact::StreamScrubber;
use crate::gateway::translate::converse_stream::ConverseToOpenAiStream;
use crate::gateway::translate::{
    AnthropicToOpenAiStream, OpenAiToAnthropicStream, PassThrough, Usage,
};
use crate::gateway::usage::UsageEvent;
use crate::gateway::{CallContext, Gateway};

enum Shaper {
    Pass(PassThrough),
    AnthropicToOpenAi(AnthropicToOpenAiStream),
    OpenAiToAnthropic(OpenAiToAnthropicStream),
    /// Bedrock's event-stream frames to OpenAI's chunks.
    ConverseToOpenAi(ConverseToOpenAiStream),
    /// Bedrock's frames to OpenAI's chunks to Anthropic's events.
    ConverseToAnthropic(ConverseToOpenAiStream, OpenAiToAnthropicStream),
}

impl Shaper {
    fn feed(&mut self, chunk: Bytes) -> Bytes {
        match self {
            Shaper::Pass(s) => s.feed(chunk),
            Shaper::AnthropicToOpenAi(t) => Bytes::from(t.feed(&chunk)),
            Shaper::OpenAiToAnthropic(t) => Bytes::from(t.feed(&chunk)),
            Shaper::ConverseToOpenAi(t) => Bytes::from(t.feed(&chunk)),
            Shaper::ConverseToAnthropic(c, t) => Bytes::from(t.feed(&c.feed(&chunk))),
        }
    }

    fn finish(&mut self) -> Bytes {
        match self {
            Shaper::Pass(s) => s.finish(),
            Shaper::AnthropicToOpenAi(t) => Bytes::from(t.finish()),
            Shaper::OpenAiToAnthropic(t) => Bytes::from(t.finish()),
            Shaper::ConverseToOpenAi(t) => Bytes::from(t.finish()),
            Shaper::ConverseToAnthropic(c, t) => {
                let mut out = t.feed(&c.finish());
                out.extend_from_slice(&t.finish());
                Bytes::from(out)
            }
        }
    }

    fn usage(&self) -> Usage {
        match self {
            Shaper::Pass(s) => s.usage(),
            Shaper::AnthropicToOpenAi(t) => t.usage(),
            Shaper::OpenAiToAnthropic(t) => t.usage(),
            Shaper::ConverseToOpenAi(t) | Shaper::ConverseToAnthropic(t, _) => t.usage(),
        }
    }

    fn completed(&self) -> bool {
        match self {
            Shaper::Pass(s) => s.completed(),
            Shaper::AnthropicToOpenAi(t) => t.completed(),
            Shaper::OpenAiToAnthropic(t) => t.completed(),
            Shaper::ConverseToOpenAi(t) | Shaper::ConverseToAnthropic(t, _) => t.completed(),
        }
    }
}

/// Holds what to record about a stream; records when dropped, however the stream ended.
struct StreamRecord {
    gw: Arc<Gateway>,
    ev: Option<UsageEvent>,
    shaper: Shaper,
    scrubber: StreamScrubber,
    /// Bytes of the request sent upstream: the input estimate when no usage arrives.
    request_bytes: u64,
    started: Instant,
    sent: usize,
    broken: bool,
}

impl StreamRecord {
    /// The last bytes for the client: the shaper's closing events and anything held back.
    fn tail(&mut self) -> Bytes {
        let last = self.shaper.finish();
        let mut out = self.scrubber.feed(last).to_vec();
        out.extend_from_slice(&self.scrubber.finish());
        Bytes::from(out)
    }
}

impl StreamRecord {
    /// The usage to record: the provider's report of a stream that ended normally; for one
    /// that did not (the client left early, the upstream broke off) or that reported nothing,
    /// at least the estimate of what was sent and passed on (SPEC §7), so that dropping a
    /// stream before its usage event never meters less than was used.
    fn metered(&self) -> Usage {
        let reported = self.shaper.usage();
        if self.shaper.completed() && reported != Usage::default() {
            return reported;
        }
        // An answer had begun (its headers came with a 200): at least one token of it.
        let shown = self.scrubber.shown_bytes();
        Usage {
            input: reported.input.max(super::tokens_in(self.request_bytes)),
            output: reported.output.max(super::tokens_in(shown)),
        }
    }
}

impl Drop for StreamRecord {
    fn drop(&mut self) {
        if let Some(mut ev) = self.ev.take() {
            ev.usage = self.metered();
            ev.latency_ms = self.started.elapsed().as_millis() as i64;
            if !self.shaper.completed() {
                // 499: the client went away first; 502: the upstream broke off.
                ev.status = if self.broken { 502 } else { 499 };
                ev.error_code = Some(if self.broken {
                    ErrorCode::UpstreamError
                } else {
                    ErrorCode::ClientClosed
                });
            }
            self.gw.usage.record(ev);
        }
    }
}

pub(super) fn stream_back(
    gw: Arc<Gateway>,
    ctx: CallContext,
    p: Prepared,
    a: Answer,
    format: Format,
) -> Answered {
    let shaper =
        match (format, p.wire) {
            (Format::OpenAi, Wire::OpenAi) => Shaper::Pass(PassThrough::openai(p.usage_added)),
            (Format::Anthropic, Wire::Anthropic) => Shaper::Pass(PassThrough::anthropic()),
            (Format::OpenAi, Wire::Anthropic) => Shaper::AnthropicToOpenAi(
                AnthropicToOpenAiStream::new(&p.client_model, now(), p.include_usage),
            ),
            (Format::Anthropic, Wire::OpenAi) => {
                Shaper::OpenAiToAnthropic(OpenAiToAnthropicStream::new(&p.client_model))
            }
            (Format::OpenAi, Wire::Converse) => Shaper::ConverseToOpenAi(
                ConverseToOpenAiStream::new(&p.client_model, now(), p.include_usage),
            ),
            (Format::Anthropic, Wire::Converse) => Shaper::ConverseToAnthropic(
                ConverseToOpenAiStream::new(&p.client_model, now(), true),
                OpenAiToAnthropicStream::new(&p.client_model),
            ),
        };
    let mut ev = event(&ctx, &p, a.response.status().as_u16());
    ev.source = Some(a.source);
    ev.key_id = Some(a.key_id.clone());
    let max = gw.limits.max_stream;
    let record = StreamRecord {
        gw,
        ev: Some(ev),
        shaper,
        scrubber: StreamScrubber::new(a.secrets),
        request_bytes: p.body.len() as u64,
        started: a.started,
        sent: 0,
        broken: false,
    };
    let source = a.source;
    let upstream = a.response.chunks();
    let body = futures_util::stream::unfold(Some((upstream, record)), move |state| async move {
        let (mut upstream, mut rec) = state?;
        loop {
            match upstream.next().await {
                Some(Ok(chunk)) => {
                    rec.sent += chunk.len();
                    if rec.sent > max {
                        rec.broken = true;
                        return Some((Ok::<Bytes, actix_web::Error>(rec.tail()), None));
                    }
                    let out = rec.shaper.feed(chunk);
                    let out = rec.scrubber.feed(out);
                    if !out.is_empty() {
                        return Some((Ok(out), Some((upstream, rec))));
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "upstream stream broke off");
                    rec.broken = true;
                    return Some((Ok(rec.tail()), None));
                }
                None => {
                    let tail = rec.tail();
                    if tail.is_empty() {
                        return None;
                    }
                    return Some((Ok(tail), None));
                }
            }
        }
    });
    Answered::Streamed {
        source,
        events: Box::pin(body),
    }
}
