//! A Chat Completions request ([`Chat`]) as an Anthropic Messages body: system and developer
//! messages as `system`; text and images (base64 or URL sources) as content blocks; the
//! assistant's tool calls as `tool_use` blocks and tool results as `tool_result` blocks in one
//! user turn; functions as tools with their `input_schema`; `tool_choice` and
//! `parallel_tool_calls` as Anthropic's `tool_choice`; a JSON schema as structured output
//! (`output_config.format`); any-JSON-object output as one forced tool whose input is the
//! answer ([`JSON_TOOL`], read back by `from_anthropic.rs`); stop, temperature, top_p and the
//! output cap as Anthropic names them.

use converra::Provider;
use serde_json::{Map, Value, json};

use super::translate::{Chat, Format, ToolChoice, unsupported};
use super::turns::{Content, Image, Part, Turn};
use converra_base::Error;

/// Anthropic requires `max_tokens`: this when the client set none (as Converra's own calls).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The tool a `json_object` answer is written through: its input is the answer.
pub const JSON_TOOL: &str = "json_object";

/// The Messages body for `chat` on `model`, asking for at most `max_tokens`.
pub fn to_anthropic(chat: &Chat, model: &str, max_tokens: u32) -> Result<Vec<u8>, Error> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(max_tokens));
    match chat.system.as_slice() {
        [] => {}
        [one] => {
            body.insert("system".into(), json!(one));
        }
        many => {
            let blocks: Vec<Value> = many.iter().map(|text| json!({"type": "text", "text": text})).collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }
    body.insert("messages".into(), Value::Array(messages(&chat.turns)));
    let mut tools: Vec<Value> = chat
        .tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let mut out = json!({"name": tool.name,
                "input_schema": tool.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}))});
            if let Some(description) = &tool.description {
                out["description"] = json!(description);
            }
            if tool.strict {
                constrainable(&out["input_schema"], &format!("tools[{i}].function.parameters"))?;
                out["strict"] = json!(true);
            }
            Ok(out)
        })
        .collect::<Result<_, Error>>()?;
    let mut choice = chat.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Named(name) => json!({"type": "tool", "name": name}),
    });
    match &chat.format {
        Format::Text => {}
        Format::JsonSchema { schema, .. } => {
            constrainable(schema, "response_format.json_schema.schema")?;
            body.insert("output_config".into(), json!({"format": {"type": "json_schema", "schema": schema}}));
        }
        // Forcing the answer through a tool would override the client's own tools.
        Format::JsonObject if !tools.is_empty() || choice.is_some() => {
            return Err(unsupported("response_format", Provider::Anthropic));
        }
        Format::JsonObject => {
            tools.push(json!({"name": JSON_TOOL, "description": "Answer with a JSON object.",
                "input_schema": {"type": "object"}}));
            choice = Some(json!({"type": "tool", "name": JSON_TOOL}));
        }
    }
    if !chat.parallel_tool_calls && !chat.tools.is_empty() {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    if !chat.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(chat.stop));
    }
    if let Some(t) = chat.temperature {
        // OpenAI's range is 0 to 2, Anthropic's 0 to 1: above 1 cannot be carried as meant.
        if t > 1.0 {
            return Err(unsupported("temperature", Provider::Anthropic));
        }
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = chat.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if chat.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(serde_json::to_vec(&Value::Object(body)).unwrap_or_default())
}

/// The turns as Anthropic messages; consecutive tool results share one user turn.
/// The keywords Anthropic's constrained decoding (structured outputs, strict tools) refuses
/// with a 400 ("For 'integer' type, property 'minimum' is not supported").
const UNCONSTRAINABLE: [&str; 11] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// Refuses, by its path under `at`, the first keyword of `schema` that Anthropic's constrained
/// decoding cannot enforce: the client asked for a constraint the answer would not keep.
fn constrainable(schema: &Value, at: &str) -> Result<(), Error> {
    match schema {
        Value::Object(members) => members.iter().try_for_each(|(name, value)| {
            let path = format!("{at}.{name}");
            match name.as_str() {
                // Names of properties and definitions are not keywords.
                "properties" | "$defs" | "definitions" => match value {
                    Value::Object(map) => {
                        map.iter().try_for_each(|(key, sub)| constrainable(sub, &format!("{path}.{key}")))
                    }
                    _ => Ok(()),
                },
                // Values that are data, not schemas.
                "enum" | "const" | "default" | "examples" | "required" => Ok(()),
                name if UNCONSTRAINABLE.contains(&name) => Err(unsupported(path, Provider::Anthropic)),
                _ => constrainable(value, &path),
            }
        }),
        Value::Array(list) => {
            list.iter().enumerate().try_for_each(|(i, sub)| constrainable(sub, &format!("{at}[{i}]")))
        }
        _ => Ok(()),
    }
}

fn messages(turns: &[Turn]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(turns.len());
    let mut results: Vec<Value> = Vec::new();
    for turn in turns {
        let message = match turn {
            Turn::Tool { call_id, content, .. } => {
                let content = match content {
                    Content::Text(text) => json!(text),
                    Content::Parts(parts) => Value::Array(blocks(parts)),
                };
                results.push(json!({"type": "tool_result", "tool_use_id": call_id, "content": content}));
                continue;
            }
            Turn::User(Content::Text(text)) => json!({"role": "user", "content": text}),
            Turn::User(Content::Parts(parts)) => json!({"role": "user", "content": blocks(parts)}),
            Turn::Assistant { content: Content::Text(text), calls } if calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            Turn::Assistant { content, calls } => {
                let mut content = match content {
                    Content::Text(text) if text.is_empty() => Vec::new(),
                    Content::Text(text) => vec![json!({"type": "text", "text": text})],
                    Content::Parts(parts) => blocks(parts),
                };
                content.extend(calls.iter().map(
                    |call| json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}),
                ));
                json!({"role": "assistant", "content": content})
            }
        };
        if !results.is_empty() {
            out.push(json!({"role": "user", "content": std::mem::take(&mut results)}));
        }
        out.push(message);
    }
    if !results.is_empty() {
        out.push(json!({"role": "user", "content": results}));
    }
    out
}

/// Content parts as blocks (an empty text part, which Anthropic refuses, carries nothing).
fn blocks(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter(|part| !matches!(part, Part::Text(text) if text.is_empty()))
        .map(|part| match part {
            Part::Text(text) => json!({"type": "text", "text": text}),
            Part::Image(Image::Inline { media_type, data }) => {
                json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
            }
            Part::Image(Image::Url(url)) => json!({"type": "image", "source": {"type": "url", "url": url}}),
        })
        .collect()
}
