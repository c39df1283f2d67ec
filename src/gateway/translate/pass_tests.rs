//! Tests of pass-through streams: usage, completion, whole events, the dropped usage chunk.

use actix_web::web::Bytes;

use super::*;
use crate::gateway::translate::fixtures::*;

/// Feeds `input` in pieces of `step` bytes, then finishes; returns what went out.
fn pass(mut p: PassThrough, input: &str, step: usize) -> (String, PassThrough) {
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(step.max(1)) {
        out.extend_from_slice(&p.feed(Bytes::copy_from_slice(piece)));
    }
    out.extend_from_slice(&p.finish());
    (
        String::from_utf8(out).expect("whole events are whole characters"),
        p,
    )
}

fn tokens(input: i64, output: i64) -> Usage {
    Usage { input, output }
}

const STEPS: [usize; 5] = [1, 2, 7, 13, usize::MAX];

#[test]
fn openai_usage_and_done_are_read_however_the_stream_is_cut() {
    let stream = openai_stream(&openai_text_chunks(), true, true);
    for step in STEPS {
        let (out, p) = pass(PassThrough::openai(false), &stream, step);
        assert_eq!(
            out, stream,
            "unchanged when the client asked for usage (step {step})"
        );
        assert_eq!(p.usage(), tokens(9, 12));
        assert!(p.completed());
    }
}

#[test]
fn the_usage_chunk_keyhold_asked_for_is_dropped_and_still_counted() {
    let with = openai_stream(&openai_text_chunks(), true, true);
    let without = openai_stream(&openai_text_chunks(), false, true);
    for step in STEPS {
        for stream in [with.clone(), crlf(&with)] {
            let (out, p) = pass(PassThrough::openai(true), &stream, step);
            let want = if stream.contains('\r') {
                crlf(&without)
            } else {
                without.clone()
            };
            assert_eq!(out, want, "step {step}");
            assert!(!out.contains("\"choices\":[]"), "step {step}");
            assert_eq!(p.usage(), tokens(9, 12));
            assert!(p.completed());
        }
    }
}

#[test]
fn content_chunks_carrying_usage_are_never_dropped() {
    // Some providers put the usage on the last content chunk instead of a chunk of its own.
    let stream = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\
                  \"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
    let (out, p) = pass(PassThrough::openai(true), stream, usize::MAX);
    assert_eq!(out, stream);
    assert_eq!(p.usage(), tokens(3, 1));
}

#[test]
fn anthropic_usage_is_summed_from_start_and_delta() {
    let stream = anthropic_text_stream();
    for step in STEPS {
        for s in [stream.clone(), crlf(&stream)] {
            let (out, p) = pass(PassThrough::anthropic(), &s, step);
            assert_eq!(out, s, "step {step}");
            assert_eq!(p.usage(), tokens(30, 15));
            assert!(p.completed());
        }
    }
    let cut = &stream[..stream.find("event: message_delta").expect("in fixture")];
    let (_, p) = pass(PassThrough::anthropic(), cut, usize::MAX);
    assert_eq!(p.usage(), tokens(30, 1));
    assert!(!p.completed());
}

#[test]
fn only_whole_events_go_out_and_a_chunk_of_whole_events_is_not_copied() {
    let mut p = PassThrough::openai(true);
    let whole = Bytes::from_static(b"data: {\"choices\":[{\"delta\":{}}]}\n\n");
    let out = p.feed(whole.clone());
    assert_eq!(out, whole);
    assert_eq!(out.as_ptr(), whole.as_ptr(), "passed on without a copy");
    assert_eq!(p.feed(Bytes::from_static(b"data: {\"cho")), "");
    assert_eq!(
        p.feed(Bytes::from_static(b"ices\":[]}\n\ndata: x")),
        "data: {\"choices\":[]}\n\n"
    );
    // An unterminated last event is passed on at the end, not lost.
    assert_eq!(p.finish(), "data: x");
    assert!(!p.completed());
}

#[test]
fn a_stream_without_usage_or_done_reports_neither() {
    let stream = openai_stream(&openai_text_chunks(), false, false);
    let (out, p) = pass(PassThrough::openai(true), &stream, 13);
    assert_eq!(out, stream);
    assert_eq!(p.usage(), Usage::default());
    assert!(!p.completed());
}

#[test]
fn usage_object_detection() {
    assert!(has_usage_object(br#"{"usage":{"prompt_tokens":1}}"#));
    assert!(has_usage_object(br#"{"usage" : {"x":1}}"#));
    assert!(has_usage_object(br#"{"usage":null,"x":{"usage":{}}}"#));
    assert!(!has_usage_object(br#"{"usage":null}"#));
    assert!(!has_usage_object(br#"{"content":"say \"usage\": {"}"#));
}

#[test]
fn events_with_comments_ids_or_several_data_lines_are_read_too() {
    let stream = ": keep-alive\n\nid: 7\ndata: {\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    let (out, p) = pass(PassThrough::openai(false), stream, usize::MAX);
    assert_eq!(out, stream);
    assert_eq!(p.usage(), tokens(4, 2));
    assert!(p.completed());
    assert_eq!(
        simple_event(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        Some((Some("message_stop"), "{\"type\":\"message_stop\"}"))
    );
    assert_eq!(simple_event(b"data: a\ndata: b\n\n"), None);
    assert_eq!(simple_event(b": comment\ndata: a\n\n"), None);
}

#[test]
fn bare_carriage_returns_end_lines_too() {
    let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\rdata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\r\rdata: [DONE]\r\r";
    for step in STEPS {
        let (out, p) = pass(PassThrough::openai(true), stream, step);
        assert_eq!(
            out, "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\rdata: [DONE]\r\r",
            "step {step}"
        );
        assert!(p.completed(), "step {step}");
    }
}

#[test]
fn an_event_without_end_is_passed_on_once_it_outgrows_the_limit() {
    let mut p = PassThrough::openai(true);
    let piece = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut out = 0;
    for _ in 0..40 {
        out += p.feed(piece.clone()).len();
    }
    out += p.finish().len();
    assert_eq!(out, 40 * piece.len(), "nothing lost");
    assert!(p.pending.len() <= MAX_EVENT, "held back at most the limit");
}

#[test]
fn a_choices_member_of_another_shape_does_not_lose_the_usage() {
    let stream =
        "data: {\"choices\":null,\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6}}\n\n";
    let (out, p) = pass(PassThrough::openai(true), stream, usize::MAX);
    assert_eq!(out, stream);
    assert_eq!(p.usage(), tokens(5, 6));
}
