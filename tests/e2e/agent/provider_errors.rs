//! A provider's refusal on the agent endpoints, each in its API's own error shape: a request error
//! (400, 404, 413, 422) passes through with the provider's status and body as sent, but with the
//! key redacted (whole, in 8-character pieces, masked as OpenAI and DeepSeek echo it), on
//! `/v1/chat/completions` (OpenAI, DeepSeek), `/v1/messages` (Anthropic), `/v1/responses`, and
//! re-shaped into OpenAI's on a translated path; a rate limit is told in Converra's words and keeps
//! `retry-after`; 5xx and 529 keep their status and type and may be retried; a 403 keeps its status
//! in Converra's words; 401 and account-state answers stay Converra's words (502) and flag the key.
//! Provider bodies are the providers' real ones (OpenAI's error object, Anthropic's errors page,
//! DeepSeek's error codes).

use converra::Provider;
use converra_test_kit::providers::{MockProviders, invalid_key_answer, permission_denied, valid_key};
use converra_test_kit::{Answer, TestApp, app_with_mocks};
use serde_json::Value;
use wiremock::ResponseTemplate;

use super::messages::post_with;

const OPENAI_CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const DEEPSEEK_CHAT: &str = r#"{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}"#;
const CLAUDE_CHAT: &str = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSES: &str = r#"{"model":"gpt-4o-mini","input":"hi"}"#;

/// An app with a key of each provider the tests call, and the mocks behind it.
async fn app() -> (TestApp, MockProviders) {
    let (app, mocks) = app_with_mocks(&[]).await;
    for provider in [Provider::Openai, Provider::Anthropic, Provider::Deepseek] {
        app.add_provider_key(&app.api_key, provider, valid_key(provider), Value::Null).await;
    }
    (app, mocks)
}

/// A provider message that echoes `key` whole, in 8-character pieces and masked as its
/// provider masks it; and the same message as the client must see it.
fn echoing(provider: Provider, key: &str) -> (String, String) {
    let pieces: Vec<&str> =
        key.as_bytes().chunks(8).filter(|c| c.len() == 8).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let tail = &key[key.len() - 4..];
    let masked = match provider {
        // OpenAI: "Incorrect API key provided: sk-proj-****…abcd".
        Provider::Openai => format!("{}{}{tail}", &key[..8], "*".repeat(40)),
        // DeepSeek: "Your api key: ****abcd is invalid".
        _ => format!("****{tail}"),
    };
    let say = |key: &str, pieces: &[&str], masked: &str| {
        format!("Invalid request made with key {key}; pieces {}; masked {masked}.", pieces.join(" "))
    };
    let redacted = vec!["[redacted]"; pieces.len()];
    (say(key, &pieces, &masked), say("[redacted]", &redacted, "[redacted]"))
}

/// Asserts that no piece of `key` (8 characters or more) is anywhere in the answer.
fn assert_no_key(answer: &Answer, key: &str) {
    let seen = format!("{:?} {}", answer.headers, answer.text);
    for start in 0..=key.len() - 8 {
        assert!(!seen.contains(&key[start..start + 8]), "{} of the key in {seen}", &key[start..start + 8]);
    }
}

