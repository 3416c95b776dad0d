"""The official `openai` Python client running an agent's calls through Converra's `/v1`, on an
organization's OpenAI key: a turn with tools, a tool result, an image and a JSON schema (whole,
`stream=True`, `.parse` and the `.stream` helper with pydantic models), the Responses API
(`responses.create` and `responses.stream`, a function call streamed) and embeddings (the SDK's
default base64 encoding, decoded by the SDK).

Usage: python openai_agent.py BASE_URL API_KEY SENT_LOG
Only the base URL and the key differ from talking to OpenAI itself. Every request body the client
sends is written to SENT_LOG (one JSON line: method, path, body as sent), so the driver
(`tests/e2e/clients.rs`) can compare it byte for byte with what the provider received. Prints one
`ok NAME: VALUE` line per check; exits non-zero on the first mismatch. The driver mounts OpenAI's
answers: `{"city":"Paris","temperature_c":18}` to a turn carrying a tool result (whole, or streamed
in three pieces), a `get_weather` call to a streamed `tool_choice: required` (chat and Responses),
the kit's recorded Responses answer and events (30 in, 12 cached; 9 out, 4 reasoning), and two
base64 vectors.
"""

import json
import sys

import openai
from openai import OpenAI
from openai.types.responses import Response, ResponseUsage
from pydantic import BaseModel

from check import check

MODEL = "openai/gpt-4o-mini"
WEATHER = {"city": "Paris", "temperature_c": 18}


class Weather(BaseModel):
    city: str
    temperature_c: int


class GetWeather(BaseModel):
    city: str


def recorder(path):
    """An httpx event hook writing each request's body, exactly as the client sends it."""
    log = open(path, "w", encoding="utf-8")

    def record(request):
        body = request.read().decode("utf-8")
        log.write(json.dumps({"method": request.method, "path": request.url.path, "body": body}) + "\n")
        log.flush()

    return record


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

RESPONSES_TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": WEATHER_TOOL["function"]["parameters"],
    "strict": False,
}

# An agent's second turn: the user's photo, the model's tool call, the tool's result.
TURN = [
    {"role": "system", "content": "Answer in the JSON schema given."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is the weather where this photo was taken? R\u00e9sum\u00e9 it."},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_Vx9x1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_Vx9x1", "content": '{"temperature_c": 18, "sky": "clear"}'},
]

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "weather",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "temperature_c": {"type": "integer"}},
            "required": ["city", "temperature_c"],
            "additionalProperties": False,
        },
    },
}


def chat(client):
    whole = client.chat.completions.create(model=MODEL, messages=TURN, tools=[WEATHER_TOOL], response_format=SCHEMA)
    check("turn content", json.loads(whole.choices[0].message.content), WEATHER)
    check("turn usage", (whole.usage.prompt_tokens, whole.usage.completion_tokens), (12, 5))

    parts = []
    for chunk in client.chat.completions.create(
        model=MODEL, messages=TURN, tools=[WEATHER_TOOL], response_format=SCHEMA, stream=True
    ):
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
    check("turn stream content", json.loads("".join(parts)), WEATHER)

    tool = openai.pydantic_function_tool(GetWeather, name="get_weather", description="The weather in a city")
    parsed = client.chat.completions.parse(model=MODEL, messages=TURN, tools=[tool], response_format=Weather)
    check("parse parsed", parsed.choices[0].message.parsed, Weather(city="Paris", temperature_c=18))

    deltas = []
    with client.chat.completions.stream(model=MODEL, messages=TURN, tools=[tool], response_format=Weather) as stream:
        for event in stream:
            if event.type == "content.delta":
                deltas.append(event.delta)
        final = stream.get_final_completion()
    check("stream helper deltas", len(deltas) > 1, True)
    check("stream helper parsed", final.choices[0].message.parsed, Weather(city="Paris", temperature_c=18))

    # The first turn: the model calls the tool, its arguments streamed in pieces and reassembled.
    first = TURN[:2]
    pieces, done = [], None
    with client.chat.completions.stream(model=MODEL, messages=first, tools=[tool], tool_choice="required") as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                pieces.append(event.arguments_delta)
            elif event.type == "tool_calls.function.arguments.done":
                done = event
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    check(
        "stream helper tool arguments",
        ("".join(pieces), done.name, done.arguments),
        ('{"city":"Paris"}', "get_weather", '{"city":"Paris"}'),
    )
    check("stream helper tool parsed", (call.function.name, call.function.parsed_arguments, done.parsed_arguments),
          ("get_weather", GetWeather(city="Paris"), GetWeather(city="Paris")))
    check("stream helper finish_reason", final.choices[0].finish_reason, "tool_calls")


def responses(client):
    answer = client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather where this photo was taken?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                ],
            },
            {"type": "function_call", "call_id": "call_R1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_R1", "output": '{"temperature_c": 18}'},
        ],
        tools=[RESPONSES_TOOL],
        store=False,
    )
    check("responses type", (type(answer) is Response, type(answer.usage) is ResponseUsage), (True, True))
    check("responses output_text", answer.output_text, "It is 18 degrees and clear in Paris.")
    usage = answer.usage
    check(
        "responses usage",
        (usage.input_tokens, usage.input_tokens_details.cached_tokens, usage.output_tokens,
         usage.output_tokens_details.reasoning_tokens, usage.total_tokens),
        (30, 12, 9, 4, 39),
    )

    kinds, text = [], ""
    with client.responses.stream(model=MODEL, input="Say hello") as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
        final = stream.get_final_response()
    check("responses stream first and last events", (kinds[0], kinds[-1]), ("response.created", "response.completed"))
    check("responses stream text", (text, final.output_text), ("Hello!", "Hello!"))
    usage = final.usage
    check("responses stream usage", (usage.input_tokens, usage.output_tokens, usage.total_tokens), (30, 9, 39))

    arguments = ""
    with client.responses.stream(
        model=MODEL, input="Weather in Paris?", tools=[RESPONSES_TOOL], tool_choice="required"
    ) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                arguments += event.delta
        final = stream.get_final_response()
    call = final.output[0]
    check("responses stream function call", (call.type, call.name, arguments, call.arguments),
          ("function_call", "get_weather", '{"city":"Paris"}', '{"city":"Paris"}'))


def embeddings(client):
    vectors = client.embeddings.create(model="openai/text-embedding-3-small", input=["hello", "world"])
    check("embeddings", [list(d.embedding) for d in vectors.data], [[0.5, -0.25, 0.125], [1.0, 0.0, -1.0]])
    check("embeddings usage", (vectors.usage.prompt_tokens, vectors.usage.total_tokens), (2, 2))


def main():
    base, key, log = sys.argv[1], sys.argv[2], sys.argv[3]
    print(f"ok client version: {openai.__version__!r}", flush=True)
    http = openai.DefaultHttpx2Client(event_hooks={"request": [recorder(log)]})
    client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20, http_client=http)
    chat(client)
    responses(client)
    embeddings(client)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
