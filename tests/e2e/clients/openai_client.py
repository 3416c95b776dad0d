"""The official `openai` Python client against Converra's OpenAI-compatible API.

Usage: python openai_client.py BASE_URL API_KEY   (or CONVERRA_BASE_URL / CONVERRA_API_KEY)
Only the base URL and the key differ from talking to OpenAI itself. Prints one `ok NAME: VALUE`
line per check; exits non-zero on the first mismatch. Driven by `tests/clients.rs`, which mounts
the provider answers this script expects ("Hello there!" whole, "Hel" + "lo!" streamed; 12 input
and 5 output tokens) and gives the organization an OpenAI key but no Anthropic key.
"""

import asyncio
import os
import sys

import openai
from openai import AsyncOpenAI, OpenAI

from check import check, raised, set_budget


def refused(name, call, error_type, status, code):
    """`call` must raise `error_type` with `status` and OpenAI's error body carrying `code`."""
    e = raised(name, call, error_type)
    check(f"{name} status", e.status_code, status)
    check(f"{name} code", e.code, code)
    return e


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else os.environ["CONVERRA_BASE_URL"]
    key = sys.argv[2] if len(sys.argv) > 2 else os.environ["CONVERRA_API_KEY"]
    print(f"ok client version: {openai.__version__!r}", flush=True)
    client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)

    answer = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        max_tokens=20,
    )
    check("content", answer.choices[0].message.content, "Hello there!")
    check("role", answer.choices[0].message.role, "assistant")
    check("finish_reason", answer.choices[0].finish_reason, "stop")
    check("usage", (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens), (12, 5, 17))
    check("object", answer.object, "chat.completion")
    # Forwarded to OpenAI, the answer is OpenAI's own: its model name, without Converra's prefix.
    check("model", answer.model, "gpt-4o-mini")
    check("id prefix", answer.id.startswith("chatcmpl-"), True)

    # A bare model name: the provider is inferred from its prefix.
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, objects = "", None, None, set()
    for chunk in stream:
        objects.add(chunk.object)
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens)
    check("stream content", text, "Hello!")
    check("stream finish_reason", finish, "stop")
    check("stream usage", usage, (12, 5, 17))
    check("stream objects", objects, {"chat.completion.chunk"})

    # An agent's turn, forwarded to OpenAI as sent: an image, tools, a JSON schema, a seed.
    turn = dict(
        model="openai/gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is the weather where this photo was taken?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            }
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                },
            }
        ],
        tool_choice="required",
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        seed=7,
    )
    called = client.chat.completions.create(**turn)
    call = called.choices[0].message.tool_calls[0]
    check("tool call", (call.function.name, call.function.arguments), ("get_weather", '{"city":"Paris"}'))
    check("tool finish_reason", called.choices[0].finish_reason, "tool_calls")
    check("system_fingerprint", called.system_fingerprint, "fp_f33640a400")
    check("cached tokens", called.usage.prompt_tokens_details.cached_tokens, 8)
    name, arguments = None, ""
    for chunk in client.chat.completions.create(**turn, stream=True):
        for tool_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = tool_call.function.name or name
            arguments += tool_call.function.arguments or ""
    check("stream tool call", (name, arguments), ("get_weather", '{"city":"Paris"}'))

    async def async_stream():
        async with AsyncOpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20) as aclient:
            parts = []
            async for chunk in await aclient.chat.completions.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}], stream=True
            ):
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
            return "".join(parts)

    check("async stream content", asyncio.run(async_stream()), "Hello!")

    models = [m.id for m in client.models.list()]
    check("models include openai/gpt-4o-mini", "openai/gpt-4o-mini" in models, True)
    check("models only from reachable providers", all(m.startswith("openai/") for m in models), True)

    bad = OpenAI(base_url=base + "/v1", api_key="sk_test_not_a_key", max_retries=0, timeout=20)
    e = refused("bad key", lambda: bad.models.list(), openai.AuthenticationError, 401, "invalid_api_key")
    check("bad key body message", e.body["message"] if isinstance(e.body, dict) else e.body, "Invalid API key")
    refused(
        "bad key on chat",
        lambda: bad.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}]),
        openai.AuthenticationError,
        401,
        "invalid_api_key",
    )

    refused(
        "unknown model",
        lambda: client.chat.completions.create(model="mystery", messages=[{"role": "user", "content": "x"}]),
        openai.BadRequestError,
        400,
        "validation_error",
    )
    refused(
        "no provider key",
        lambda: client.chat.completions.create(
            model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}]
        ),
        openai.ConflictError,
        409,
        "no_provider_key",
    )
    refused(
        "no provider key, streaming",
        lambda: client.chat.completions.create(
            model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}], stream=True
        ),
        openai.ConflictError,
        409,
        "no_provider_key",
    )

    # A budget without room for the call: 402 `budget_exceeded`, the client's status error,
    # sent once although the client may retry twice (a 402 is never retried).
    set_budget(base, key, {"scope": "organization", "limit_micro_usd": 1})
    sent = []
    counted = openai.DefaultHttpxClient(event_hooks={"request": [sent.append]})
    retrying = OpenAI(base_url=base + "/v1", api_key=key, max_retries=2, timeout=20, http_client=counted)
    e = refused(
        "budget exceeded",
        lambda: retrying.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}]),
        openai.APIStatusError,
        402,
        "budget_exceeded",
    )
    check("budget exceeded type", e.type, "insufficient_quota")
    check("budget exceeded requests", len(sent), 1)

    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
