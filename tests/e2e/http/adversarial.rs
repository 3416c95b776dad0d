//! Adversarial inputs against the real server: hostile Bearer tokens and field values answer
//! clean 4xx JSON (never a 500, never a hang), deeply nested JSON is refused, one key's rate
//! limit is shared by REST and MCP, racing rotations never leave two active keys, and another
//! organization's ids answer byte for byte like ids that do not exist.

use std::time::Duration;

use converra::{Plan, Provider};
use converra_test_kit::providers::valid_key;
use converra_test_kit::{Answer, Options, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(5);

/// Sends raw bytes as one HTTP/1.1 request (for header values reqwest refuses to send) and
/// returns the status line and body.
async fn raw(app: &TestApp, request: Vec<u8>) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(LIMIT, stream.read_to_end(&mut answer)).await.expect("answered in time").unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn assert_clean_4xx(answer: &Answer, what: &str) {
    assert!((400..500).contains(&answer.status), "{what}: {} {}", answer.status, answer.text);
    assert!(answer.body["error"]["code"].is_string(), "{what}: not a JSON error: {}", answer.text);
}

#[tokio::test]
async fn hostile_bearer_tokens_are_a_clean_401() {
    let app = spawn_app().await;
    let long = "A".repeat(10_000);
    let tokens = [
        "' OR 1=1 --",
        "sk_live_' OR '1'='1",
        "sk_test_\"; DROP TABLE api_keys; --",
        "sk_test_%00%27",
        "sk_test_ünïcødé",
        long.as_str(),
        "sk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ];
    for token in tokens {
        let answer = tokio::time::timeout(LIMIT, async {
            let response =
                app.http.get(app.url("/api/v1/me")).header("authorization", format!("Bearer {token}")).send().await;
            match response {
                Ok(r) => Some(Answer::of(r).await),
                Err(_) => None, // reqwest refused to send it: nothing reached the server
            }
        })
        .await
        .expect("no hang");
        if let Some(answer) = answer {
            answer.assert_error(401, "UNAUTHORIZED", "Invalid API key");
        }
    }
    // NUL, CR/LF and raw non-UTF-8 bytes, which no well-behaved client sends.
    for token in [&b"sk_test_\x00abc"[..], b"sk_test_abc\rX-Injected: 1", b"\xff\xfe\xfd"] {
        let mut request =
            b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer ".to_vec();
        request.extend_from_slice(token);
        request.extend_from_slice(b"\r\n\r\n");
        let (status, body) = raw(&app, request).await;
        assert!(status.contains(" 400 ") || status.contains(" 401 "), "{token:?}: {status} {body}");
        assert!(!status.contains(" 500 "), "{token:?}: {status}");
    }
    // The server still answers normally afterwards.
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200);
}

#[tokio::test]
async fn hostile_field_values_and_ids_are_clean_4xx_json() {
    let app = spawn_app().await;
    let key = app.api_key.clone();
    let nasty =
        ["' OR 1=1 --", "\u{0}", "a\r\nb", "../../etc/passwd", "%00", "😀".repeat(200).as_str(), &"x".repeat(5000)]
            .map(str::to_owned);
    for value in &nasty {
        for (path, body) in [
            ("/api/v1/projects", json!({"name": value})),
            ("/api/v1/members", json!({"email": value, "role": "member"})),
            ("/api/v1/api-keys", json!({"name": value})),
            ("/api/v1/provider-keys", json!({"provider": "openai", "name": value, "api_key": value})),
            ("/api/v1/completions", json!({"model": value, "messages": [{"role": "user", "content": "x"}]})),
        ] {
            let answer = app.post(path, &key, body).await;
            assert!(answer.status != 500, "{path} with {value:?}: {}", answer.text);
            if answer.status >= 400 {
                assert_clean_4xx(&answer, path);
            }
        }
        let id = urlencode(value);
        for path in [format!("/api/v1/projects/{id}"), format!("/api/v1/provider-keys/{id}")] {
            let answer = app.get(&path, &key).await;
            assert_clean_4xx(&answer, &path);
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn deeply_nested_json_is_refused_not_a_crash() {
    let app = spawn_app().await;
    let depth = 10_000;
    let body = format!("{{\"name\": {}1{}}}", "[".repeat(depth), "]".repeat(depth));
    let answer = app.post_raw("/api/v1/projects", &app.api_key, body).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200);
}

#[tokio::test]
async fn one_key_s_rate_limit_is_shared_by_rest_and_mcp() {
    let app = spawn_app().await;
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(6), None, None).await.unwrap();
    let mcp_call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_provider_keys", "arguments": {}}});
    let mut passed = 0;
    for i in 0..12 {
        if i % 2 == 0 {
            let status = app.get("/api/v1/me", &app.api_key).await.status;
            assert!(status == 200 || status == 429, "request {i}: {status}");
            passed += usize::from(status == 200);
        } else {
            // A refused tool call is a tool result (isError, RATE_LIMITED), not an HTTP 429.
            let response = app
                .request(reqwest::Method::POST, "/api/mcp", &app.api_key)
                .header("accept", "application/json, text/event-stream")
                .json(&mcp_call)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "request {i}");
            let body: Value = response.json().await.unwrap();
            if body["result"]["isError"] == true {
                assert!(body["result"]["content"][0]["text"].as_str().unwrap().contains("RATE_LIMITED"), "{body}");
            } else {
                passed += 1;
            }
        }
    }
    assert_eq!(passed, 6, "exactly the plan's count passes across both faces");
}

#[tokio::test]
async fn racing_rotations_never_leave_two_active_keys_or_resurrect_a_removed_one() {
    let app = spawn_app_with(Options::sqlite_file()).await;
    let add = |n: usize| {
        let secret = format!("sk-proj-RACE{n:04}key0123456789abcdefgh");
        app.post(
            "/api/v1/provider-keys",
            &app.api_key,
            json!({"provider": "openai", "name": format!("k{n}"), "api_key": secret}),
        )
    };
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(add(n).await.body["id"].as_str().unwrap().to_owned());
    }
    // Activate, remove and add on the same slot, all at once.
    let mut tasks = Vec::new();
    for round in 0..6 {
        for id in &ids {
            let path = format!("/api/v1/provider-keys/{id}/activate");
            tasks.push(app.request(reqwest::Method::POST, &path, &app.api_key).send());
        }
        let victim = &ids[round % ids.len()];
        tasks.push(
            app.request(reqwest::Method::DELETE, &format!("/api/v1/provider-keys/{victim}"), &app.api_key).send(),
        );
    }
    for result in futures_util::future::join_all(tasks).await {
        let status = result.unwrap().status().as_u16();
        assert!([200, 204, 404].contains(&status), "unexpected {status}");
    }
    let listed = app.get("/api/v1/provider-keys?provider=openai", &app.api_key).await.body["data"].clone();
    let active = listed.as_array().unwrap().iter().filter(|k| k["active"] == true).count();
    assert!(active <= 1, "two active keys: {listed}");
    for removed in ids.iter().take(4) {
        let gone = app.get(&format!("/api/v1/provider-keys/{removed}"), &app.api_key).await;
        assert_eq!(gone.status, 404, "a removed key came back: {}", gone.text);
    }

    // The schema itself refuses a second active key in one slot.
    add(10).await;
    add(11).await;
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    let err = db.execute("UPDATE provider_keys SET active = 1 WHERE name = 'k10'", []).unwrap_err();
    assert!(err.to_string().contains("UNIQUE"), "{err}");
}

