//! Usage in the provider's own figures down to their parts: the prompt tokens read from and
//! written to its cache and the answer tokens spent reasoning reach `GET /api/v1/usage` from
//! OpenAI (REST and `/v1/chat/completions`, whole and streamed), Anthropic (whole and
//! streamed), Gemini and DeepSeek; and a database from before they were counted keeps its usage,
//! with parts of zero.

use converra::Provider;
use converra_test_kit::providers::{MockProviders, chat_answer, openai_chat_body, stream_events, valid_key};
use converra_test_kit::{TestApp, app_with_mocks};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

const GPT: &str = "gpt-4o-mini";
const CLAUDE: &str = "claude-sonnet-4-5";

/// A report's totals: requests, input, output, cache read, cache write, reasoning, and the cost
/// (micro-USD) with how many completions had no price.
fn totals(tokens: [u64; 6], cost: u64, unpriced: u64) -> Value {
    let [requests, input, output, read, write, reasoning] = tokens;
    json!({"requests": requests, "input_tokens": input, "output_tokens": output,
        "cache_read_tokens": read, "cache_write_tokens": write, "reasoning_tokens": reasoning,
        "cost_micro_usd": cost, "unpriced_requests": unpriced, "cost_known": unpriced == 0})
}

async fn usage(app: &TestApp) -> Value {
    let usage = app.get("/api/v1/usage", &app.api_key).await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    usage.body
}

fn sse(events: Vec<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(events.concat(), "text/event-stream")
}

/// OpenAI's usage of a turn with a cached prompt prefix and reasoning: 20 in (8 of them read from
/// the cache), 9 out (3 of them reasoning).
fn openai_usage() -> Value {
    json!({"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
}

/// OpenAI answering whole and streamed with [`openai_usage`].
async fn openai_answers_with_cached_and_reasoning_tokens(mocks: &MockProviders) {
    let key = valid_key(Provider::Openai);
    let mut whole = openai_chat_body(GPT, "Hi");
    whole["usage"] = openai_usage();
    mocks.answer_chat(Provider::Openai, key, GPT, false, ResponseTemplate::new(200).set_body_json(whole)).await;
    let usage_chunk = json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
        "model": GPT, "choices": [], "usage": openai_usage()});
    let events = stream_events(Provider::Openai, GPT, &["H", "i"])
        .into_iter()
        .map(|e| if e.contains(r#""usage""#) { format!("data: {usage_chunk}\n\n") } else { e })
        .collect();
    mocks.answer_chat(Provider::Openai, key, GPT, true, sse(events)).await;
}

#[tokio::test]
async fn openais_cached_and_reasoning_tokens_are_recorded_through_the_rest_api_whole_and_streamed() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    openai_answers_with_cached_and_reasoning_tokens(&mocks).await;
    let ask = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}]});

    let whole = app.post("/api/v1/completions", &app.api_key, ask.clone()).await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert_eq!(whole.body["usage"], json!({"input_tokens": 20, "output_tokens": 9}), "the answer's usage is unchanged");
    let mut streamed_ask = ask;
    streamed_ask["stream"] = json!(true);
    let streamed = app.post("/api/v1/completions", &app.api_key, streamed_ask).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    assert!(streamed.text.contains(r#""input_tokens":20"#), "{}", streamed.text);

    let report = usage(&app).await;
    // gpt-4o-mini: 12 × 0.15 + 8 × 0.075 + 9 × 0.60 = 7.8 micro-USD a call, 8 each.
    assert_eq!(report["totals"], totals([2, 40, 18, 16, 0, 6], 16, 0));
    assert_eq!(report["by_model"][0]["key"], GPT);
    assert_eq!(report["by_model"][0]["reasoning_tokens"], 6);
}

#[tokio::test]
async fn openais_cached_and_reasoning_tokens_are_recorded_through_v1_chat_completions_whole_and_streamed() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    openai_answers_with_cached_and_reasoning_tokens(&mocks).await;

    let whole = app
        .post(
            "/v1/chat/completions",
            &app.api_key,
            json!({"model": GPT,
        "messages": [{"role": "user", "content": "Say hi"}]}),
        )
        .await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert_eq!(whole.body["usage"], openai_usage(), "relayed as OpenAI sent it");
    // Streamed without asking for usage: Converra asks for it, and still reads its parts.
    let streamed = app
        .post(
            "/v1/chat/completions",
            &app.api_key,
            json!({"model": GPT, "stream": true,
        "messages": [{"role": "user", "content": "Say hi"}]}),
        )
        .await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    assert!(streamed.text.ends_with("data: [DONE]\n\n"), "{}", streamed.text);

    assert_eq!(usage(&app).await["totals"], totals([2, 40, 18, 16, 0, 6], 16, 0));
}

