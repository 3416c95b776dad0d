//! wiremock stand-ins for the AI providers, answering with their real wire formats and real
//! error bodies (including the ones that echo part of the key, to prove Converra never repeats
//! them).

use std::collections::HashMap;

use converra::Provider;
use serde_json::{Value, json};
use wiremock::matchers::{any, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One mock server per provider.
pub struct MockProviders {
    pub openai: MockServer,
    pub anthropic: MockServer,
    pub gemini: MockServer,
    pub deepseek: MockServer,
}

/// A key each provider accepts in the tests (format-valid for its provider).
pub fn valid_key(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "sk-proj-VALIDopenaiKEY0123456789wxyz",
        Provider::Anthropic => "sk-ant-api03-VALIDanthropicKEY0123456789abcd",
        Provider::Gemini => "AIzaSyVALIDgeminiKEY0123456789efgh",
        Provider::Deepseek => "sk-VALIDdeepseekKEY0123456789ijkl",
    }
}

/// A format-valid key each provider rejects.
pub fn revoked_key(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "sk-proj-REVOKEDopenaiKEY012345678zzzz",
        Provider::Anthropic => "sk-ant-api03-REVOKEDanthropicKEY012345zzzz",
        Provider::Gemini => "AIzaSyREVOKEDgeminiKEY0123456789zzzz",
        Provider::Deepseek => "sk-REVOKEDdeepseekKEY0123456789zzzz",
    }
}

/// The auth header each provider uses, and its value for `key`.
pub fn auth_header(provider: Provider, key: &str) -> (&'static str, String) {
    match provider {
        Provider::Openai | Provider::Deepseek => ("authorization", format!("Bearer {key}")),
        Provider::Anthropic => ("x-api-key", key.to_owned()),
        Provider::Gemini => ("x-goog-api-key", key.to_owned()),
    }
}

/// The provider's real answer to an unknown key. OpenAI and DeepSeek echo part of it.
pub fn invalid_key_answer(provider: Provider, key: &str) -> ResponseTemplate {
    let tail = &key[key.len() - 4..];
    match provider {
        Provider::Openai => ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": format!("Incorrect API key provided: {}********{tail}. You can find your API key at https://platform.openai.com/account/api-keys.", &key[..12]),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})),
        Provider::Deepseek => ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": format!("Authentication Fails, Your api key: {key} is invalid"),
            "type": "authentication_error", "param": null, "code": "invalid_request_error"}})),
        Provider::Anthropic => ResponseTemplate::new(401).set_body_json(json!({"type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"}})),
        Provider::Gemini => ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400,
            "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}})),
    }
}

/// A provider that rejects every request with DeepSeek's real 401, which quotes `key` whole:
/// the worst case for a gateway that must never repeat a provider's error text.
pub async fn echoing_provider(key: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(invalid_key_answer(Provider::Deepseek, key)).mount(&server).await;
    server
}

/// OpenAI's answer when the account has no credit.
pub fn insufficient_quota() -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(json!({"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}))
}

/// OpenAI's answer to a key without model access.
pub fn permission_denied() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({"error": {
        "message": "You are not allowed to sample from this model", "type": "invalid_request_error", "param": null, "code": null}}))
}

/// The models-list path of each provider (relative to the mock's root).
pub fn models_path(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "/v1/models",
        Provider::Anthropic => "/v1/models",
        Provider::Gemini => "/v1beta/models",
        Provider::Deepseek => "/models",
    }
}

/// The provider's real models list (one model).
pub fn models_body(provider: Provider) -> Value {
    match provider {
        Provider::Openai => {
            json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}]})
        }
        Provider::Deepseek => {
            json!({"object": "list", "data": [{"id": "deepseek-chat", "object": "model", "owned_by": "deepseek"}]})
        }
        Provider::Anthropic => {
            json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}],
            "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"})
        }
        Provider::Gemini => {
            json!({"models": [{"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash", "supportedGenerationMethods": ["generateContent"]}]})
        }
    }
}

impl MockProviders {
    pub async fn start() -> Self {
        let s = Self {
            openai: MockServer::start().await,
            anthropic: MockServer::start().await,
            gemini: MockServer::start().await,
            deepseek: MockServer::start().await,
        };
        for p in Provider::ALL {
            s.accept_models(p, valid_key(p)).await;
        }
        s
    }

    pub fn server(&self, provider: Provider) -> &MockServer {
        match provider {
            Provider::Openai => &self.openai,
            Provider::Anthropic => &self.anthropic,
            Provider::Gemini => &self.gemini,
            Provider::Deepseek => &self.deepseek,
        }
    }

    /// Base URLs as the operator would configure them (OpenAI's includes `/v1`).
    pub fn base_urls(&self) -> HashMap<Provider, String> {
        Provider::ALL
            .into_iter()
            .map(|p| {
                let uri = self.server(p).uri();
                (p, if p == Provider::Openai { format!("{uri}/v1") } else { uri })
            })
            .collect()
    }

