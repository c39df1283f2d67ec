//! Tests of request and response translation.

use serde_json::{Value, json};

use super::*;

fn bad_request(result: Result<Value, TranslateError>) -> String {
    match result {
        Err(TranslateError::BadRequest(msg)) => msg,
        Ok(v) => panic!("expected BadRequest, got {v}"),
    }
}

#[test]
fn openai_request_multi_turn_with_system_prompt() {
    let req = json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Bonjour."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "user", "content": [{"type": "text", "text": "Be brief."}]},
        ],
        "max_completion_tokens": 256,
        "max_tokens": 999,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "\n\nHuman:",
        "stream": true,
        "user": "user-42",
        "frequency_penalty": 0.5,
        "logprobs": true,
    });
    let out = openai_request_to_anthropic(&req).expect("translates");
    assert_eq!(
        out,
        json!({
            "model": "claude-sonnet-4-5",
            "system": "You are terse.\n\nAnswer in French.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Bonjour."}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is 2+2?"},
                    {"type": "text", "text": "Be brief."},
                ]},
            ],
            "max_tokens": 256,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": ["\n\nHuman:"],
            "stream": true,
            "metadata": {"user_id": "user-42"},
        })
    );
}

#[test]
fn openai_request_defaults_and_stop_array() {
    let req = json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100,
        "stop": ["END", "STOP"],
    });
    let out = openai_request_to_anthropic(&req).expect("translates");
    assert_eq!(out["max_tokens"], 100);
    assert_eq!(out["stop_sequences"], json!(["END", "STOP"]));
    assert!(out.get("system").is_none());
    assert!(out.get("temperature").is_none());

    let req = json!({"messages": [{"role": "user", "content": "hi"}], "stop": null});
    let out = openai_request_to_anthropic(&req).expect("translates");
    assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
    assert!(out.get("stop_sequences").is_none());
    assert!(out.get("model").is_none());
}

#[test]
fn openai_request_image_parts() {
    let req = json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
        ]}],
    });
    let out = openai_request_to_anthropic(&req).expect("translates");
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is in these images?"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        ])
    );
}

#[test]
fn openai_request_tool_calls() {
    let req = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
            {"role": "user", "content": "Thanks, which is warmer?"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }}, {"type": "function", "function": {"name": "now"}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
    });
    let out = openai_request_to_anthropic(&req).expect("translates");
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
                {"type": "text", "text": "Thanks, which is warmer?"},
            ]},
        ])
    );
    assert_eq!(
        out["tools"],
        json!([
            {"name": "get_weather", "description": "Current weather",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        ])
    );
    assert_eq!(
        out["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
}

#[test]
fn openai_request_tool_choice_variants() {
    let with = |choice: Value| {
        let req = json!({
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": choice,
        });
        openai_request_to_anthropic(&req).expect("translates")["tool_choice"].clone()
    };
    assert_eq!(with(json!("auto")), json!({"type": "auto"}));
    assert_eq!(with(json!("none")), json!({"type": "none"}));
    assert_eq!(
        with(json!({"type": "function", "function": {"name": "f"}})),
        json!({"type": "tool", "name": "f"})
    );
    // No tools: tool_choice is dropped (Anthropic rejects it alone).
    let req = json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"});
    assert!(
        openai_request_to_anthropic(&req)
            .expect("translates")
            .get("tool_choice")
            .is_none()
    );
}

#[test]
fn openai_request_bad_requests() {
    let msg = bad_request(openai_request_to_anthropic(&json!({"model": "m"})));
    assert_eq!(msg, "`messages` is required");
    let msg = bad_request(openai_request_to_anthropic(&json!({"messages": []})));
    assert_eq!(msg, "`messages` must not be empty");
    let msg = bad_request(openai_request_to_anthropic(&json!({"messages": "hi"})));
    assert_eq!(msg, "`messages` must be an array");
    let msg = bad_request(openai_request_to_anthropic(&json!([1, 2])));
    assert_eq!(msg, "request body must be a JSON object");
    let only_system = json!({"messages": [{"role": "system", "content": "Be nice"}, {"role": "user", "content": ""}]});
    let msg = bad_request(openai_request_to_anthropic(&only_system));
    assert_eq!(msg, "`messages` has no user or assistant content");
    let bad_role =
        json!({"messages": [{"role": "user", "content": "a"}, {"role": "wizard", "content": "b"}]});
    let msg = bad_request(openai_request_to_anthropic(&bad_role));
    assert_eq!(msg, "messages[1]: unsupported role `wizard`");
    let audio = json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]});
    let msg = bad_request(openai_request_to_anthropic(&audio));
    assert_eq!(
        msg,
        "messages[0].content[0]: unsupported content part type `input_audio`"
    );
    let data_url = json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}]}]});
    let msg = bad_request(openai_request_to_anthropic(&data_url));
    assert!(msg.contains("only base64 data URLs"), "{msg}");
    let args = json!({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]});
    let msg = bad_request(openai_request_to_anthropic(&args));
    assert_eq!(
        msg,
        "messages[0].tool_calls[0]: `function.arguments` is not a JSON object"
    );
    let tool = json!({"messages": [{"role": "tool", "content": "x"}]});
    let msg = bad_request(openai_request_to_anthropic(&tool));
    assert_eq!(msg, "messages[0]: tool message without `tool_call_id`");
    let tools =
        json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search"}]});
    let msg = bad_request(openai_request_to_anthropic(&tools));
    assert_eq!(msg, "tools[0]: only function tools can be translated");
    let stop = json!({"messages": [{"role": "user", "content": "x"}], "stop": 5});
    let msg = bad_request(openai_request_to_anthropic(&stop));
    assert_eq!(msg, "`stop` must be a string or an array of strings");
}

