//! The OpenAI Chat Completions body a Messages request becomes (`to_openai.rs` writes it): only
//! the members the translation sets, each value either the client's own bytes (a tool's schema,
//! a tool call's input, `temperature`) or written from what the client sent.

use serde::Serialize;
use serde_json::value::RawValue;

/// `POST /chat/completions`'s body; a member left `None` (or empty) is not written.
#[derive(Debug, Serialize)]
pub struct ChatBody<'a> {
    pub model: String,
    pub messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<&'a RawValue>,
    /// `stop_sequences`, the client's array as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Set by the core: the end user's id, hashed (OpenAI's abuse monitoring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<String>,
}

/// One Chat Completions message.
#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage<'a> {
    System {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall<'a>>,
    },
    Tool {
        tool_call_id: String,
        content: Content,
    },
}

/// A message's content: a string as the client sent one, or parts for its blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    File { file: FileData },
}

#[derive(Debug, Serialize)]
pub struct ImageUrl {
    /// A `data:` URL of a base64 image, or the image's own URL.
    pub url: String,
}

/// A PDF sent inline (`file_data`, a `data:` URL).
#[derive(Debug, Serialize)]
pub struct FileData {
    pub filename: String,
    pub file_data: String,
}

/// An assistant's earlier tool call (`tool_use`).
#[derive(Debug, Serialize)]
pub struct ToolCall<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall<'a>,
}

#[derive(Debug, Serialize)]
pub struct FunctionCall<'a> {
    pub name: String,
    /// The `input` object's JSON text, as the client wrote it.
    pub arguments: &'a str,
}

/// A tool the model may call: a function whose parameters are the tool's `input_schema`.
#[derive(Debug, Serialize)]
pub struct Tool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: Function<'a>,
}

#[derive(Debug, Serialize)]
pub struct Function<'a> {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub parameters: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `"auto"`, `"required"`, `"none"`, or one named function.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: Named,
    },
}

#[derive(Debug, Serialize)]
pub struct Named {
    pub name: String,
}

/// Structured output: the answer follows `schema`.
#[derive(Debug, Serialize)]
pub struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub json_schema: JsonSchema<'a>,
}

#[derive(Debug, Serialize)]
pub struct JsonSchema<'a> {
    pub name: &'static str,
    pub schema: &'a RawValue,
    pub strict: bool,
}

#[derive(Debug, Serialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}