#[tokio::test]
async fn anthropics_cache_reads_and_writes_are_recorded_whole_and_streamed() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    // Anthropic's `input_tokens` leaves the cache out: 10 + 2,000 read + 100 written.
    let cached = json!({"input_tokens": 10, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000,
        "output_tokens": 5});
    let mut whole = json!({"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
        "model": CLAUDE, "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": null});
    whole["usage"] = cached.clone();
    mocks.answer_chat(Provider::Anthropic, key, CLAUDE, false, ResponseTemplate::new(200).set_body_json(whole)).await;
    // Streamed: `message_start` says the prompt and cache, `message_delta` the output.
    let mut start = cached;
    start["output_tokens"] = json!(1);
    let events = stream_events(Provider::Anthropic, CLAUDE, &["H", "i"])
        .into_iter()
        .map(|e| {
            if !e.starts_with("event: message_start") {
                return e;
            }
            let message = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                "role": "assistant", "content": [], "model": CLAUDE, "stop_reason": null, "stop_sequence": null,
                "usage": start}});
            format!("event: message_start\ndata: {message}\n\n")
        })
        .collect();
    mocks.answer_chat(Provider::Anthropic, key, CLAUDE, true, sse(events)).await;
    let ask = json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "Say hi"}]});

    let answer = app.post("/api/v1/completions", &app.api_key, ask.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["usage"], json!({"input_tokens": 2110, "output_tokens": 5}), "every prompt token");
    let mut streamed_ask = ask;
    streamed_ask["stream"] = json!(true);
    let streamed = app.post("/api/v1/completions", &app.api_key, streamed_ask).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);

    let report = usage(&app).await;
    // claude-sonnet-4-5, each call: 10 × 3 + 2,000 × 0.30 + 100 × 3.75 + 5 × 15 = 1,080 micro-USD.
    assert_eq!(report["totals"], totals([2, 4220, 10, 4000, 200, 0], 2160, 0));
    assert_eq!(
        report["by_provider"],
        json!([{"key": "anthropic", "requests": 2, "input_tokens": 4220,
        "output_tokens": 10, "cache_read_tokens": 4000, "cache_write_tokens": 200, "reasoning_tokens": 0,
        "cost_micro_usd": 2160, "unpriced_requests": 0, "cost_known": true}])
    );
}

