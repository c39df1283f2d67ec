use serde_json::json;

use super::*;

fn message(err: Result<Value, TranslateError>) -> String {
    match err {
        Err(TranslateError::BadRequest(m)) => m,
        Ok(v) => panic!("expected an error, got {v}"),
    }
}

#[test]
fn a_chat_request_becomes_a_converse_request() {
    let req = json!({
        "model": "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ],
        "max_tokens": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": "END",
    });
    let out = openai_request_to_converse(&req).expect("translated");
    assert_eq!(
        out,
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}, {"text": "there"}]},
                {"role": "assistant", "content": [{"text": "Hello!"}]},
                {"role": "user", "content": [{"text": "Bye"}]},
            ],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
        })
    );
}

#[test]
fn max_tokens_defaults_and_max_completion_tokens_wins() {
    let req = json!({"messages": [{"role": "user", "content": "Hi"}]});
    let out = openai_request_to_converse(&req).expect("translated");
    assert_eq!(
        out["inferenceConfig"],
        json!({"maxTokens": DEFAULT_MAX_TOKENS})
    );
    assert!(out.get("system").is_none());

    let req = json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5, "max_completion_tokens": 7, "stop": ["a", "b"]});
    let out = openai_request_to_converse(&req).expect("translated");
    assert_eq!(
        out["inferenceConfig"],
        json!({"maxTokens": 7, "stopSequences": ["a", "b"]})
    );
}

#[test]
fn a_base64_image_becomes_an_image_block_and_a_url_is_refused() {
    let req = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]}]});
    let out = openai_request_to_converse(&req).expect("translated");
    assert_eq!(
        out["messages"][0]["content"][1],
        json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}})
    );

    let req = json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]}]});
    let msg = message(openai_request_to_converse(&req));
    assert!(
        msg.contains("messages[0].content[0]") && msg.contains("base64 data URLs"),
        "{msg}"
    );
}

#[test]
fn tools_are_refused_with_a_clear_message() {
    let tools = json!({"messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]});
    assert!(
        message(openai_request_to_converse(&tools))
            .starts_with("`tools`: tools and tool calls are not supported")
    );

    let tool_msg = json!({"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "42"},
    ]});
    assert!(message(openai_request_to_converse(&tool_msg)).contains("messages[1].tool_calls"));
}

#[test]
fn bad_requests_name_the_field() {
    assert_eq!(
        message(openai_request_to_converse(&json!({}))),
        "`messages` is required"
    );
    let first_assistant = json!({"messages": [{"role": "assistant", "content": "Hi"}]});
    assert!(
        message(openai_request_to_converse(&first_assistant)).contains("start with a user message")
    );
    let bad_temp = json!({"messages": [{"role": "user", "content": "Hi"}], "temperature": "hot"});
    assert_eq!(
        message(openai_request_to_converse(&bad_temp)),
        "`temperature` must be a number"
    );
    let audio = json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]});
    assert!(message(openai_request_to_converse(&audio)).contains("`input_audio` is not supported"));
}

#[test]
fn a_converse_response_becomes_a_chat_completion_with_usage() {
    let resp = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "Hello"}, {"text": " world"}]}},
        "stopReason": "max_tokens",
        "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15, "cacheReadInputTokens": 4},
        "metrics": {"latencyMs": 120},
    });
    let (out, usage) =
        converse_response_to_openai(&resp, "bedrock/m", 1_700_000_000).expect("translated");
    assert_eq!(
        usage,
        Usage {
            input: 16,
            output: 3
        }
    );
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["model"], "bedrock/m");
    assert_eq!(out["created"], 1_700_000_000);
    assert!(
        out["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(out["choices"][0]["message"]["content"], "Hello world");
    assert_eq!(out["choices"][0]["finish_reason"], "length");
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 16, "completion_tokens": 3, "total_tokens": 19})
    );
}

#[test]
fn a_response_without_content_is_an_error() {
    assert!(converse_response_to_openai(&json!({"message": "x"}), "m", 0).is_err());
}
