//! Tests of the translation: an agent's turn (system, text, an image, tool calls and results,
//! tools, tool choice, JSON output, sampling) read once and written as the exact Anthropic and
//! Gemini bodies; every field that cannot be carried refused by its path, nothing dropped but
//! the advisory fields, which are named.

use converra::Provider;
use serde_json::{Value, json};

use super::Chat;
use crate::openai::{ChatView, to_anthropic, to_gemini};
use converra_base::Error;

fn read(body: &Value, provider: Provider) -> Result<Chat, Error> {
    let bytes = serde_json::to_vec(body).unwrap();
    ChatView::parse(&bytes).unwrap().translated(provider)
}

fn anthropic(body: &Value) -> Value {
    let chat = read(body, Provider::Anthropic).unwrap();
    serde_json::from_slice(&to_anthropic(&chat, "claude-sonnet-4-5", chat.max_tokens.unwrap_or(4096)).unwrap()).unwrap()
}

fn gemini(body: &Value) -> Value {
    let chat = read(body, Provider::Gemini).unwrap();
    serde_json::from_slice(&to_gemini(&chat, chat.max_tokens).unwrap()).unwrap()
}

/// The field a refusal names, for `provider`.
fn refused(body: &Value, provider: Provider) -> String {
    let chat = read(body, provider);
    let e = match (chat, provider) {
        (Err(e), _) => e,
        (Ok(chat), Provider::Anthropic) => to_anthropic(&chat, "m", 10).unwrap_err(),
        (Ok(chat), _) => to_gemini(&chat, None).unwrap_err(),
    };
    match e {
        Error::UnsupportedField { field, provider: p } if p == provider => field,
        other => panic!("not refused for {provider}: {other:?}"),
    }
}

/// An agent's second step: it called a tool about a photo, got the result, and asks again.
fn agent_turn() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are a weather bot."},
            {"role": "developer", "content": [{"type": "text", "text": "Use the tools."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather where this was taken?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}}]},
            {"role": "assistant", "content": null, "refusal": null, "annotations": [], "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "locate", "arguments": "{\"photo\":0}"}},
                {"id": "call_2", "type": "function", "function": {"name": "clock", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Paris"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
            {"role": "assistant", "content": "Looking it up."},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "strict": true,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "stop": "END",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 300,
        "user": "agent-7",
        "metadata": {"run": "r-1"},
        "logprobs": false,
        "stream": true
    })
}

#[test]
fn an_agents_turn_becomes_the_exact_anthropic_body() {
    let expected = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "You are a weather bot."}, {"type": "text", "text": "Use the tools."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather where this was taken?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "locate", "input": {"photo": 0}},
                {"type": "tool_use", "id": "call_2", "name": "clock", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "Paris"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "noon"}]}]},
            {"role": "assistant", "content": "Looking it up."},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"name": "get_weather", "description": "Weather in a city", "strict": true,
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "stream": true
    });
    assert_eq!(anthropic(&agent_turn()), expected);
    // In the order the body holds them (`json!` writes its keys sorted).
    assert_eq!(read(&agent_turn(), Provider::Anthropic).unwrap().dropped, ["metadata", "user"]);
}

