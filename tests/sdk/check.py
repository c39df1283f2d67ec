#!/usr/bin/env python3
"""The official OpenAI and Anthropic Python clients, unchanged, against Keyhold.

Usage: KEYHOLD_URL=http://127.0.0.1:8080 KEYHOLD_TOKEN=kh_... python check.py

Run by the `official_sdks_work_unchanged` test (tests/app/sdk.rs) against a spawned Keyhold
whose providers point at the mock provider, whose answer is always
"mock answer to: <last user message>". Prints one line per check; exits 1 if any failed.
"""

import os
import sys
import traceback

import anthropic
import openai

URL = os.environ["KEYHOLD_URL"].rstrip("/")
TOKEN = os.environ["KEYHOLD_TOKEN"]
PROMPT = "Say hi"
ANSWER = "mock answer to: Say hi"

failures = []


def check(name):
    def run(fn):
        try:
            detail = fn()
            print(f"ok   {name}" + (f": {detail}" if detail else ""), flush=True)
        except Exception as e:  # noqa: BLE001 - any failure is a failed check
            failures.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
        return fn

    return run


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


oai = openai.OpenAI(base_url=URL + "/v1", api_key=TOKEN, max_retries=0, timeout=30)
user = [{"role": "user", "content": PROMPT}]


# KEYHOLD_EXTRA_MODELS="bedrock/…,vertex/claude-…": only these models, through both SDKs,
# whole and streamed (the cloud providers' run of tests/app/sdk.rs).
EXTRA = [m for m in os.environ.get("KEYHOLD_EXTRA_MODELS", "").split(",") if m]
if EXTRA:
    ant = anthropic.Anthropic(base_url=URL, api_key=TOKEN, max_retries=0, timeout=30)
    for model in EXTRA:

        @check(f"openai: chat completion ({model})")
        def _(model=model):
            r = oai.chat.completions.create(model=model, messages=user)
            text = r.choices[0].message.content
            expect(text == ANSWER, f"answer {text!r}")
            expect(r.usage is not None and r.usage.total_tokens > 0, f"usage {r.usage}")
            return text

        @check(f"openai: streaming chat ({model})")
        def _(model=model):
            stream = oai.chat.completions.create(model=model, messages=user, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            expect(text == ANSWER, f"answer {text!r}")
            return text

        @check(f"anthropic: message ({model})")
        def _(model=model):
            m = ant.messages.create(model=model, max_tokens=64, messages=user)
            text = "".join(b.text for b in m.content if b.type == "text")
            expect(text == ANSWER, f"answer {text!r}")
            expect(m.usage.output_tokens > 0, f"usage {m.usage}")
            return text

        @check(f"anthropic: streaming message ({model})")
        def _(model=model):
            with ant.messages.stream(model=model, max_tokens=64, messages=user) as s:
                text = "".join(s.text_stream)
            expect(text == ANSWER, f"answer {text!r}")
            return text

    if failures:
        print(f"{len(failures)} check(s) failed: {failures}", flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)
    sys.exit(0)


@check("openai: chat completion (openai/gpt-4o-mini)")
def _():
    r = oai.chat.completions.create(model="openai/gpt-4o-mini", messages=user)
    text = r.choices[0].message.content
    expect(text == ANSWER, f"answer {text!r}")
    expect(r.usage is not None and r.usage.total_tokens > 0, f"usage {r.usage}")
    return text


@check("openai: streaming chat (openai/gpt-4o-mini)")
def _():
    stream = oai.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=user,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    expect(text == ANSWER, f"answer {text!r}")
    expect(usage is not None and usage.total_tokens > 0, f"usage {usage}")
    return f"{text!r}, {usage.total_tokens} tokens"


@check("openai: streaming chat as the quickstart reads it (choices[0] of every chunk)")
def _():
    # Keyhold asks the provider for usage to meter the call; a client that did not ask
    # must not get the usage-only chunk, whose empty `choices` this loop would trip on.
    text = ""
    for chunk in oai.chat.completions.create(
        model="openai/gpt-4o-mini", messages=user, stream=True
    ):
        text += chunk.choices[0].delta.content or ""
        expect(chunk.usage is None, f"unasked usage {chunk.usage}")
    expect(text == ANSWER, f"answer {text!r}")
    return text


@check("openai: models.list()")
def _():
    ids = [m.id for m in oai.models.list()]
    expect("openai/gpt-4o-mini" in ids, f"ids {ids}")
    expect("anthropic/claude-3-5-haiku-latest" in ids, f"ids {ids}")
    return f"{len(ids)} models"


@check("openai: Anthropic model (anthropic/claude-3-5-haiku-latest)")
def _():
    r = oai.chat.completions.create(
        model="anthropic/claude-3-5-haiku-latest", messages=user, max_tokens=64
    )
    text = r.choices[0].message.content
    expect(text == ANSWER, f"answer {text!r}")
    expect(r.choices[0].finish_reason == "stop", r.choices[0].finish_reason)
    expect(r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0, r.usage)
    return text


@check("openai: Anthropic model, streaming")
def _():
    text = ""
    for chunk in oai.chat.completions.create(
        model="anthropic/claude-3-5-haiku-latest", messages=user, stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    expect(text == ANSWER, f"answer {text!r}")
    return text


@check("openai: unknown model -> BadRequestError")
def _():
    try:
        oai.chat.completions.create(model="no-such-model", messages=user)
    except openai.BadRequestError as e:
        expect(e.status_code == 400, e.status_code)
        expect(e.code == "bad_request", f"code {e.code}")
        expect("Unknown model" in e.message, e.message)
        return e.message
    raise AssertionError("no error raised")


@check("openai: bad token -> AuthenticationError")
def _():
    bad = openai.OpenAI(base_url=URL + "/v1", api_key="kh_wrong", max_retries=0)
    try:
        bad.models.list()
    except openai.AuthenticationError as e:
        expect(e.code == "invalid_api_key", f"code {e.code}")
        return e.message
    raise AssertionError("no error raised")


def anthropic_checks(label, client):
    @check(f"anthropic ({label}): messages.create")
    def _():
        m = client.messages.create(
            model="claude-3-5-haiku-latest", max_tokens=64, messages=user
        )
        text = m.content[0].text
        expect(text == ANSWER, f"answer {text!r}")
        expect(m.stop_reason == "end_turn", m.stop_reason)
        expect(m.usage.input_tokens > 0 and m.usage.output_tokens > 0, m.usage)
        return text

    @check(f"anthropic ({label}): messages.stream text_stream")
    def _():
        with client.messages.stream(
            model="anthropic/claude-3-5-haiku-latest", max_tokens=64, messages=user
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        expect(text == ANSWER, f"answer {text!r}")
        expect(final.usage.output_tokens > 0, final.usage)
        return text

    @check(f"anthropic ({label}): OpenAI model (openai/gpt-4o-mini)")
    def _():
        m = client.messages.create(
            model="openai/gpt-4o-mini", max_tokens=64, messages=user
        )
        text = m.content[0].text
        expect(text == ANSWER, f"answer {text!r}")
        return text

    @check(f"anthropic ({label}): models.list()")
    def _():
        ids = [m.id for m in client.models.list()]
        expect("anthropic/claude-3-5-haiku-latest" in ids, f"ids {ids}")
        return f"{len(ids)} models"

    @check(f"anthropic ({label}): unknown model -> BadRequestError")
    def _():
        try:
            client.messages.create(model="no-such-model", max_tokens=64, messages=user)
        except anthropic.BadRequestError as e:
            expect(e.status_code == 400, e.status_code)
            expect("Unknown model" in str(e), str(e))
            expect(e.body["error"]["code"] == "bad_request", e.body)
            return e.body["error"]["message"]
        raise AssertionError("no error raised")


anthropic_checks(
    "x-api-key",
    anthropic.Anthropic(base_url=URL, api_key=TOKEN, max_retries=0, timeout=30),
)
anthropic_checks(
    "bearer",
    anthropic.Anthropic(base_url=URL, auth_token=TOKEN, max_retries=0, timeout=30),
)


@check("anthropic: bad token -> AuthenticationError")
def _():
    bad = anthropic.Anthropic(base_url=URL, api_key="kh_wrong", max_retries=0)
    try:
        bad.messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=user)
    except anthropic.AuthenticationError as e:
        return str(e)
    raise AssertionError("no error raised")


if failures:
    print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
    sys.exit(1)
print("all checks passed")
