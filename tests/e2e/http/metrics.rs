//! `/metrics`: a scripted scenario scraped afterwards, whose counters must match exactly what
//! was sent; spend by organization and provider, and unpriced completions; the token on the
//! main listener, the separate address, off by default; bounded label cardinality under 10,000
//! unknown paths; no secret, key or email in the scrape; and the format read by a real parser
//! (the Python `prometheus_client`).

use std::time::Duration;

use converra::{Plan, Provider};
use converra_server::config::Config;
use converra_test_kit::providers::{
    MockProviders, chat_path, insufficient_quota, invalid_key_answer, revoked_key, valid_key,
};
use converra_test_kit::{Options, TestApp, id_of, spawn_app, spawn_app_with};
use futures_util::StreamExt;
use serde_json::{Value, json};
use wiremock::Mock;
use wiremock::matchers::{body_partial_json, method, path};

const TOKEN: &str = "metrics-token-0123456789abcdef";

fn with_token(config: &mut Config) {
    config.metrics_token = Some(TOKEN.to_owned().into());
}

fn on_own_address(config: &mut Config) {
    config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
}

async fn app_with_metrics(mocks: &MockProviders, platform: &[(Provider, &str)]) -> TestApp {
    spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        platform_keys: platform.iter().map(|(p, k)| (*p, (*k).to_owned())).collect(),
        configure: Some(with_token),
        ..Default::default()
    })
    .await
}

/// The scrape on the main listener, with the token.
async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample `name{labels}` (labels as exposed, in order), if there is one.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let head = if labels.is_empty() { format!("{name} ") } else { format!("{name}{{{labels}}} ") };
    text.lines().find_map(|l| l.strip_prefix(&head)).map(|v| v.trim().parse().expect("a number"))
}

fn requests(text: &str, face: &str, route: &str, status: u16) -> f64 {
    sample(text, "converra_http_requests_total", &format!(r#"face="{face}",route="{route}",status="{status}""#))
        .unwrap_or(0.0)
}

fn series_count(text: &str) -> usize {
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count()
}

async fn mcp_tool_call(app: &TestApp, tool: &str, arguments: Value) -> Value {
    let call =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    let response = app
        .request(reqwest::Method::POST, "/api/mcp", &app.api_key)
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn chat(app: &TestApp, model: &str) -> u16 {
    chat_as(app, &app.api_key, model).await
}

async fn chat_as(app: &TestApp, key: &str, model: &str) -> u16 {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]});
    app.post("/v1/chat/completions", key, body).await.status
}