fn json_answer(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

async fn chat(app: &TestApp, body: &'static str) -> Answer {
    app.post_raw("/v1/chat/completions", &app.api_key, body).await
}

async fn messages(app: &TestApp, body: &'static str) -> Answer {
    let headers = [("x-api-key", app.api_key.as_str()), ("anthropic-version", "2023-06-01")];
    post_with(app, "/v1/messages", &headers, body).await
}

#[tokio::test]
async fn a_request_error_passes_through_as_sent_with_the_key_redacted_on_every_endpoint() {
    let (app, mocks) = app().await;

    // OpenAI's error object, on /v1/chat/completions and /v1/responses: relayed byte for byte
    // but the key.
    let key = valid_key(Provider::Openai);
    let (said, seen) = echoing(Provider::Openai, key);
    let body = |message: &str| {
        format!(
            r#"{{"error": {{"message": "{message}", "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"}}}}"#
        )
    };
    mocks.answer_chat(Provider::Openai, key, "gpt-4o-mini", false, json_answer(400, body(&said))).await;
    mocks.answer_openai("responses", key, false, json_answer(400, body(&said))).await;
    for answer in [chat(&app, OPENAI_CHAT).await, app.post_raw("/v1/responses", &app.api_key, RESPONSES).await] {
        assert_eq!((answer.status, answer.text.as_str()), (400, body(&seen).as_str()));
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.header("x-should-retry"), Some("false"), "the provider would refuse it again");
        assert_eq!(answer.header("x-converra-key-source"), Some("organization"));
        assert_no_key(&answer, key);
    }

    // DeepSeek (OpenAI's shape, its own code), on /v1/chat/completions; the streamed call too.
    let key = valid_key(Provider::Deepseek);
    let (said, seen) = echoing(Provider::Deepseek, key);
    let body = |message: &str| {
        format!(
            r#"{{"error":{{"message":"{message}","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}}}"#
        )
    };
    mocks.answer_chat(Provider::Deepseek, key, "deepseek-chat", false, json_answer(400, body(&said))).await;
    let answer = chat(&app, DEEPSEEK_CHAT).await;
    assert_eq!((answer.status, answer.text.as_str()), (400, body(&seen).as_str()));
    assert_no_key(&answer, key);
    let streamed = r#"{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let answer = chat(&app, streamed).await;
    assert_eq!((answer.status, answer.text.as_str()), (400, body(&seen).as_str()));

    // Anthropic's error shape with its request id, on /v1/messages.
    let key = valid_key(Provider::Anthropic);
    let (said, seen) = echoing(Provider::Anthropic, key);
    let body = |message: &str| {
        format!(
            r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"{message}"}},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}}"#
        )
    };
    let template = json_answer(400, body(&said)).insert_header("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy");
    mocks.answer_chat(Provider::Anthropic, key, "claude-sonnet-4-5", false, template).await;
    let answer = messages(&app, MESSAGES).await;
    assert_eq!((answer.status, answer.text.as_str()), (400, body(&seen).as_str()));
    assert_eq!(answer.header("request-id"), Some("req_011CSHoEeqs5C35K2UUqR7Fy"));
    assert_eq!(answer.header("x-should-retry"), Some("false"));
    assert_no_key(&answer, key);

    // Translated (chat to Anthropic): Anthropic's words in OpenAI's shape, Converra's code beside.
    let answer = chat(&app, CLAUDE_CHAT).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.body["error"]["message"], seen.as_str(), "{}", answer.text);
    assert_eq!(answer.body["error"]["type"], "invalid_request_error", "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "provider_error", "{}", answer.text);
    assert_no_key(&answer, key);
}

#[tokio::test]
async fn not_found_unprocessable_and_too_large_keep_the_providers_status_and_body() {
    let (app, mocks) = app().await;
    let not_found = r#"{"error":{"message":"The model `gpt-4o-mini` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
    let openai = valid_key(Provider::Openai);
    mocks.answer_chat(Provider::Openai, openai, "gpt-4o-mini", false, json_answer(404, not_found.into())).await;
    let answer = chat(&app, OPENAI_CHAT).await;
    assert_eq!((answer.status, answer.text.as_str()), (404, not_found));
    assert_eq!(answer.header("x-should-retry"), Some("false"));

    let unprocessable = r#"{"error":{"message":"Failed to deserialize the JSON body into the target type: messages[0]: missing field `role` at line 1 column 58","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}"#;
    let deepseek = valid_key(Provider::Deepseek);
    mocks
        .answer_chat(Provider::Deepseek, deepseek, "deepseek-chat", false, json_answer(422, unprocessable.into()))
        .await;
    let answer = chat(&app, DEEPSEEK_CHAT).await;
    assert_eq!((answer.status, answer.text.as_str()), (422, unprocessable));

    let too_large = r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#;
    let anthropic = valid_key(Provider::Anthropic);
    mocks
        .answer_chat(Provider::Anthropic, anthropic, "claude-sonnet-4-5", false, json_answer(413, too_large.into()))
        .await;
    let answer = messages(&app, MESSAGES).await;
    assert_eq!((answer.status, answer.text.as_str()), (413, too_large));

    let (app, mocks) = self::app().await;
    let model_gone = r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-sonnet-4-5"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fz"}"#;
    mocks
        .answer_chat(Provider::Anthropic, anthropic, "claude-sonnet-4-5", false, json_answer(404, model_gone.into()))
        .await;
    let answer = messages(&app, MESSAGES).await;
    assert_eq!((answer.status, answer.text.as_str()), (404, model_gone));
    // The same refusal on a translated path: Anthropic's 404 in OpenAI's shape.
    let answer = chat(&app, CLAUDE_CHAT).await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    assert_eq!(answer.body["error"]["message"], "model: claude-sonnet-4-5", "{}", answer.text);
    assert_eq!(answer.body["error"]["type"], "invalid_request_error", "{}", answer.text);
}

