//! Completions with the resolved key, through every face that runs them over HTTP: the REST
//! API (JSON and SSE), the OpenAI-compatible API, and the SDK. Providers are wiremock servers
//! replaying each provider's real bodies.

use converra::{CompletionRequest, KeySource, Plan, Provider};
use converra_test_kit::providers::{chat_stream, invalid_key_answer, valid_key};
use converra_test_kit::{Options, app_with_mocks, id_of, spawn_app_with};
use futures_util::StreamExt;
use serde_json::{Value, json};

const MODELS: [(Provider, &str); 4] = [
    (Provider::Openai, "gpt-4o-mini"),
    (Provider::Anthropic, "claude-sonnet-4-5"),
    (Provider::Gemini, "gemini-2.5-flash"),
    (Provider::Deepseek, "deepseek-chat"),
];

/// A usage report's totals of completions whose provider reported no cached or reasoning tokens,
/// with their cost (micro-USD) and how many had no price.
fn plain(requests: u64, input: u64, output: u64, cost: u64, unpriced: u64) -> Value {
    json!({"requests": requests, "input_tokens": input, "output_tokens": output,
        "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
        "cost_micro_usd": cost, "unpriced_requests": unpriced, "cost_known": unpriced == 0})
}

/// The same, for one group of a report.
fn group(key: &str, requests: u64, input: u64, output: u64, cost: u64, unpriced: u64) -> Value {
    let mut totals = plain(requests, input, output, cost, unpriced);
    totals["key"] = json!(key);
    totals
}

/// The mock's answer (12 in, 5 out) costed by the price table: gpt-4o-mini at 0.15 and 0.60
/// micro-USD a token (4.8, rounded once: 5), claude-sonnet-4-5 at 3 and 15 (111).
const GPT_CALL: u64 = 5;
const CLAUDE_CALL: u64 = 111;

#[tokio::test]
async fn every_provider_answers_through_the_rest_api_with_its_own_wire_format() {
    let (app, mocks) = app_with_mocks(&[]).await;
    for (provider, model) in MODELS {
        let key_id = id_of(&app.add_provider_key(&app.api_key, provider, valid_key(provider), Value::Null).await);
        mocks.answer_text(provider, valid_key(provider), model, "Hello there!").await;
        let answer = app
            .post(
                "/api/v1/completions",
                &app.api_key,
                json!({"model": format!("{provider}/{model}"), "messages": [
                    {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}], "max_tokens": 50}),
            )
            .await;
        assert_eq!(answer.status, 200, "{provider}: {}", answer.text);
        assert_eq!(answer.body["provider"], provider.as_str());
        assert_eq!(answer.body["model"], model);
        assert_eq!(answer.body["content"], "Hello there!");
        assert_eq!(answer.body["finish_reason"], "stop");
        assert_eq!(answer.body["usage"], json!({"input_tokens": 12, "output_tokens": 5}));
        assert_eq!(answer.body["key_source"]["scope"], "organization");
        assert_eq!(answer.body["key_source"]["key_id"], key_id.as_str());
        assert!(!answer.text.contains(valid_key(provider)));

        // What the provider received: its own request shape, with the system prompt where it belongs.
        let sent = mocks.chat_bodies(provider).await.pop().expect("provider called");
        match provider {
            Provider::Openai | Provider::Deepseek => {
                assert_eq!(sent["model"], model);
                assert_eq!(
                    sent["messages"],
                    json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}])
                );
                let max = if provider == Provider::Openai { "max_completion_tokens" } else { "max_tokens" };
                assert_eq!(sent[max], 50);
            }
            Provider::Anthropic => {
                assert_eq!(sent["model"], model);
                assert_eq!(sent["system"], "Be brief.");
                assert_eq!(sent["messages"], json!([{"role": "user", "content": "Say hello"}]));
                assert_eq!(sent["max_tokens"], 50);
            }
            Provider::Gemini => {
                assert_eq!(sent["systemInstruction"], json!({"parts": [{"text": "Be brief."}]}));
                assert_eq!(sent["contents"], json!([{"role": "user", "parts": [{"text": "Say hello"}]}]));
                assert_eq!(sent["generationConfig"]["maxOutputTokens"], 50);
            }
        }
    }
}