#[test]
fn an_agents_turn_becomes_the_exact_gemini_body() {
    let mut turn = agent_turn();
    turn["model"] = json!("gemini-2.5-flash");
    turn["parallel_tool_calls"] = json!(true);
    turn["seed"] = json!(7);
    // Gemini 3's thought signature rides on the id Converra gave the call.
    turn["messages"][3]["tool_calls"][0]["id"] = json!("call_1__thought__c2lnbmVk");
    turn["messages"][4]["tool_call_id"] = json!("call_1__thought__c2lnbmVk");
    let expected = json!({
        "systemInstruction": {"parts": [{"text": "You are a weather bot."}, {"text": "Use the tools."}]},
        "contents": [
            {"role": "user", "parts": [
                {"text": "Weather where this was taken?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "locate", "args": {"photo": 0}}, "thoughtSignature": "c2lnbmVk"},
                {"functionCall": {"name": "clock", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "locate", "response": {"output": "Paris"}}},
                {"functionResponse": {"name": "clock", "response": {"output": "noon"}}}]},
            {"role": "model", "parts": [{"text": "Looking it up."}]},
            {"role": "user", "parts": [{"text": "Thanks"}]}
        ],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather in a city",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"maxOutputTokens": 300, "temperature": 0.2, "topP": 0.9, "seed": 7, "stopSequences": ["END"]}
    });
    assert_eq!(gemini(&turn), expected);
}

#[test]
fn tool_choice_and_json_output_take_each_providers_form() {
    let user = json!([{"role": "user", "content": "Weather?"}]);
    let tool = json!([{"type": "function", "function": {"name": "get_weather"}}]);
    let schema = json!({"type": "object", "properties": {"t": {"type": "number"}}, "required": ["t"], "additionalProperties": false});
    let named = json!({"model": "m", "messages": user, "tools": tool,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}});
    assert_eq!(anthropic(&named)["tool_choice"], json!({"type": "tool", "name": "get_weather"}));
    assert_eq!(anthropic(&named)["tools"][0]["input_schema"], json!({"type": "object", "properties": {}}));
    assert_eq!(
        gemini(&named)["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    let none = json!({"model": "m", "messages": user, "tools": tool, "tool_choice": "none"});
    assert_eq!(anthropic(&none)["tool_choice"], json!({"type": "none"}));
    assert_eq!(gemini(&none)["toolConfig"], json!({"functionCallingConfig": {"mode": "NONE"}}));
    // A strict function on Gemini: arguments held to its schema (VALIDATED) unless ANY already is.
    let strict = json!({"model": "m", "messages": user,
        "tools": [{"type": "function", "function": {"name": "f", "strict": true, "parameters": {"type": "object"}}}]});
    assert_eq!(gemini(&strict)["toolConfig"], json!({"functionCallingConfig": {"mode": "VALIDATED"}}));

    let structured = json!({"model": "m", "messages": user,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true, "schema": schema}}});
    assert_eq!(anthropic(&structured)["output_config"], json!({"format": {"type": "json_schema", "schema": schema}}));
    assert_eq!(
        gemini(&structured)["generationConfig"],
        json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
    );
    // Any JSON object: Anthropic through one forced tool whose input is the answer.
    let object = json!({"model": "m", "messages": user, "response_format": {"type": "json_object"}});
    let claude = anthropic(&object);
    assert_eq!(
        (claude["tools"].clone(), claude["tool_choice"].clone()),
        (
            json!([{"name": "json_object", "description": "Answer with a JSON object.", "input_schema": {"type": "object"}}]),
            json!({"type": "tool", "name": "json_object"})
        )
    );
    assert_eq!(gemini(&object)["generationConfig"], json!({"responseMimeType": "application/json"}));
    // An image by URL: Anthropic fetches it.
    let url = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]});
    assert_eq!(
        anthropic(&url)["messages"][0]["content"],
        json!([{"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}])
    );
}

#[test]
fn what_cannot_be_carried_is_refused_by_its_path() {
    let user = json!({"role": "user", "content": "Weather?"});
    let with = |extra: Value| {
        let mut body = json!({"model": "m", "messages": [user]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let both = [Provider::Anthropic, Provider::Gemini];
    let cases: Vec<(Value, &str, &[Provider])> = vec![
        (with(json!({"logprobs": true})), "logprobs", &both),
        (with(json!({"n": 2})), "n", &both),
        (with(json!({"audio": {"voice": "alloy"}})), "audio", &both),
        (with(json!({"reasoning_effort": "low"})), "reasoning_effort", &both),
        (with(json!({"seed": 1})), "seed", &[Provider::Anthropic]),
        (with(json!({"frequency_penalty": 0.5})), "frequency_penalty", &[Provider::Anthropic]),
        (with(json!({"functions": []})), "functions", &both),
        (with(json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]})), "tools[0].type", &both),
        (with(json!({"tool_choice": {"type": "allowed_tools", "allowed_tools": {}}})), "tool_choice", &both),
        (
            with(
                json!({"tools": [{"type": "function", "function": {"name": "f"}}], "response_format": {"type": "json_object"}}),
            ),
            "response_format",
            &[Provider::Anthropic],
        ),
        (
            with(json!({"tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": false})),
            "parallel_tool_calls",
            &[Provider::Gemini],
        ),
        (
            with(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "w",
                "schema": {"type": "object", "properties": {"e": {"type": "string", "pattern": "@"}}}}}})),
            "response_format.json_schema.schema.properties.e.pattern",
            &[Provider::Gemini],
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "name": "ann", "content": "hi"}]}),
            "messages[0].name",
            &both,
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
            "messages[0].content[0].input_audio",
            &both,
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA==", "detail": "low"}}]}]}),
            "messages[0].content[0].image_url.detail",
            &both,
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
            "messages[0].content[0].image_url.url",
            &[Provider::Gemini],
        ),
        (
            json!({"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]}),
            "messages[0].role",
            &both,
        ),
        (
            json!({"model": "m", "messages": [user, {"role": "assistant", "content": "x", "audio": {"id": "a"}}]}),
            "messages[1].audio",
            &both,
        ),
    ];
    for (body, field, providers) in cases {
        for provider in providers {
            assert_eq!(refused(&body, *provider), field, "{body}");
        }
    }
    // Values that ask for the default are carried by being left out.
    let neutral = with(
        json!({"logprobs": false, "frequency_penalty": 0, "presence_penalty": 0.0, "n": 1, "modalities": ["text"]}),
    );
    assert_eq!(anthropic(&neutral)["messages"], json!([{"role": "user", "content": "Weather?"}]));
}

#[test]
fn a_tool_result_must_answer_an_earlier_call_and_arguments_must_be_an_object() {
    let orphan = json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "call_9", "content": "x"}]});
    let bad_arguments = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]});
    for (body, field) in
        [(orphan, "messages[0].tool_call_id"), (bad_arguments, "messages[0].tool_calls[0].function.arguments")]
    {
        match read(&body, Provider::Anthropic) {
            Err(Error::Validation { field: Some(f), .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
}