#[tokio::test]
async fn a_rate_limit_is_told_in_converras_words_and_keeps_retry_after_and_may_be_retried() {
    let (app, mocks) = app().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "7")
        .insert_header("x-ratelimit-remaining-requests", "0")
        .insert_header("x-request-id", "req_9f3c1e")
        .insert_header("openai-organization", "org-AbCdEf123")
        .set_body_raw(
            r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-AbCdEf123 on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            "application/json",
        );
    mocks.answer_chat(Provider::Openai, valid_key(Provider::Openai), "gpt-4o-mini", false, limited).await;
    let answer = chat(&app, OPENAI_CHAT).await;
    assert_eq!(answer.status, 429, "{}", answer.text);
    assert_eq!(answer.body["error"]["message"], "Rate limited by the provider", "{}", answer.text);
    assert_eq!(answer.body["error"]["type"], "rate_limit_error", "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "rate_limited", "{}", answer.text);
    assert_eq!(answer.header("retry-after"), Some("7"));
    assert_eq!(answer.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(answer.header("x-request-id"), Some("req_9f3c1e"));
    assert_eq!(answer.header("openai-organization"), None, "no account id");
    assert!(!answer.text.contains("org-AbCdEf123"), "{}", answer.text);
    assert_ne!(answer.header("x-should-retry"), Some("false"), "the SDK may retry after the wait");

    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "7")
        .insert_header("anthropic-ratelimit-requests-remaining", "0")
        .set_body_raw(
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (a1b2c3d4-5e6f-7a8b-9c0d-1e2f3a4b5c6d) of 50 requests per minute."}}"#,
            "application/json",
        );
    mocks.answer_chat(Provider::Anthropic, valid_key(Provider::Anthropic), "claude-sonnet-4-5", false, limited).await;
    let answer = messages(&app, MESSAGES).await;
    assert_eq!(answer.status, 429, "{}", answer.text);
    assert_eq!(
        (answer.body["type"].as_str(), answer.body["error"]["type"].as_str()),
        (Some("error"), Some("rate_limit_error"))
    );
    assert_eq!(answer.body["error"]["message"], "Rate limited by the provider", "{}", answer.text);
    assert!(!answer.text.contains("a1b2c3d4"), "{}", answer.text);
    assert_eq!(answer.header("retry-after"), Some("7"));
    assert_eq!(answer.header("anthropic-ratelimit-requests-remaining"), Some("0"));
    assert_ne!(answer.header("x-should-retry"), Some("false"));
}