#[test]
fn anthropic_request_multi_turn_with_system_prompt() {
    let req = json!({
        "model": "gpt-4o",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}],
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": [{"type": "text", "text": "Bonjour."}]},
            {"role": "user", "content": [{"type": "text", "text": "2+2?", "cache_control": {"type": "ephemeral"}}]},
        ],
        "temperature": 0.5,
        "top_p": 0.8,
        "top_k": 40,
        "stop_sequences": ["END"],
        "stream": true,
        "metadata": {"user_id": "u-1"},
    });
    let out = anthropic_request_to_openai(&req).expect("translates");
    assert_eq!(
        out,
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are terse.\n\nAnswer in French."},
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Bonjour."},
                {"role": "user", "content": "2+2?"},
            ],
            "max_tokens": 1024,
            "temperature": 0.5,
            "top_p": 0.8,
            "stop": ["END"],
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "u-1",
        })
    );
    let req = json!({"system": "Be nice", "messages": [{"role": "user", "content": "hi"}], "stream": false});
    let out = anthropic_request_to_openai(&req).expect("translates");
    assert_eq!(
        out["messages"][0],
        json!({"role": "system", "content": "Be nice"})
    );
    assert_eq!(out["stream"], false);
    assert!(out.get("stream_options").is_none());
}

#[test]
fn anthropic_request_images_and_tools() {
    let req = json!({
        "model": "gpt-4o",
        "max_tokens": 500,
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Describe, then check the weather."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "A cat. Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
                {"type": "text", "text": "And?"},
            ]},
        ],
        "tools": [{"name": "get_weather", "description": "Current weather",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
    });
    let out = anthropic_request_to_openai(&req).expect("translates");
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "Describe, then check the weather."},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ]},
            {"role": "assistant", "content": "A cat. Checking.", "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "user", "content": "And?"},
        ])
    );
    assert_eq!(
        out["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    );
    assert_eq!(
        out["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(out["parallel_tool_calls"], false);
}

#[test]
fn anthropic_request_bad_requests() {
    let msg = bad_request(anthropic_request_to_openai(&json!({"max_tokens": 5})));
    assert_eq!(msg, "`messages` is required");
    let msg = bad_request(anthropic_request_to_openai(&json!({"messages": []})));
    assert_eq!(msg, "`messages` must not be empty");
    let sys = json!({"messages": [{"role": "system", "content": "x"}]});
    let msg = bad_request(anthropic_request_to_openai(&sys));
    assert_eq!(msg, "messages[0]: unsupported role `system`");
    let empty = json!({"system": "x", "messages": [{"role": "user", "content": ""}]});
    let msg = bad_request(anthropic_request_to_openai(&empty));
    assert_eq!(msg, "`messages` has no user or assistant content");
    let block = json!({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]});
    let msg = bad_request(anthropic_request_to_openai(&block));
    assert_eq!(
        msg,
        "messages[0].content[0]: unsupported content block type `search_result`"
    );
    let tools = json!({"messages": [{"role": "user", "content": "x"}],
                       "tools": [{"type": "web_search_20250305", "name": "web_search"}]});
    let msg = bad_request(anthropic_request_to_openai(&tools));
    assert_eq!(
        msg,
        "tools[0]: server tool `web_search_20250305` cannot be translated"
    );
}

#[test]
fn requests_round_trip() {
    let req = json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"c\":\"P\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        "max_tokens": 10,
        "stop": ["x"],
    });
    let back = anthropic_request_to_openai(&openai_request_to_anthropic(&req).expect("translates"))
        .expect("translates");
    assert_eq!(back["messages"], req["messages"]);
    assert_eq!(back["stop"], req["stop"]);
    assert_eq!(back["max_tokens"], 10);
}