#[tokio::test]
async fn every_provider_streams_through_the_sdk_as_one_kind_of_delta() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    for (provider, model) in MODELS {
        app.add_provider_key(&app.api_key, provider, valid_key(provider), Value::Null).await;
        mocks
            .answer_chat(provider, valid_key(provider), model, true, chat_stream(provider, model, &["Hel", "lo", "!"]))
            .await;
        let mut stream = sdk.completions().stream(CompletionRequest::new(format!("{provider}/{model}"), "Say hello"));
        let (mut text, mut last) = (String::new(), None);
        let mut first_source = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap_or_else(|e| panic!("{provider}: {e}"));
            if first_source.is_none() {
                first_source = chunk.key_source.clone();
            }
            text.push_str(&chunk.delta);
            last = Some(chunk);
        }
        let last = last.expect("chunks");
        assert_eq!(text, "Hello!", "{provider}");
        assert_eq!(last.finish_reason, Some(converra::FinishReason::Stop), "{provider}");
        assert_eq!(last.usage, Some(converra::Usage { input_tokens: 12, output_tokens: 5 }), "{provider}");
        assert_eq!(first_source.expect("key source on the first chunk").scope, KeySource::Organization);
    }
}

#[tokio::test]
async fn project_key_wins_then_organization_then_platform_then_no_provider_key() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, "sk-platformKEY0123456789abcdef")]).await;
    let project = app.post("/api/v1/projects", &app.api_key, json!({"name": "Support bot"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let project_key = "sk-proj-PROJECTkey0123456789abcd";
    mocks.answer_text(Provider::Openai, project_key, "gpt-4o-mini", "from project").await;
    mocks.answer_text(Provider::Openai, valid_key(Provider::Openai), "gpt-4o-mini", "from org").await;
    mocks.answer_text(Provider::Openai, "sk-platformKEY0123456789abcdef", "gpt-4o-mini", "from platform").await;
    let ask = |project: Option<String>| {
        let mut body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
        if let Some(p) = project {
            body["project_id"] = json!(p);
        }
        body
    };

    // Nothing stored: the platform key, metered.
    let a = app.post("/api/v1/completions", &app.api_key, ask(Some(project.clone()))).await;
    assert_eq!(
        (a.body["content"].as_str(), a.body["key_source"]["scope"].as_str()),
        (Some("from platform"), Some("platform"))
    );
    // An organization key takes over.
    let org_key =
        id_of(&app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await);
    let a = app.post("/api/v1/completions", &app.api_key, ask(Some(project.clone()))).await;
    assert_eq!(
        (a.body["content"].as_str(), a.body["key_source"]["key_id"].as_str()),
        (Some("from org"), Some(org_key.as_str()))
    );
    // A project key overrides it for that project only.
    app.add_provider_key(&app.api_key, Provider::Openai, project_key, json!({"project_id": project})).await;
    let a = app.post("/api/v1/completions", &app.api_key, ask(Some(project.clone()))).await;
    assert_eq!(
        (a.body["content"].as_str(), a.body["key_source"]["scope"].as_str()),
        (Some("from project"), Some("project"))
    );
    let a = app.post("/api/v1/completions", &app.api_key, ask(None)).await;
    assert_eq!(a.body["content"], "from org");

    // No key and no platform key for Anthropic.
    let a = app
        .post(
            "/api/v1/completions",
            &app.api_key,
            json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    a.assert_error(
        409,
        "NO_PROVIDER_KEY",
        "No anthropic key is configured for this scope and no platform allowance covers it: add a provider key",
    );
}

#[tokio::test]
async fn the_allowance_meters_platform_tokens_and_runs_out() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, "sk-platformKEY0123456789abcdef")]).await;
    mocks.answer_text(Provider::Openai, "sk-platformKEY0123456789abcdef", "gpt-4o-mini", "ok").await;
    // 51 tokens a month. Each call reserves its estimated prompt (46 bytes: 12 tokens) plus its
    // max_tokens (5), and spends 17: three fit, the fourth's reservation does not.
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, None, Some(51), None).await.unwrap();
    let prompt = "Please answer this question in one short word.";
    let ask =
        json!({"model": "openai/gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": prompt}]});
    for _ in 0..3 {
        assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.status, 200);
    }
    let spent = app.post("/api/v1/completions", &app.api_key, ask.clone()).await;
    spent.assert_error(
        402,
        "ALLOWANCE_EXHAUSTED",
        "The monthly AI token allowance of your plan is used up: add your own provider key to continue",
    );

    let usage = app.get("/api/v1/usage", &app.api_key).await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    assert_eq!(usage.body["allowance"], json!({"limit": 51, "used": 51, "remaining": 0}));
    assert_eq!(usage.body["totals"], plain(3, 36, 15, 3 * GPT_CALL, 0));
    assert_eq!(usage.body["by_key_source"], json!([group("platform", 3, 36, 15, 3 * GPT_CALL, 0)]));

    // The organization's own key lifts the cap: the allowance only meters platform keys.
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    mocks.answer_text(Provider::Openai, valid_key(Provider::Openai), "gpt-4o-mini", "mine").await;
    let own = app.post("/api/v1/completions", &app.api_key, ask).await;
    assert_eq!(own.body["content"], "mine");
}