#[tokio::test]
async fn server_errors_and_overload_keep_their_status_and_type_and_may_be_retried() {
    let (app, mocks) = app().await;
    let server_error = r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;
    mocks
        .answer_chat(
            Provider::Openai,
            valid_key(Provider::Openai),
            "gpt-4o-mini",
            false,
            json_answer(500, server_error.into()),
        )
        .await;
    let answer = chat(&app, OPENAI_CHAT).await;
    assert_eq!((answer.status, answer.text.as_str()), (500, server_error));
    assert_ne!(answer.header("x-should-retry"), Some("false"));

    let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7G0"}"#;
    let anthropic = valid_key(Provider::Anthropic);
    mocks
        .answer_chat(Provider::Anthropic, anthropic, "claude-sonnet-4-5", false, json_answer(529, overloaded.into()))
        .await;
    let answer = messages(&app, MESSAGES).await;
    assert_eq!((answer.status, answer.text.as_str()), (529, overloaded));
    assert_ne!(answer.header("x-should-retry"), Some("false"));
    // Translated: the 529 keeps its status, in OpenAI's shape.
    let answer = chat(&app, CLAUDE_CHAT).await;
    assert_eq!(answer.status, 529, "{}", answer.text);
    assert_eq!(
        (answer.body["error"]["type"].as_str(), answer.body["error"]["message"].as_str()),
        (Some("server_error"), Some("Overloaded"))
    );
    assert_ne!(answer.header("x-should-retry"), Some("false"));

    let (app, mocks) = self::app().await;
    let api_error = r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#;
    mocks
        .answer_chat(Provider::Anthropic, anthropic, "claude-sonnet-4-5", false, json_answer(500, api_error.into()))
        .await;
    let answer = messages(&app, MESSAGES).await;
    assert_eq!((answer.status, answer.text.as_str()), (500, api_error));
    // A body in no shape the endpoint speaks (a proxy's page) is never shown: the status and
    // Converra's words.
    let (app, mocks) = self::app().await;
    let page = ResponseTemplate::new(502).set_body_raw("<html><body>502 Bad Gateway</body></html>", "text/html");
    mocks.answer_chat(Provider::Openai, valid_key(Provider::Openai), "gpt-4o-mini", false, page).await;
    let answer = chat(&app, OPENAI_CHAT).await;
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert_eq!(
        (answer.body["error"]["type"].as_str(), answer.body["error"]["message"].as_str()),
        (Some("server_error"), Some("Provider error"))
    );
}

#[tokio::test]
async fn the_key_and_the_account_stay_converras_words_and_flag_the_key() {
    let (app, mocks) = app().await;
    // DeepSeek's 401 quotes the key whole: mapped, the key flagged, nothing of it shown.
    let key = valid_key(Provider::Deepseek);
    mocks
        .answer_chat(Provider::Deepseek, key, "deepseek-chat", false, invalid_key_answer(Provider::Deepseek, key))
        .await;
    let answer = chat(&app, DEEPSEEK_CHAT).await;
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert_eq!(
        (answer.body["error"]["message"].as_str(), answer.body["error"]["code"].as_str()),
        (Some("Invalid API key"), Some("invalid_key"))
    );
    assert_eq!(answer.header("x-should-retry"), Some("false"));
    assert_no_key(&answer, key);
    let listed = app.get("/api/v1/provider-keys", &app.api_key).await;
    let deepseek =
        listed.body["data"].as_array().unwrap().iter().find(|k| k["provider"] == "deepseek").cloned().unwrap();
    assert_eq!(deepseek["status"], "invalid_key", "{deepseek}");

    // A 403 (a model the account may not use, which any member can cause): its status, so the
    // SDKs raise a permission error, in Converra's words; nothing flagged.
    mocks.answer_chat(Provider::Openai, valid_key(Provider::Openai), "gpt-4o-mini", false, permission_denied()).await;
    let answer = chat(&app, OPENAI_CHAT).await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert_eq!(
        (answer.body["error"]["message"].as_str(), answer.body["error"]["code"].as_str()),
        (Some("Permission denied"), Some("permission_denied"))
    );
    assert_eq!(answer.header("x-should-retry"), Some("false"));
    let listed = app.get("/api/v1/provider-keys", &app.api_key).await;
    let openai = listed.body["data"].as_array().unwrap().iter().find(|k| k["provider"] == "openai").cloned().unwrap();
    assert_ne!(openai["status"], "permission_denied", "{openai}");

    // Anthropic's 400 about the account's credit is the account's state, not the request's.
    let credit = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#;
    mocks
        .answer_chat(
            Provider::Anthropic,
            valid_key(Provider::Anthropic),
            "claude-sonnet-4-5",
            false,
            json_answer(400, credit.into()),
        )
        .await;
    let answer = messages(&app, MESSAGES).await;
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert_eq!(
        (answer.body["error"]["message"].as_str(), answer.body["error"]["code"].as_str()),
        (Some("Quota exceeded"), Some("PROVIDER_ERROR"))
    );
    assert_eq!(answer.body["error"]["provider_status"], "quota_exceeded", "{}", answer.text);
}
