use serde_json::json;

use super::*;

fn sample_stream() -> Vec<u8> {
    let mut bytes = event_frame("messageStart", &json!({"role": "assistant"}));
    bytes.extend(event_frame(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}, "p": "abcdefgh"}),
    ));
    bytes.extend(event_frame(
        "messageStop",
        &json!({"stopReason": "end_turn"}),
    ));
    bytes
}

fn types(events: &[Result<Event, EventStreamError>]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Ok(ev) => ev.event_type.clone(),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

#[test]
fn whole_frames_decode_to_typed_json_events() {
    let mut decoder = EventStreamDecoder::new();
    let events = decoder.feed(&sample_stream());
    assert_eq!(
        types(&events),
        ["messageStart", "contentBlockDelta", "messageStop"]
    );
    let Ok(delta) = &events[1] else {
        panic!("an event")
    };
    assert_eq!(delta.payload["delta"]["text"], "Hello");
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn frames_split_at_every_byte_decode_the_same() {
    let bytes = sample_stream();
    for split in 1..bytes.len() {
        let mut decoder = EventStreamDecoder::new();
        let mut events = decoder.feed(&bytes[..split]);
        events.extend(decoder.feed(&bytes[split..]));
        assert_eq!(
            types(&events),
            ["messageStart", "contentBlockDelta", "messageStop"],
            "split at {split}"
        );
        assert_eq!(decoder.finish(), Ok(()), "split at {split}");
    }
}

#[test]
fn one_byte_at_a_time_decodes_the_same() {
    let mut decoder = EventStreamDecoder::new();
    let mut events = Vec::new();
    for byte in sample_stream() {
        events.extend(decoder.feed(&[byte]));
    }
    assert_eq!(
        types(&events),
        ["messageStart", "contentBlockDelta", "messageStop"]
    );
}

#[test]
fn an_exception_frame_is_an_error_and_ends_the_stream() {
    let mut bytes = event_frame("messageStart", &json!({"role": "assistant"}));
    bytes.extend(exception_frame(
        "throttlingException",
        "Too many requests, please wait.",
    ));
    bytes.extend(event_frame(
        "messageStop",
        &json!({"stopReason": "end_turn"}),
    ));
    let mut decoder = EventStreamDecoder::new();
    let events = decoder.feed(&bytes);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        Err(EventStreamError::Exception {
            kind: "throttlingException".into(),
            message: "Too many requests, please wait.".into(),
        })
    );
    assert!(
        decoder.feed(&sample_stream()).is_empty(),
        "nothing after an error"
    );
}

#[test]
fn a_corrupted_frame_is_malformed() {
    let mut bytes = sample_stream();
    let last = bytes.len() - 5;
    bytes[last] ^= 0xff; // inside the last frame's payload: its CRC no longer matches
    let events = EventStreamDecoder::new().feed(&bytes);
    assert_eq!(events.len(), 3);
    assert!(matches!(events[2], Err(EventStreamError::Malformed(_))));
}

#[test]
fn a_stream_cut_mid_frame_is_truncated() {
    let bytes = sample_stream();
    for cut in [3, 14, bytes.len() - 1] {
        let mut decoder = EventStreamDecoder::new();
        decoder.feed(&bytes[..cut]);
        assert_eq!(
            decoder.finish(),
            Err(EventStreamError::Truncated),
            "cut at {cut}"
        );
    }
}