#[tokio::test]
async fn usage_totals_by_provider_model_source_and_project() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let project =
        app.post("/api/v1/projects", &app.api_key, json!({"name": "p"})).await.body["id"].as_str().unwrap().to_owned();
    for (provider, model) in [MODELS[0], MODELS[1]] {
        app.add_provider_key(&app.api_key, provider, valid_key(provider), Value::Null).await;
        mocks.answer_text(provider, valid_key(provider), model, "x").await;
    }
    for (model, project, cost) in [
        ("gpt-4o-mini", None, GPT_CALL),
        ("gpt-4o-mini", Some(&project), GPT_CALL),
        ("claude-sonnet-4-5", None, CLAUDE_CALL),
    ] {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        if let Some(p) = project {
            body["project_id"] = json!(p);
        }
        let answer = app.post("/api/v1/completions", &app.api_key, body).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        // Each answer says what it cost.
        assert_eq!((&answer.body["cost_micro_usd"], &answer.body["cost_known"]), (&json!(cost), &json!(true)));
    }
    let month = converra_base::ids::current_month();
    let usage = app.get(&format!("/api/v1/usage?month={month}"), &app.api_key).await;
    assert_eq!(usage.body["month"], month.as_str());
    assert_eq!(
        usage.body["by_provider"],
        json!([group("anthropic", 1, 12, 5, CLAUDE_CALL, 0), group("openai", 2, 24, 10, 2 * GPT_CALL, 0)])
    );
    assert_eq!(usage.body["by_model"][0]["key"], "claude-sonnet-4-5");
    assert_eq!(
        usage.body["by_project"],
        json!([plain(2, 24, 10, CLAUDE_CALL + GPT_CALL, 0), group(&project, 1, 12, 5, GPT_CALL, 0)])
    );
    assert!(usage.body.get("allowance").is_none(), "no platform key, no allowance: {}", usage.text);
    // Another organization sees none of it.
    let rival = app.new_org("rival", Plan::Free).await;
    let theirs = app.get(&format!("/api/v1/usage?month={month}"), &rival).await;
    assert_eq!(theirs.body["totals"], plain(0, 0, 0, 0, 0));
    assert_eq!(theirs.body["by_provider"], json!([]));
    let bad = app.get("/api/v1/usage?month=2026-13", &app.api_key).await;
    bad.assert_error(400, "VALIDATION_ERROR", "month must be a calendar month like 2026-11");
}