fn anthropic_message() -> Value {
    json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "text", "text": "Let me check "},
            {"type": "text", "text": "the weather."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": {"input_tokens": 100, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 5, "output_tokens": 30},
    })
}

#[test]
fn anthropic_response_to_openai_completion() {
    let (out, usage) =
        anthropic_response_to_openai(&anthropic_message(), "my-model", 1_700_000_000)
            .expect("translates");
    assert_eq!(
        usage,
        Usage {
            input: 125,
            output: 30
        }
    );
    assert_eq!(
        out,
        json!({
            "id": "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "my-model",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me check the weather.",
                    "refusal": null,
                    "tool_calls": [{"id": "toolu_01A", "type": "function",
                                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}],
                },
                "logprobs": null,
                "finish_reason": "tool_calls",
            }],
            "usage": {"prompt_tokens": 125, "completion_tokens": 30, "total_tokens": 155},
        })
    );
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ] {
        let resp = json!({"id": "msg_1", "content": [{"type": "text", "text": "hi"}], "stop_reason": stop,
                          "usage": {"input_tokens": 1, "output_tokens": 2}});
        let (out, _) = anthropic_response_to_openai(&resp, "m", 0).expect("translates");
        assert_eq!(out["choices"][0]["finish_reason"], finish, "{stop}");
        assert_eq!(out["choices"][0]["message"]["content"], "hi");
        assert!(out["choices"][0]["message"].get("tool_calls").is_none());
    }
    let err =
        anthropic_response_to_openai(&json!({"type": "error"}), "m", 0).expect_err("rejected");
    assert!(err.to_string().contains("content"));
}

#[test]
fn openai_response_to_anthropic_message() {
    let resp = json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1_741_569_952,
        "model": "gpt-4o-2024-08-06",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Checking.", "refusal": null, "tool_calls": [
                {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            ]},
            "logprobs": null,
            "finish_reason": "tool_calls",
        }],
        "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
    });
    let (out, usage) =
        openai_response_to_anthropic(&resp, "claude-client-model").expect("translates");
    assert_eq!(
        usage,
        Usage {
            input: 19,
            output: 10
        }
    );
    assert_eq!(
        out,
        json!({
            "id": "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "type": "message",
            "role": "assistant",
            "model": "claude-client-model",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 19, "output_tokens": 10},
        })
    );
    for (finish, stop) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ] {
        let resp = json!({"id": "x", "choices": [{"message": {"role": "assistant", "content": "hi"},
                          "finish_reason": finish}]});
        let (out, usage) = openai_response_to_anthropic(&resp, "m").expect("translates");
        assert_eq!(out["stop_reason"], stop, "{finish}");
        assert_eq!(usage, Usage::default());
    }
    let err = openai_response_to_anthropic(&json!({"choices": []}), "m").expect_err("rejected");
    assert_eq!(err.to_string(), "upstream response has no choices");
}

#[test]
fn responses_round_trip() {
    let (openai, usage) =
        anthropic_response_to_openai(&anthropic_message(), "m", 1).expect("translates");
    let (back, usage2) = openai_response_to_anthropic(&openai, "m").expect("translates");
    assert_eq!(usage, usage2);
    assert_eq!(back["content"][0]["text"], "Let me check the weather.");
    assert_eq!(back["content"][1], anthropic_message()["content"][2]);
    assert_eq!(back["stop_reason"], "tool_use");
    assert_eq!(back["id"], "msg_msg_01XFDUDYJgAACzvnptvVoYEL");
}

#[test]
fn usage_readers() {
    let openai = json!({"usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}});
    assert_eq!(
        usage_from_openai(&openai),
        Some(Usage {
            input: 7,
            output: 3
        })
    );
    assert_eq!(usage_from_openai(&json!({"usage": null})), None);
    assert_eq!(usage_from_openai(&json!({})), None);
    assert_eq!(
        usage_from_anthropic(&anthropic_message()),
        Some(Usage {
            input: 125,
            output: 30
        })
    );
    assert_eq!(usage_from_anthropic(&json!({"id": "x"})), None);
}
