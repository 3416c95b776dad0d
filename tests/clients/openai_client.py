"""The official `openai` Python client against Converra's OpenAI-compatible API.

Usage: python openai_client.py BASE_URL API_KEY
Only the base URL and the key differ from talking to OpenAI itself. Prints one line per check;
exits non-zero on the first mismatch.
"""

import sys

import openai
from openai import OpenAI


def check(name, actual, expected):
    if actual != expected:
        print(f"FAIL {name}: {actual!r} != {expected!r}")
        sys.exit(1)
    print(f"ok {name}: {actual!r}")


def main():
    base, key = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)

    answer = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        max_tokens=20,
    )
    check("content", answer.choices[0].message.content, "Hello there!")
    check("finish_reason", answer.choices[0].finish_reason, "stop")
    check("usage", (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens), (12, 5, 17))
    check("object", answer.object, "chat.completion")

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage.total_tokens
    check("stream content", text, "Hello!")
    check("stream finish_reason", finish, "stop")
    check("stream usage", usage, 17)

    models = [m.id for m in client.models.list()]
    check("models include openai/gpt-4o-mini", "openai/gpt-4o-mini" in models, True)

    try:
        OpenAI(base_url=base + "/v1", api_key="sk_test_not_a_key", max_retries=0).models.list()
        check("bad key refused", False, True)
    except openai.AuthenticationError as e:
        check("bad key status", e.status_code, 401)
        check("bad key message", e.body["message"] if isinstance(e.body, dict) else e.body, "Invalid API key")

    try:
        client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}])
        check("no provider key refused", False, True)
    except openai.APIStatusError as e:
        check("no provider key status", e.status_code, 409)

    print("all checks passed")


if __name__ == "__main__":
    main()