#[tokio::test]
async fn geminis_cached_and_thinking_tokens_and_deepseeks_cache_hits_are_recorded() {
    let (app, mocks) = app_with_mocks(&[]).await;
    for provider in [Provider::Gemini, Provider::Deepseek] {
        app.add_provider_key(&app.api_key, provider, valid_key(provider), Value::Null).await;
    }
    let mut gemini = json!({"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"},
        "finishReason": "STOP"}], "modelVersion": "gemini-2.5-flash"});
    // Gemini counts thoughts apart from the candidates: Converra counts them as output.
    gemini["usageMetadata"] = json!({"promptTokenCount": 30, "candidatesTokenCount": 5, "totalTokenCount": 42,
        "cachedContentTokenCount": 20, "thoughtsTokenCount": 7});
    let template = ResponseTemplate::new(200).set_body_json(gemini);
    mocks.answer_chat(Provider::Gemini, valid_key(Provider::Gemini), "gemini-2.5-flash", false, template).await;
    let mut deepseek = openai_chat_body("deepseek-reasoner", "Hi");
    deepseek["usage"] = json!({"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50,
        "prompt_cache_hit_tokens": 32, "prompt_cache_miss_tokens": 8,
        "completion_tokens_details": {"reasoning_tokens": 6}});
    let template = ResponseTemplate::new(200).set_body_json(deepseek);
    mocks.answer_chat(Provider::Deepseek, valid_key(Provider::Deepseek), "deepseek-reasoner", false, template).await;

    for model in ["gemini/gemini-2.5-flash", "deepseek/deepseek-reasoner"] {
        let ask = json!({"model": model, "messages": [{"role": "user", "content": "Say hi"}]});
        let answer = app.post("/api/v1/completions", &app.api_key, ask).await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text);
    }
    let report = usage(&app).await;
    assert_eq!(
        report["by_provider"],
        json!([
        // deepseek-reasoner has no row in the price table: unpriced. gemini-2.5-flash:
        // 10 × 0.30 + 20 × 0.03 + 12 × 2.50 = 33.6 micro-USD, 34.
        {"key": "deepseek", "requests": 1, "input_tokens": 40, "output_tokens": 10,
            "cache_read_tokens": 32, "cache_write_tokens": 0, "reasoning_tokens": 6,
            "cost_micro_usd": 0, "unpriced_requests": 1, "cost_known": false},
        {"key": "gemini", "requests": 1, "input_tokens": 30, "output_tokens": 12,
            "cache_read_tokens": 20, "cache_write_tokens": 0, "reasoning_tokens": 7,
            "cost_micro_usd": 34, "unpriced_requests": 0, "cost_known": true}])
    );
}

/// A database at the schema version before the parts were counted (SQLite's 13, PostgreSQL's 9)
/// keeps its usage through the upgrade, with parts of zero, and counts them from then on.
#[tokio::test]
async fn usage_from_before_the_token_parts_were_counted_is_kept_by_the_upgrade_with_zero_parts() {
    let (mut app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    mocks.answer_chat(Provider::Openai, key, GPT, false, chat_answer(Provider::Openai, GPT, "old")).await;
    let ask = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}]});
    assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.status, 200);
    app.stop().await;
    // Back to the version before: the parts' columns gone, and what later migrations add.
    let drop = "ALTER TABLE usage_rollups DROP COLUMN cache_read_tokens;
                ALTER TABLE usage_rollups DROP COLUMN cache_write_tokens;
                ALTER TABLE usage_rollups DROP COLUMN reasoning_tokens;
                ALTER TABLE members DROP COLUMN first_signed_in_at; -- SQLite's 15, PostgreSQL's 11
                ALTER TABLE usage_rollups DROP COLUMN cost_micro_usd; -- SQLite's 16, PostgreSQL's 12
                ALTER TABLE usage_rollups DROP COLUMN unpriced_requests;
                DROP TABLE budgets; DROP TABLE spend_reservations; DROP TABLE budget_alerts; -- 17, 13
                ALTER TABLE api_keys DROP COLUMN project_id;
";
    if app.database_url.is_some() {
        app.run_postgres_sql(&format!("{drop} UPDATE converra_schema SET version = 9;")).await;
    } else {
        let db = rusqlite::Connection::open(&app.db_path).unwrap();
        db.execute_batch(&format!("{drop} PRAGMA user_version = 13;")).unwrap();
    }

    let app = app.restart().await;
    let report = usage(&app).await;
    // Counted before parts and costs were: parts of zero, its cost unknown (never $0).
    assert_eq!(report["totals"], totals([1, 12, 5, 0, 0, 0], 0, 1), "the old usage, with parts of zero");
    assert_eq!(report["by_provider"][0]["cache_read_tokens"], 0);

    // From now on the parts are counted.
    mocks.server(Provider::Openai).reset().await;
    openai_answers_with_cached_and_reasoning_tokens(&mocks).await;
    assert_eq!(app.post("/api/v1/completions", &app.api_key, ask).await.status, 200);
    assert_eq!(usage(&app).await["totals"], totals([2, 32, 14, 8, 0, 3], 8, 1));
}