    /// The models list answers 200 for `key` (with the provider's own auth header and, for
    /// Anthropic, its version header) and the real invalid-key error for anything else.
    pub async fn accept_models(&self, provider: Provider, key: &str) {
        let (name, value) = auth_header(provider, key);
        let mut ok = Mock::given(method("GET")).and(path(models_path(provider))).and(header(name, value.as_str()));
        if provider == Provider::Anthropic {
            ok = ok.and(header("anthropic-version", "2023-06-01"));
        }
        ok.respond_with(ResponseTemplate::new(200).set_body_json(models_body(provider)))
            .with_priority(1)
            .mount(self.server(provider))
            .await;
        Mock::given(method("GET"))
            .and(path(models_path(provider)))
            .respond_with(invalid_key_answer(provider, revoked_key(provider)))
            .with_priority(10)
            .mount(self.server(provider))
            .await;
    }

    /// The models list answers `template` for `key`.
    pub async fn answer_models(&self, provider: Provider, key: &str, template: ResponseTemplate) {
        let (name, value) = auth_header(provider, key);
        Mock::given(method("GET"))
            .and(path(models_path(provider)))
            .and(header(name, value.as_str()))
            .respond_with(template)
            .with_priority(1)
            .mount(self.server(provider))
            .await;
    }
}

/// The chat path of each provider for `model` (Gemini puts the model in the path).
pub fn chat_path(provider: Provider, model: &str, stream: bool) -> String {
    match (provider, stream) {
        (Provider::Openai, _) => "/v1/chat/completions".into(),
        (Provider::Deepseek, _) => "/chat/completions".into(),
        (Provider::Anthropic, _) => "/v1/messages".into(),
        (Provider::Gemini, false) => format!("/v1beta/models/{model}:generateContent"),
        (Provider::Gemini, true) => format!("/v1beta/models/{model}:streamGenerateContent"),
    }
}

/// OpenAI's recorded `chat.completion` saying `text` (12 input and 5 output tokens); DeepSeek
/// answers in the same shape.
pub fn openai_chat_body(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion", "created": 1741569952, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null, "annotations": []},
            "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_06737a9306"})
}

/// The provider's real non-streaming answer saying `text`, with 12 input and 5 output tokens.
pub fn chat_answer(provider: Provider, model: &str, text: &str) -> ResponseTemplate {
    let body = match provider {
        Provider::Openai | Provider::Deepseek => openai_chat_body(model, text),
        Provider::Anthropic => json!({
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 5}}),
        Provider::Gemini => json!({
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "avgLogprobs": -0.05}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]},
            "modelVersion": model, "responseId": "mfmgZ-2aHZu2nvgPxu2S8Aw"}),
    };
    ResponseTemplate::new(200).set_body_json(body)
}

/// The provider's real event stream saying `parts` in order (12 input, 5 output tokens).
pub fn chat_stream(provider: Provider, model: &str, parts: &[&str]) -> ResponseTemplate {
    let out = stream_events(provider, model, parts).concat();
    ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_raw(out, "text/event-stream")
}