#[tokio::test]
async fn a_provider_401_is_reported_in_converras_words_and_marks_the_key_invalid() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, "sk-platformKEY0123456789abcdef")]).await;
    let dead = "sk-proj-DEADkey0123456789abcdefghzzzz";
    let id = id_of(&app.add_provider_key(&app.api_key, Provider::Openai, dead, Value::Null).await);
    mocks.answer_chat(Provider::Openai, dead, "gpt-4o-mini", false, invalid_key_answer(Provider::Openai, dead)).await;
    let failed = app
        .post(
            "/api/v1/completions",
            &app.api_key,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    failed.assert_error(502, "PROVIDER_ERROR", "Invalid API key");
    assert_eq!(failed.body["error"]["provider_status"], "invalid_key");
    assert!(!failed.text.contains("zzzz") && !failed.text.contains("Incorrect API key provided"), "{}", failed.text);
    // Which key failed is said beside the error, as on a success.
    assert_eq!(failed.header("x-converra-key-source"), Some("organization"));
    assert_eq!(failed.header("x-converra-key-id"), Some(id.as_str()));
    // Never silently retried on the platform key.
    let platform_calls = mocks.chat_bodies(Provider::Openai).await.len();
    assert_eq!(platform_calls, 1);
    // The agent face says the same beside OpenAI's error shape.
    let agent = app
        .post(
            "/v1/chat/completions",
            &app.api_key,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(agent.status, 502, "{}", agent.text);
    assert_eq!(agent.header("x-converra-key-source"), Some("organization"));
    assert_eq!(agent.header("x-converra-key-id"), Some(id.as_str()));
    // A refusal before any key was used names none.
    let invalid = app.post("/v1/chat/completions", &app.api_key, json!({"model": "gpt-4o-mini"})).await;
    assert_eq!(invalid.status, 400, "{}", invalid.text);
    assert_eq!(invalid.header("x-converra-key-source"), None);
    let listed = app.get(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
    assert_eq!(listed.body["status"], "invalid_key");
}

#[tokio::test]
async fn ai_disabled_tone_and_validation() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    mocks.answer_text(Provider::Openai, valid_key(Provider::Openai), "gpt-4o-mini", "ok").await;
    let ask = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});

    // The organization's default tone becomes a system instruction.
    app.put("/api/v1/settings/ai", &app.api_key, json!({"tone": "friendly"})).await;
    assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.status, 200);
    let sent = mocks.chat_bodies(Provider::Openai).await.pop().unwrap();
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(sent["messages"][0]["content"].as_str().unwrap().contains("friendly"));

    app.put("/api/v1/settings/ai", &app.api_key, json!({"enabled": false})).await;
    app.post("/api/v1/completions", &app.api_key, ask.clone()).await.assert_error(
        409,
        "AI_DISABLED",
        "AI features are turned off for this organization",
    );
    app.put("/api/v1/settings/ai", &app.api_key, json!({"enabled": true})).await;

    let cases: [(Value, &str); 4] = [
        (json!({"model": "llama-3", "messages": [{"role": "user", "content": "hi"}]}), "model"),
        (json!({"model": "foo/bar", "messages": [{"role": "user", "content": "hi"}]}), "model"),
        (json!({"model": "gpt-4o", "messages": []}), "messages"),
        (json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}), "temperature"),
    ];
    for (body, field) in cases {
        let a = app.post("/api/v1/completions", &app.api_key, body).await;
        a.assert_code(400, "VALIDATION_ERROR");
        assert_eq!(a.body["error"]["field"], field, "{}", a.text);
    }
    let path_trick = app
        .post(
            "/api/v1/completions",
            &app.api_key,
            json!({"model": "gemini/../../evil", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    path_trick.assert_code(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn openai_compatible_api_answers_in_openais_shapes() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let stored =
        app.add_provider_key(&app.api_key, Provider::Anthropic, valid_key(Provider::Anthropic), Value::Null).await;
    mocks.answer_text(Provider::Anthropic, valid_key(Provider::Anthropic), "claude-sonnet-4-5", "Hi!").await;
    mocks
        .answer_chat(
            Provider::Anthropic,
            valid_key(Provider::Anthropic),
            "claude-sonnet-4-5",
            true,
            chat_stream(Provider::Anthropic, "claude-sonnet-4-5", &["H", "i!"]),
        )
        .await;

    let a = app.post("/v1/chat/completions", &app.api_key, json!({"model": "anthropic/claude-sonnet-4-5",
        "messages": [{"role": "developer", "content": "Be kind."}, {"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "max_tokens": 20, "user": "u-1"})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["object"], "chat.completion");
    assert_eq!(a.body["model"], "anthropic/claude-sonnet-4-5");
    assert_eq!(a.body["choices"][0]["message"], json!({"role": "assistant", "content": "Hi!", "refusal": null}));
    assert_eq!(a.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(a.body["usage"], json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}));
    assert!(a.body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    // Which key paid, beside OpenAI's body (which has no place for it).
    assert_eq!(a.header("x-converra-key-source"), Some("organization"));
    assert_eq!(a.header("x-converra-key-id"), stored["id"].as_str());

    let streamed = app
        .request(reqwest::Method::POST, "/v1/chat/completions", &app.api_key)
        .json(&json!({"model": "claude-sonnet-4-5", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.headers()["content-type"], "text/event-stream");
    assert_eq!(streamed.headers()["x-converra-key-source"], "organization");
    assert_eq!(streamed.headers()["x-converra-key-id"].to_str().unwrap(), stored["id"].as_str().unwrap());
    let text = streamed.text().await.unwrap();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, "Hi!");
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 17);

    // Errors take OpenAI's shape here.
    let unauth = app.post("/v1/chat/completions", "sk_test_nope", json!({})).await;
    assert_eq!(unauth.status, 401);
    assert_eq!(
        unauth.body,
        json!({"error": {"message": "Invalid API key", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
    );
    let no_key = app
        .post(
            "/v1/chat/completions",
            &app.api_key,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(no_key.status, 409);
    assert_eq!(no_key.body["error"]["code"], "no_provider_key");

    let models = app.get("/v1/models", &app.api_key).await;
    assert_eq!(models.body["object"], "list");
    let ids: Vec<&str> = models.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"anthropic/claude-sonnet-4-5") && !ids.iter().any(|i| i.starts_with("openai/")), "{ids:?}");
}

#[tokio::test]
async fn a_removed_or_replaced_provider_key_is_never_used_after_the_request_returns() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let first = "sk-proj-FIRSTkey0123456789abcdefgh";
    let second = "sk-proj-SECONDkey0123456789abcdefg";
    for (key, text) in [(first, "first"), (second, "second")] {
        mocks.answer_text(Provider::Openai, key, "gpt-4o-mini", text).await;
    }
    let ask = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let id = id_of(&app.add_provider_key(&app.api_key, Provider::Openai, first, Value::Null).await);
    // Warm every cache on the request path.
    for _ in 0..3 {
        assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.body["content"], "first");
    }
    // Replaced in place: the very next completion uses the new secret.
    let put = app.put(&format!("/api/v1/provider-keys/{id}"), &app.api_key, json!({"api_key": second})).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.body["content"], "second");
    // Removed: the very next completion has no key.
    assert_eq!(app.delete(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await.status, 204);
    app.post("/api/v1/completions", &app.api_key, ask).await.assert_code(409, "NO_PROVIDER_KEY");
}

#[tokio::test]
async fn usage_counted_before_a_restart_is_reported_after_it() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    mocks.answer_text(Provider::Openai, valid_key(Provider::Openai), "gpt-4o-mini", "x").await;
    let ask = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.status, 200);
    }
    // No report was asked for before the restart: the counts must be written on shutdown.
    let app = app.restart().await;
    let usage = app.get("/api/v1/usage", &app.api_key).await;
    assert_eq!(usage.body["totals"], plain(3, 36, 15, 3 * GPT_CALL, 0));
}

/// A database from before usage roll-ups (one `usage_events` row per completion) keeps its
/// history: the upgrade folds the rows into the roll-ups.
#[tokio::test]
async fn usage_from_before_the_roll_ups_is_kept_by_the_upgrade() {
    let mut app = spawn_app_with(Options::sqlite_file()).await;
    app.stop().await;
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.execute_batch(
        "DROP INDEX provider_keys_retest; DROP TABLE webhook_outbox; -- added by migration 9
         ALTER TABLE provider_keys DROP COLUMN health_status;
         ALTER TABLE provider_keys DROP COLUMN health_since;
         ALTER TABLE provider_keys DROP COLUMN health_failures;
         ALTER TABLE provider_keys DROP COLUMN health_error;
         ALTER TABLE provider_keys DROP COLUMN health_error_at;
         ALTER TABLE provider_keys DROP COLUMN health_success_at;
         ALTER TABLE provider_keys DROP COLUMN retest_at;
         ALTER TABLE provider_keys DROP COLUMN retest_attempts;
         ALTER TABLE provider_keys DROP COLUMN secret_at;
         ALTER TABLE provider_keys DROP COLUMN rotation_notified_at;
         ALTER TABLE organizations DROP COLUMN key_rotation_days;
         DROP TABLE usage_rollups;
         ALTER TABLE organizations DROP COLUMN api_key_limit; -- added by migration 6
         DROP TABLE allowance_reservations;
         DROP TABLE usage_batches; DROP TABLE leases; -- added by migration 8
         DROP TABLE web_sessions; DROP TABLE web_tokens; -- added by migration 10
         DROP INDEX members_org_email; -- added by migration 12
         DROP TABLE relayed_objects; -- added by migration 13
         ALTER TABLE members DROP COLUMN first_signed_in_at; -- added by migration 15
         DROP TABLE budgets; DROP TABLE spend_reservations; DROP TABLE budget_alerts; -- added by migration 17
         ALTER TABLE api_keys DROP COLUMN project_id;
         CREATE TABLE usage_events (
             id INTEGER PRIMARY KEY AUTOINCREMENT, org_id TEXT NOT NULL, project_id TEXT, api_key_id TEXT NOT NULL,
             provider TEXT NOT NULL, model TEXT NOT NULL, key_source TEXT NOT NULL, input_tokens INTEGER NOT NULL,
             output_tokens INTEGER NOT NULL, latency_ms INTEGER NOT NULL, status TEXT NOT NULL, month TEXT NOT NULL,
             created_at TEXT NOT NULL);
         CREATE INDEX usage_events_org_month ON usage_events (org_id, month);
         PRAGMA user_version = 4;",
    )
    .unwrap();
    // (project, provider, model, key source, input tokens, output tokens, status, created at)
    type OldEvent<'a> = (Option<&'a str>, &'a str, &'a str, &'a str, i64, i64, &'a str, &'a str);
    let rows: [OldEvent; 5] = [
        (None, "openai", "gpt-4o-mini", "organization", 10, 2, "ok", "2026-10-03T08:00:00Z"),
        (None, "openai", "gpt-4o-mini", "organization", 20, 4, "ok", "2026-10-03T09:30:00Z"),
        (Some("prj_old"), "anthropic", "claude-sonnet-4-5", "project", 7, 1, "ok", "2026-10-20T12:00:00Z"),
        (None, "openai", "gpt-4o-mini", "organization", 0, 0, "invalid_key", "2026-10-21T12:00:00Z"),
        (None, "openai", "gpt-4o-mini", "organization", 100, 100, "ok", "2026-09-30T23:59:59Z"),
    ];
    for (project, provider, model, source, input, output, status, at) in rows {
        db.execute(
            "INSERT INTO usage_events (org_id, project_id, api_key_id, provider, model, key_source, input_tokens,
               output_tokens, latency_ms, status, month, created_at)
             VALUES (?1, ?2, 'ak_old', ?3, ?4, ?5, ?6, ?7, 120, ?8, substr(?9, 1, 7), ?9)",
            rusqlite::params![app.org_id, project, provider, model, source, input, output, status, at],
        )
        .unwrap();
    }
    drop(db);

    let app = app.restart().await;
    let october = app.get("/api/v1/usage?month=2026-10", &app.api_key).await;
    assert_eq!(october.status, 200, "{}", october.text);
    // Counted before costs were: unpriced, their cost unknown (never $0).
    assert_eq!(october.body["totals"], plain(3, 37, 7, 0, 3));
    assert_eq!(october.body["by_project"], json!([plain(2, 30, 6, 0, 2), group("prj_old", 1, 7, 1, 0, 1)]));
    let september = app.get("/api/v1/usage?month=2026-09", &app.api_key).await;
    assert_eq!(september.body["totals"], plain(1, 100, 100, 0, 1));
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    let old: i64 =
        db.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'usage_events'", [], |r| r.get(0)).unwrap();
    assert_eq!(old, 0, "the per-completion table is gone");
}