#[tokio::test]
async fn another_organizations_ids_answer_exactly_like_missing_ids() {
    let app = spawn_app().await;
    let other = app.new_org("rival", Plan::Free).await;
    let project = app.post("/api/v1/projects", &app.api_key, json!({"name": "mine"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app
        .post(
            "/api/v1/provider-keys",
            &app.api_key,
            json!({"provider": "openai", "name": "k", "api_key": valid_key(Provider::Openai)}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (member, _) = app.member_key(&app.api_key, "m@mine.example", "member").await;
    let api_key_id = app.get("/api/v1/api-keys", &app.api_key).await.body["data"][0]["id"].as_str().unwrap().to_owned();

    let cases: Vec<(reqwest::Method, String, String, Option<Value>)> = vec![
        (reqwest::Method::GET, format!("/api/v1/projects/{project}"), "/api/v1/projects/prj_nope".into(), None),
        (reqwest::Method::DELETE, format!("/api/v1/projects/{project}"), "/api/v1/projects/prj_nope".into(), None),
        (reqwest::Method::GET, format!("/api/v1/provider-keys/{key}"), "/api/v1/provider-keys/pk_nope".into(), None),
        (
            reqwest::Method::POST,
            format!("/api/v1/provider-keys/{key}/test"),
            "/api/v1/provider-keys/pk_nope/test".into(),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/provider-keys/{key}/activate"),
            "/api/v1/provider-keys/pk_nope/activate".into(),
            None,
        ),
        (reqwest::Method::DELETE, format!("/api/v1/provider-keys/{key}"), "/api/v1/provider-keys/pk_nope".into(), None),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/members/{member}"),
            "/api/v1/members/mem_nope".into(),
            Some(json!({"role": "admin"})),
        ),
        (reqwest::Method::DELETE, format!("/api/v1/members/{member}"), "/api/v1/members/mem_nope".into(), None),
        (reqwest::Method::DELETE, format!("/api/v1/api-keys/{api_key_id}"), "/api/v1/api-keys/key_nope".into(), None),
    ];
    for (method, foreign, missing, body) in cases {
        let send = |path: String| {
            let mut r = app.request(method.clone(), &path, &other);
            if let Some(b) = &body {
                r = r.json(b);
            }
            r.send()
        };
        let (a, b) =
            (Answer::of(send(foreign.clone()).await.unwrap()).await, Answer::of(send(missing).await.unwrap()).await);
        assert_eq!((a.status, &a.text), (b.status, &b.text), "{method} {foreign}");
        assert_eq!(a.status, 404, "{method} {foreign}: {}", a.text);
    }
    // Nothing of org A changed.
    assert_eq!(app.get(&format!("/api/v1/provider-keys/{key}"), &app.api_key).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/projects/{project}"), &app.api_key).await.status, 200);
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_key_id_are_indistinguishable() {
    use converra_core::access::token;
    use secrecy::ExposeSecret;

    let app = spawn_app_with(Options::sqlite_file()).await;
    // `known` has a row (its lookup id exists) but its secret does not match the stored hash;
    // `unknown` has a valid checksum and no row at all.
    let (known, unknown) = (token::generate(converra::Environment::Test), token::generate(converra::Environment::Test));
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.execute(
        "INSERT INTO api_keys (id, lookup_id, org_id, member_id, name, environment, secret_hash, prefix, last_four, created_at)
         VALUES ('key_timing', ?1, ?2, ?3, 'timing', 'test', zeroblob(32), 'sk_test_x', 'xxxx', '2026-01-01T00:00:00Z')",
        rusqlite::params![known.lookup_id, app.org_id, app.owner_id],
    )
    .unwrap();
    let (known, unknown) = (known.token.expose_secret().to_owned(), unknown.token.expose_secret().to_owned());

    let a = app.get("/api/v1/me", &known).await;
    let b = app.get("/api/v1/me", &unknown).await;
    assert_eq!((a.status, &a.text), (b.status, &b.text), "the answers differ");
    a.assert_error(401, "UNAUTHORIZED", "Invalid API key");

    // Interleaved, so drift on the machine hits both alike; medians, so outliers do not count.
    let (mut tk, mut tu) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        for (token, out) in [(&known, &mut tk), (&unknown, &mut tu)] {
            let started = std::time::Instant::now();
            let status = app.request(reqwest::Method::GET, "/api/v1/me", token).send().await.unwrap().status();
            out.push(started.elapsed().as_micros() as f64);
            assert_eq!(status, 401);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    let (mk, mu) = (median(&mut tk), median(&mut tu));
    let bound = (mk.max(mu) * 0.25).max(200.0);
    assert!((mk - mu).abs() < bound, "median {mk} µs (wrong secret) vs {mu} µs (unknown id)");
}

#[tokio::test]
async fn a_member_cannot_multiply_their_rate_limit_with_new_api_keys() {
    let app = spawn_app().await;
    // The free plan allows 10 active keys per member; the owner holds the bootstrap key.
    let mut created = Vec::new();
    for i in 0..9 {
        let key = app.post("/api/v1/api-keys", &app.api_key, json!({"name": format!("k{i}")})).await;
        assert_eq!(key.status, 201, "{}", key.text);
        created.push(key.body["id"].as_str().unwrap().to_owned());
    }
    let refused = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "one too many"})).await;
    refused.assert_error(
        409,
        "API_KEY_LIMIT",
        "This member already has 10 active API keys, the most the plan allows: revoke one first",
    );
    // A revoked key frees its place.
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{}", created[0]), &app.api_key).await.status, 204);
    let again = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "replacement"})).await;
    assert_eq!(again.status, 201, "{}", again.text);
    // Another member has a cap of their own.
    let (_, member_key) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    let theirs = app.post("/api/v1/api-keys", &member_key, json!({"name": "mine"})).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
}