/// The events of [`chat_stream`], one server-sent event each, for a stand-in that sends them
/// one at a time (OpenAI's: a role chunk, one chunk per part, then the finish, usage and
/// `[DONE]`).
pub fn stream_events(provider: Provider, model: &str, parts: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut event = |name: Option<&str>, data: Value| {
        let mut e = String::new();
        if let Some(name) = name {
            e.push_str(&format!("event: {name}\n"));
        }
        e.push_str(&format!("data: {data}\n\n"));
        out.push(e);
    };
    match provider {
        Provider::Openai | Provider::Deepseek => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
                "model": model, "system_fingerprint": "fp_44709d6fcb", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            };
            event(None, chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null));
            for p in parts {
                event(None, chunk(json!({"content": p}), Value::Null));
            }
            event(None, chunk(json!({}), json!("stop")));
            event(
                None,
                json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190, "model": model, "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}),
            );
            out.push("data: [DONE]\n\n".to_owned());
        }
        Provider::Anthropic => {
            event(
                Some("message_start"),
                json!({"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message",
                "role": "assistant", "content": [], "model": model, "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
            );
            event(
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            event(Some("ping"), json!({"type": "ping"}));
            for p in parts {
                event(
                    Some("content_block_delta"),
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}),
                );
            }
            event(Some("content_block_stop"), json!({"type": "content_block_stop", "index": 0}));
            event(
                Some("message_delta"),
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
            );
            event(Some("message_stop"), json!({"type": "message_stop"}));
        }
        Provider::Gemini => {
            let n = parts.len();
            for (i, p) in parts.iter().enumerate() {
                let mut c = json!({"candidates": [{"content": {"parts": [{"text": p}], "role": "model"}}], "modelVersion": model});
                if i + 1 == n {
                    c["candidates"][0]["finishReason"] = json!("STOP");
                    c["usageMetadata"] =
                        json!({"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17});
                }
                event(None, c);
            }
        }
    }
    out
}

impl MockProviders {
    /// Chat calls with `key` for `model` answer `template` (non-streaming or streaming path).
    pub async fn answer_chat(
        &self,
        provider: Provider,
        key: &str,
        model: &str,
        stream: bool,
        template: ResponseTemplate,
    ) {
        let (name, value) = auth_header(provider, key);
        let mock =
            Mock::given(method("POST")).and(path(chat_path(provider, model, stream))).and(header(name, value.as_str()));
        // OpenAI-style and Anthropic streams share the path: the body's `stream: true` tells them apart.
        let (mock, priority) = if stream && provider != Provider::Gemini {
            (mock.and(body_partial_json(json!({"stream": true}))), 1)
        } else {
            (mock, 2)
        };
        mock.respond_with(template).with_priority(priority).mount(self.server(provider)).await;
    }

    /// Answers a whole (not streamed) chat of `model` made with `key` with `content`.
    pub async fn answer_text(&self, provider: Provider, key: &str, model: &str, content: &str) {
        self.answer_chat(provider, key, model, false, chat_answer(provider, model, content)).await;
    }

    /// Chat calls of one provider that the tests made, as JSON bodies.
    pub async fn chat_bodies(&self, provider: Provider) -> Vec<Value> {
        self.requests(provider).await.into_iter().map(|(_, _, body)| body).collect()
    }
}

impl MockProviders {
    /// The bodies of the chat calls one provider received, byte for byte as they arrived.
    pub async fn chat_requests(&self, provider: Provider) -> Vec<Vec<u8>> {
        self.posted(provider).await.into_iter().map(|r| r.body).collect()
    }

    /// Every POST one provider received (its calls; model lists and key checks are GETs).
    pub(crate) async fn posted(&self, provider: Provider) -> Vec<wiremock::Request> {
        self.server(provider)
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == "POST")
            .collect()
    }
}

/// OpenAI's recorded `chat.completion` that calls a tool, as the exact text the provider sends
/// (so a relay can be compared byte for byte): a tool call, log-probabilities, a system
/// fingerprint, and usage with cached and reasoning tokens (20 in, 9 out).
pub fn openai_tool_call_text(model: &str) -> String {
    format!(
        r#"{{
  "id": "chatcmpl-CFQ9tool0call1rec2orded",
  "object": "chat.completion",
  "created": 1757000000,
  "model": "{model}",
  "choices": [
    {{
      "index": 0,
      "message": {{
        "role": "assistant",
        "content": null,
        "tool_calls": [
          {{"id": "call_Vx9x1", "type": "function", "function": {{"name": "get_weather", "arguments": "{{\"city\":\"Paris\"}}"}}}}
        ],
        "refusal": null,
        "annotations": []
      }},
      "logprobs": {{"content": [{{"token": "get", "logprob": -0.01, "bytes": [103, 101, 116], "top_logprobs": []}}], "refusal": null}},
      "finish_reason": "tool_calls"
    }}
  ],
  "usage": {{
    "prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
    "prompt_tokens_details": {{"cached_tokens": 8, "audio_tokens": 0}},
    "completion_tokens_details": {{"reasoning_tokens": 3, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
  }},
  "service_tier": "default",
  "system_fingerprint": "fp_f33640a400"
}}"#
    )
}

/// OpenAI's streamed tool call, one server-sent event each (the role, the call's name, its
/// arguments in two pieces, the finish, the usage-only chunk, `[DONE]`), written as OpenAI
/// writes them when usage was asked for (`"usage":null` on every chunk but the last).
pub fn openai_tool_call_events(model: &str) -> Vec<String> {
    let head = format!(
        r#""id":"chatcmpl-CFQ9stream","object":"chat.completion.chunk","created":1757000001,"model":"{model}","service_tier":"default","system_fingerprint":"fp_f33640a400""#
    );
    let chunk = |choice: &str| format!("data: {{{head},\"choices\":[{choice}],\"usage\":null}}\n\n");
    vec![
        chunk(
            r#"{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Vx9x1","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}"#,
        ),
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}"#,
        ),
        chunk(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}"#,
        ),
        chunk(r#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}"#),
        format!(
            "data: {{{head},\"choices\":[],\"usage\":{{\"prompt_tokens\":20,\"completion_tokens\":9,\"total_tokens\":29,\"prompt_tokens_details\":{{\"cached_tokens\":8,\"audio_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":3,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}}}}\n\n"
        ),
        "data: [DONE]\n\n".to_owned(),
    ]
}
