"""The official `anthropic` Python client against Converra's `/v1/messages`.

Usage: python anthropic_client.py BASE_URL API_KEY   (or CONVERRA_BASE_URL / CONVERRA_API_KEY)
Only the base URL and the key differ from talking to Anthropic itself; `max_retries` is left at
its default, so the SDK retries exactly where Converra lets it (`x-should-retry`). Prints one
`ok NAME: VALUE` line per check; exits non-zero on the first mismatch. Driven by
`tests/e2e/clients/anthropic.rs`, which mounts the Anthropic answers this script expects (a
whole answer with a thinking block, a streamed tool call, a token count, and refusals by model:
403 for claude-opus-4-1, 404 for claude-3-nope, 429 with `retry-after: 1` for
claude-haiku-4-5, 529 for claude-opus-4-5) and gives the organization an Anthropic key only.
"""

import os
import sys

import anthropic
from anthropic import Anthropic

from check import check, raised, set_budget

MODEL = "claude-sonnet-4-5"
HI = [{"role": "user", "content": "Say hello"}]


class Counter:
    """Counts the HTTP requests the SDK sends (its retries included)."""

    def __init__(self):
        self.sent = 0

    def __call__(self, request):
        self.sent += 1


def refused(name, client, counter, call, error_type, status, requests):
    """`call` must raise `error_type` with `status`, after exactly `requests` requests."""
    before = counter.sent
    e = raised(name, lambda: call(client), error_type)
    check(f"{name} status", e.status_code, status)
    check(f"{name} requests", counter.sent - before, requests)
    return e


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else os.environ["CONVERRA_BASE_URL"]
    key = sys.argv[2] if len(sys.argv) > 2 else os.environ["CONVERRA_API_KEY"]
    print(f"ok client version: {anthropic.__version__!r}", flush=True)
    counter = Counter()
    http = anthropic.DefaultHttpxClient(event_hooks={"request": [counter]})
    client = Anthropic(base_url=base, api_key=key, http_client=http, timeout=30)

    # A whole answer, its thinking block passed through with its signature.
    answer = client.messages.create(
        model=MODEL, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024}, messages=HI
    )
    check("content types", [block.type for block in answer.content], ["thinking", "text"])
    check("thinking", (answer.content[0].thinking, answer.content[0].signature), ("The user greets me.", "EqQBCgIYAhIM"))
    check("text", answer.content[1].text, "Hello there!")
    check("stop_reason", answer.stop_reason, "end_turn")
    check("usage", (answer.usage.input_tokens, answer.usage.output_tokens), (12, 5))
    check("model", answer.model, MODEL)

    # A streamed tool call, read with the SDK's stream helper.
    weather = {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    kinds, text = [], ""
    with client.messages.stream(
        model=MODEL, max_tokens=256, tools=[weather], messages=[{"role": "user", "content": "Weather in Paris?"}]
    ) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "text":
                text += event.text
        final = stream.get_final_message()
    check("stream text", text, "Let me check.")
    check("stream tool call", (final.content[1].name, final.content[1].input), ("get_weather", {"city": "Paris"}))
    check("stream stop_reason", final.stop_reason, "tool_use")
    check("stream usage", (final.usage.input_tokens, final.usage.output_tokens), (20, 9))
    check("stream events", [k for k in ("message_start", "input_json", "message_stop") if k in kinds], ["message_start", "input_json", "message_stop"])

    counted = client.messages.count_tokens(model=MODEL, messages=HI)
    check("count_tokens", counted.input_tokens, 14)

    # Refusals, each the SDK's own typed error, retried only where a retry may help.
    bad = Anthropic(base_url=base, api_key="sk_test_not_a_key", http_client=http, timeout=30)
    e = refused("bad key", bad, counter, lambda c: c.messages.create(model=MODEL, max_tokens=10, messages=HI),
                anthropic.AuthenticationError, 401, 1)
    check("bad key type", e.body["error"]["type"], "authentication_error")
    ask = lambda model: lambda c: c.messages.create(model=model, max_tokens=10, messages=HI)  # noqa: E731
    e = refused("forbidden model", client, counter, ask("claude-opus-4-1"), anthropic.PermissionDeniedError, 403, 1)
    check("forbidden model message", e.body["error"]["message"], "Permission denied")
    e = refused("unknown model", client, counter, ask("claude-3-nope"), anthropic.NotFoundError, 404, 1)
    check("unknown model message", e.body["error"]["message"], "model: claude-3-nope")
    # A rate limit may be retried: the SDK waits `retry-after` and tries twice more.
    e = refused("rate limited", client, counter, ask("claude-haiku-4-5"), anthropic.RateLimitError, 429, 3)
    check("rate limited retry-after", e.response.headers.get("retry-after"), "1")
    check("rate limited type", e.body["error"]["type"], "rate_limit_error")
    e = refused("overloaded", client, counter, ask("claude-opus-4-5"), anthropic.OverloadedError, 529, 3)
    check("overloaded type", e.body["error"]["type"], "overloaded_error")
    # Converra's refusals that a retry cannot change: one request each, even for a 409.
    files = lambda c: c.messages.create(  # noqa: E731
        model=MODEL, max_tokens=10, messages=HI, extra_headers={"anthropic-beta": "files-api-2025-04-14"}
    )
    e = refused("account beta", client, counter, files, anthropic.BadRequestError, 400, 1)
    check("account beta code", e.body["error"]["code"], "UNSUPPORTED_FIELD")
    check("account beta x-should-retry", e.response.headers.get("x-should-retry"), "false")
    e = refused("no deepseek key", client, counter, ask("deepseek-chat"), anthropic.ConflictError, 409, 1)
    check("no deepseek key code", e.body["error"]["code"], "NO_PROVIDER_KEY")
    # A budget without room for the call: 402 `billing_error`, never retried.
    set_budget(base, key, {"scope": "organization", "limit_micro_usd": 1})
    e = refused("budget exceeded", client, counter, ask(MODEL), anthropic.APIStatusError, 402, 1)
    check("budget exceeded type", e.body["error"]["type"], "billing_error")
    check("budget exceeded code", e.body["error"]["code"], "BUDGET_EXCEEDED")

    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
