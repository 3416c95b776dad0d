//! A Chat Completions request ([`Chat`]) as a Gemini `generateContent` body: system and
//! developer messages as `systemInstruction`; turns as `contents` (`user` and `model`) of
//! parts — text, `inlineData` images, the assistant's calls as `functionCall` parts (with the
//! thought signature their id carries back, see [`call_id`]) and tool results as
//! `functionResponse` parts in one user turn; functions as `functionDeclarations` with their
//! JSON Schema; `tool_choice` as `toolConfig`; and `generationConfig` for the output cap, stop,
//! sampling, and JSON output (`responseMimeType`, `responseJsonSchema`). A schema keyword Gemini
//! would not enforce, or a choice it has no equivalent for, is refused by name.

use converra::Provider;
use serde_json::{Map, Value, json};

use super::gemini_schema::carried;
use super::translate::{Chat, Format, ToolChoice, unsupported};
use super::turns::{Content, Image, Part, Turn};
use converra_base::Error;

/// What separates a call's id from the thought signature Gemini attached to the call: Gemini 3
/// requires it back with the call, and a client returns only the id.
pub const SIGNATURE: &str = "__thought__";

/// The id a client sees for a call Gemini made: its own, with the call's thought signature.
pub fn call_id(id: String, signature: Option<&str>) -> String {
    match signature {
        Some(signature) => format!("{id}{SIGNATURE}{signature}"),
        None => id,
    }
}

/// The `generateContent` body for `chat`, asking for at most `max_tokens` if set.
pub fn to_gemini(chat: &Chat, max_tokens: Option<u32>) -> Result<Vec<u8>, Error> {
    let mut body = Map::new();
    if !chat.system.is_empty() {
        let parts: Vec<Value> = chat.system.iter().map(|text| json!({"text": text})).collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    body.insert("contents".into(), Value::Array(contents(&chat.turns)));
    if !chat.tools.is_empty() {
        let mut declarations = Vec::with_capacity(chat.tools.len());
        for (i, tool) in chat.tools.iter().enumerate() {
            let mut declaration = json!({"name": tool.name});
            if let Some(description) = &tool.description {
                declaration["description"] = json!(description);
            }
            if let Some(parameters) = &tool.parameters {
                declaration["parametersJsonSchema"] = carried(parameters, &format!("tools[{i}].function.parameters"))?;
            }
            declarations.push(declaration);
        }
        body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
        // Gemini has no way to ask for one call at a time.
        if !chat.parallel_tool_calls {
            return Err(unsupported("parallel_tool_calls", Provider::Gemini));
        }
    }
    // A strict function's arguments are held to its schema: Gemini's VALIDATED mode (ANY always is).
    let strict = chat.tools.iter().any(|t| t.strict);
    let config = match &chat.tool_choice {
        None | Some(ToolChoice::Auto) if strict => Some(json!({"mode": "VALIDATED"})),
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
        Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
        Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
        Some(ToolChoice::Named(name)) => Some(json!({"mode": "ANY", "allowedFunctionNames": [name]})),
    };
    if let Some(config) = config {
        body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
    }
    let mut generation = Map::new();
    if let Some(max) = max_tokens {
        generation.insert("maxOutputTokens".into(), json!(max));
    }
    let numbers = [
        ("temperature", chat.temperature),
        ("topP", chat.top_p),
        ("presencePenalty", chat.presence_penalty),
        ("frequencyPenalty", chat.frequency_penalty),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            generation.insert(name.into(), json!(value));
        }
    }
    if let Some(seed) = chat.seed {
        generation.insert("seed".into(), json!(seed));
    }
    if !chat.stop.is_empty() {
        generation.insert("stopSequences".into(), json!(chat.stop));
    }
    match &chat.format {
        Format::Text => {}
        Format::JsonObject => {
            generation.insert("responseMimeType".into(), json!("application/json"));
        }
        Format::JsonSchema { schema, .. } => {
            generation.insert("responseMimeType".into(), json!("application/json"));
            generation.insert("responseJsonSchema".into(), carried(schema, "response_format.json_schema.schema")?);
        }
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    Ok(serde_json::to_vec(&Value::Object(body)).unwrap_or_default())
}

/// The turns as Gemini contents; consecutive tool results share one user turn.
fn contents(turns: &[Turn]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(turns.len());
    let mut results: Vec<Value> = Vec::new();
    for turn in turns {
        let content = match turn {
            Turn::Tool { name, content, .. } => {
                results.push(json!({"functionResponse": {"name": name, "response": {"output": content.text()}}}));
                continue;
            }
            Turn::User(content) => json!({"role": "user", "parts": parts(content)}),
            Turn::Assistant { content, calls } => {
                let mut parts = if content.is_empty() && !calls.is_empty() { Vec::new() } else { parts(content) };
                for call in calls {
                    let mut part = json!({"functionCall": {"name": call.name, "args": call.arguments}});
                    if let Some((_, signature)) = call.id.split_once(SIGNATURE) {
                        part["thoughtSignature"] = json!(signature);
                    }
                    parts.push(part);
                }
                json!({"role": "model", "parts": parts})
            }
        };
        if !results.is_empty() {
            out.push(json!({"role": "user", "parts": std::mem::take(&mut results)}));
        }
        out.push(content);
    }
    if !results.is_empty() {
        out.push(json!({"role": "user", "parts": results}));
    }
    out
}

/// A content's parts (an empty text part, which Gemini refuses, carries nothing).
fn parts(content: &Content) -> Vec<Value> {
    match content {
        Content::Text(text) => vec![json!({"text": text})],
        Content::Parts(parts) => parts
            .iter()
            .filter(|part| !matches!(part, Part::Text(text) if text.is_empty()))
            .map(|part| match part {
                Part::Text(text) => json!({"text": text}),
                Part::Image(Image::Inline { media_type, data }) => {
                    json!({"inlineData": {"mimeType": media_type, "data": data}})
                }
                // Refused when read: Gemini fetches no URL.
                Part::Image(Image::Url(url)) => json!({"fileData": {"fileUri": url}}),
            })
            .collect(),
    }
}