#[tokio::test]
async fn the_counters_match_a_scripted_scenario_exactly() {
    let mocks = MockProviders::start().await;
    let (openai, platform) = (valid_key(Provider::Openai), valid_key(Provider::Anthropic));
    let app = app_with_metrics(&mocks, &[(Provider::Anthropic, platform)]).await;
    mocks.answer_text(Provider::Openai, openai, "gpt-4o-mini", "Hello!").await;
    // OpenAI's chat path is the same for every model: the refused one is told by its body.
    Mock::given(method("POST"))
        .and(path(chat_path(Provider::Openai, "gpt-quota", false)))
        .and(body_partial_json(json!({"model": "gpt-quota"})))
        .respond_with(insufficient_quota())
        .with_priority(1)
        .mount(mocks.server(Provider::Openai))
        .await;
    mocks.answer_text(Provider::Anthropic, platform, "claude-sonnet-4-5", "Hello!").await;

    // REST: three reads, a foreign id, a key added (untested: no provider call), unknown routes.
    let me = app.get("/api/v1/me", &app.api_key).await;
    assert_eq!(me.status, 200);
    let email = me.body["member"]["email"].as_str().expect("an email").to_owned();
    for _ in 0..2 {
        assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200);
    }
    assert_eq!(app.get("/api/v1/projects/prj_0000000000000000000000", &app.api_key).await.status, 404);
    let added = app
        .post("/api/v1/provider-keys", &app.api_key, json!({"provider": "openai", "name": "OpenAI", "api_key": openai}))
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(app.get("/api/v1/no-such-thing", &app.api_key).await.status, 404);
    assert_eq!(app.http.get(app.url("/no/such/page/42")).send().await.unwrap().status(), 404);
    // /v1: two answers, one the provider refuses (quota), one on the platform allowance.
    assert_eq!(chat(&app, "gpt-4o-mini").await, 200);
    assert_eq!(chat(&app, "gpt-4o-mini").await, 200);
    assert_eq!(chat(&app, "gpt-quota").await, 502);
    assert_eq!(chat(&app, "anthropic/claude-sonnet-4-5").await, 200);
    // MCP: one tool call.
    let listed = mcp_tool_call(&app, "list_provider_keys", json!({})).await;
    assert_ne!(listed["result"]["isError"], true, "{listed}");
    // Rate limited: the plan cut to 1 a minute; REST until refused, then one MCP tool call.
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(1), None, None).await.unwrap();
    let (mut me_ok, mut me_refused) = (3.0, 0.0);
    while me_refused == 0.0 {
        match app.get("/api/v1/me", &app.api_key).await.status {
            200 => me_ok += 1.0,
            429 => me_refused += 1.0,
            other => panic!("{other}"),
        }
        assert!(me_ok < 10.0, "the rate limit never refused");
    }
    let refused = mcp_tool_call(&app, "list_provider_keys", json!({})).await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");

    let text = scrape(&app).await;
    let expected = [
        ("rest", "/api/v1/me", 200, me_ok),
        ("rest", "/api/v1/me", 429, me_refused),
        ("rest", "/api/v1/projects/{id}", 404, 1.0),
        ("rest", "/api/v1/provider-keys", 201, 1.0),
        ("rest", "unmatched", 404, 1.0),
        ("web", "unmatched", 404, 1.0),
        ("openai", "/v1/chat/completions", 200, 3.0),
        ("openai", "/v1/chat/completions", 502, 1.0),
        ("mcp", "/api/mcp", 200, 2.0),
    ];
    for (face, route, status, n) in expected {
        assert_eq!(requests(&text, face, route, status), n, "{face} {route} {status}:\n{text}");
    }
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("converra_http_requests_total{") && !l.contains(r#"face="ops""#))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, expected.iter().map(|e| e.3).sum::<f64>(), "no other request was counted:\n{text}");

    let provider = |labels: &str| sample(&text, "converra_provider_calls_total", labels);
    assert_eq!(provider(r#"provider="openai",call="completion",outcome="ok""#), Some(2.0), "{text}");
    assert_eq!(provider(r#"provider="openai",call="completion",outcome="quota_exceeded""#), Some(1.0));
    assert_eq!(provider(r#"provider="anthropic",call="completion",outcome="ok""#), Some(1.0));
    let latency = |p: &str| {
        let labels = format!(r#"provider="{p}",call="completion""#);
        sample(&text, "converra_provider_call_duration_seconds_count", &labels)
    };
    assert_eq!((latency("openai"), latency("anthropic")), (Some(3.0), Some(1.0)));
    let v1 = r#"face="openai",route="/v1/chat/completions""#;
    let count = |name: &str| sample(&text, name, v1).unwrap();
    assert_eq!(count("converra_http_request_duration_seconds_count"), 4.0);
    assert_eq!(count("converra_http_request_overhead_seconds_count"), 4.0);
    assert!(count("converra_http_request_overhead_seconds_sum") < count("converra_http_request_duration_seconds_sum"));
    // Refusals by bucket: the REST 429s and the refused tool call spent the plan bucket.
    assert_eq!(sample(&text, "converra_rate_limited_total", r#"bucket="plan""#), Some(me_refused + 1.0), "{text}");
    // The platform call's tokens (the mock reports 12 in, 5 out), with no organization label.
    assert_eq!(sample(&text, "converra_allowance_used_tokens_total", r#"provider="anthropic""#), Some(17.0));
    // Key health by status: the one stored key ran out of quota in traffic (the last /v1 call to it).
    let keys = |status: &str| sample(&text, "converra_provider_keys", &format!(r#"status="{status}""#));
    assert_eq!((keys("quota_exceeded"), keys("ok"), keys("invalid_key")), (Some(1.0), Some(0.0), Some(0.0)), "{text}");
    assert!(sample(&text, "converra_usage_pending_buckets", "").is_some(), "{text}");
    assert!(sample(&text, "converra_usage_pending_age_seconds", "").is_some(), "{text}");

    // Nothing secret or personal, no raw id: only templates, fixed words and numbers.
    for secret in [app.api_key.as_str(), openai, platform, TOKEN, &email, "@"] {
        assert!(!text.contains(secret), "`{secret}` is in the scrape");
    }
    for raw in ["prj_0000", "no-such-thing", "/no/such/page", "gpt-4o-mini", "claude-sonnet"] {
        assert!(!text.contains(raw), "`{raw}` is in the scrape:\n{text}");
    }
    // Spend: the two answers from OpenAI (5 micro-USD each) and the platform call (claude-sonnet-4-5:
    // 12 × 3 + 5 × 15 = 111, the organization's spend whichever key paid); the refused call, none.
    let spend = |provider: &str| {
        let labels = format!(r#"organization="{}",provider="{provider}""#, app.org_id);
        sample(&text, "converra_spend_micro_usd_total", &labels)
    };
    assert_eq!((spend("openai"), spend("anthropic")), (Some(10.0), Some(111.0)), "{text}");
    // The organization is named by the spend series alone.
    let naming_org: Vec<_> = text.lines().filter(|l| l.contains(app.org_id.as_str())).collect();
    assert_eq!(naming_org.len(), 2, "{text}");
    assert!(naming_org.iter().all(|l| l.starts_with("converra_spend_micro_usd_total{")), "{text}");
}

#[tokio::test]
async fn spend_is_counted_by_organization_and_provider_and_unpriced_completions_by_provider() {
    let mocks = MockProviders::start().await;
    let app = app_with_metrics(&mocks, &[]).await;
    let (openai, deepseek, dead) =
        (valid_key(Provider::Openai), valid_key(Provider::Deepseek), revoked_key(Provider::Deepseek));
    mocks.answer_text(Provider::Openai, openai, "gpt-4o-mini", "Hello!").await;
    mocks.answer_text(Provider::Deepseek, deepseek, "deepseek-reasoner", "Hello!").await;
    let refusal = invalid_key_answer(Provider::Deepseek, dead);
    mocks.answer_chat(Provider::Deepseek, dead, "deepseek-reasoner", false, refusal).await;
    let rival = app.new_org("rival", Plan::Pro).await;
    // Each organization's id, and every key id (API and provider keys) none of its series may name.
    let (mut orgs, mut key_ids) = (Vec::new(), Vec::new());
    for caller in [app.api_key.as_str(), rival.as_str()] {
        let me = app.get("/api/v1/me", caller).await;
        orgs.push(me.body["organization"]["id"].as_str().expect("an organization id").to_owned());
        key_ids.push(me.body["api_key"]["id"].as_str().expect("an API key id").to_owned());
    }
    for (caller, provider, secret) in [
        (&app.api_key, Provider::Openai, openai),
        (&app.api_key, Provider::Deepseek, deepseek),
        (&rival, Provider::Openai, openai),
        (&rival, Provider::Deepseek, dead),
    ] {
        key_ids.push(id_of(&app.add_provider_key(caller, provider, secret, json!({})).await));
    }
    let (ours, theirs) = (&orgs[0], &orgs[1]);
    assert_eq!(ours, &app.org_id);

    // Ours: two priced completions (gpt-4o-mini, 12 in and 5 out: 4.8 micro-USD, 5 each) and
    // one unpriced (deepseek-reasoner has no row in the price table). Theirs: one priced, and
    // one the provider refuses: it costs nothing, so it is neither spend nor unpriced.
    assert_eq!(chat(&app, "gpt-4o-mini").await, 200);
    assert_eq!(chat(&app, "gpt-4o-mini").await, 200);
    assert_eq!(chat(&app, "deepseek/deepseek-reasoner").await, 200);
    assert_eq!(chat_as(&app, &rival, "gpt-4o-mini").await, 200);
    assert_eq!(chat_as(&app, &rival, "deepseek/deepseek-reasoner").await, 502);

    let text = scrape(&app).await;
    let spend = |org: &str, provider: &str| {
        sample(&text, "converra_spend_micro_usd_total", &format!(r#"organization="{org}",provider="{provider}""#))
    };
    assert_eq!((spend(ours, "openai"), spend(theirs, "openai")), (Some(10.0), Some(5.0)), "{text}");
    let unpriced =
        |provider: &str| sample(&text, "converra_unpriced_completions_total", &format!(r#"provider="{provider}""#));
    assert_eq!(unpriced("deepseek"), Some(1.0), "{text}");
    let refused = r#"provider="deepseek",call="completion",outcome="invalid_key""#;
    assert_eq!(sample(&text, "converra_provider_calls_total", refused), Some(1.0), "the refusal was sent:\n{text}");
    // Those are all the series, and they carry only an organization and a provider: no model
    // name, no API or provider key id.
    let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).collect::<Vec<_>>();
    assert_eq!(series("converra_spend_micro_usd_total{").len(), 2, "{text}");
    assert_eq!(series("converra_unpriced_completions_total{").len(), 1, "{text}");
    for line in
        series("converra_spend_micro_usd_total{").into_iter().chain(series("converra_unpriced_completions_total{"))
    {
        let labels = line.split_once('{').and_then(|(_, rest)| rest.split_once('}')).expect("labels").0;
        let names: Vec<_> = labels.split(',').filter_map(|l| l.split_once('=')).map(|(name, _)| name).collect();
        assert!(names == ["organization", "provider"] || names == ["provider"], "{line}");
    }
    for raw in key_ids.iter().map(String::as_str).chain(["gpt-4o-mini", "deepseek-reasoner"]) {
        assert!(!text.contains(raw), "`{raw}` is in the scrape:\n{text}");
    }
}

#[tokio::test]
async fn the_scrape_needs_the_token_on_the_main_listener() {
    let app = spawn_app_with(Options { configure: Some(with_token), ..Default::default() }).await;
    let get = |token: Option<&str>| {
        let request = app.http.get(app.url("/metrics"));
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        async move { converra_test_kit::Answer::of(request.send().await.unwrap()).await }
    };
    get(None).await.assert_error(401, "UNAUTHORIZED", "Authorization header required");
    get(Some("metrics-token-0123456789abcdeX")).await.assert_error(401, "UNAUTHORIZED", "Invalid API key");
    get(Some(&app.api_key)).await.assert_error(401, "UNAUTHORIZED", "Invalid API key");
    let ok = get(Some(TOKEN)).await;
    assert_eq!(ok.status, 200);
    assert!(ok.text.contains("# TYPE converra_http_requests counter"), "{}", ok.text);
    // The refusals and the scrape itself are counted under `ops`; no token is in the scrape.
    assert!(
        ok.text.contains(r#"converra_http_requests_total{face="ops",route="/metrics",status="401"} 3"#),
        "{}",
        ok.text
    );
    assert!(!ok.text.contains(TOKEN) && !ok.text.contains(&app.api_key));
}

#[tokio::test]
async fn metrics_are_off_unless_configured() {
    let app = spawn_app().await;
    let unknown = converra_test_kit::Answer::of(app.http.get(app.url("/no-such-route")).send().await.unwrap()).await;
    for auth in [None, Some(TOKEN)] {
        let request = app.http.get(app.url("/metrics"));
        let request = if let Some(t) = auth { request.bearer_auth(t) } else { request };
        let answer = converra_test_kit::Answer::of(request.send().await.unwrap()).await;
        assert_eq!((answer.status, &answer.body), (404, &unknown.body), "like any unknown path");
    }
    assert!(!app.core.metrics().is_enabled());
}

#[tokio::test]
async fn a_separate_address_serves_the_scrape_without_a_token() {
    let app = spawn_app_with(Options { configure: Some(on_own_address), ..Default::default() }).await;
    let addr = app.metrics_addr.expect("the metrics listener is bound");
    assert_ne!(addr.port(), app.addr.port());
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200);
    let text = app.http.get(format!("http://{addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(requests(&text, "rest", "/api/v1/me", 200), 1.0, "{text}");
    // Only the scrape there; and not on the main listener, where no token is configured.
    assert_eq!(app.http.get(format!("http://{addr}/api/v1/me")).send().await.unwrap().status(), 404);
    assert_eq!(app.get("/metrics", &app.api_key).await.status, 404);
}

#[tokio::test]
async fn ten_thousand_unknown_paths_leave_the_series_count_flat() {
    let app = spawn_app_with(Options { configure: Some(with_token), ..Default::default() }).await;
    // An unknown `/v1` path is answered after authentication, and spends the plan bucket as
    // every `/v1` request does: a rate the ten thousand fit in.
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(100_000), None, None).await.unwrap();
    let paths = |range: std::ops::Range<usize>| {
        range.map(|i| match i % 4 {
            0 => format!("/unknown/{i}"),
            1 => format!("/api/v1/unknown-{i}"),
            2 => format!("/v1/models/{i}/x"),
            _ => format!("/api/v1/projects/prj_{i}/deeper?q={i}"),
        })
    };
    let send = |paths: Vec<String>| {
        let app = &app;
        async move {
            futures_util::stream::iter(paths)
                .for_each_concurrent(16, |p| async move {
                    let status = app.http.get(app.url(&p)).bearer_auth(&app.api_key).send().await.unwrap().status();
                    assert_eq!(status, 404, "{p}");
                })
                .await
        }
    };
    send(paths(0..8).collect()).await;
    scrape(&app).await; // the scrape's own series exist from here on
    let before = series_count(&scrape(&app).await);
    send(paths(8..10_008).collect()).await;
    let after = scrape(&app).await;
    assert_eq!(series_count(&after), before, "{after}");
    assert_eq!(requests(&after, "web", "unmatched", 404), 2502.0);
    // (`unknown` alone is a key-health status; the paths sent were `/unknown/…`, `unknown-…`.)
    assert!(
        !after.contains("/unknown") && !after.contains("unknown-") && !after.contains("prj_"),
        "no raw path is a label"
    );
}

/// The Python that imports `prometheus_client`: `CONVERRA_PYTHON`, else `python3`.
fn python_with_prometheus_client() -> String {
    let python = std::env::var("CONVERRA_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python).args(["-c", "import prometheus_client"]).output();
    match probe {
        Ok(out) if out.status.success() => python,
        _ => panic!("`{python}` cannot import prometheus_client; `bash .ci/run` installs it"),
    }
}

#[tokio::test]
#[ignore = "needs the Python prometheus_client, installed by .ci/run"]
async fn the_scrape_parses_with_the_python_prometheus_client() {
    let python = python_with_prometheus_client();
    let mocks = MockProviders::start().await;
    let app = app_with_metrics(&mocks, &[]).await;
    let key = valid_key(Provider::Openai);
    mocks.answer_text(Provider::Openai, key, "gpt-4o-mini", "Hello!").await;
    app.add_provider_key(&app.api_key, Provider::Openai, key, json!({})).await;
    assert_eq!(chat(&app, "gpt-4o-mini").await, 200);
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200);
    let text = scrape(&app).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/clients/metrics_parser.py");
    let mut child = tokio::process::Command::new(&python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "ok openmetrics converra_http_requests counter",
        "ok openmetrics converra_http_request_duration_seconds histogram",
        "ok openmetrics converra_provider_calls counter",
        "ok openmetrics converra_usage_pending_buckets gauge",
        "ok openmetrics converra_spend_micro_usd counter",
        "ok prometheus converra_http_requests counter",
        "ok sample converra_http_requests_total face=openai route=/v1/chat/completions status=200 1",
        "ok sample converra_http_requests_total face=rest route=/api/v1/me status=200 1",
        "all parsed",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing `{line}` in:\n{stdout}");
    }
}
