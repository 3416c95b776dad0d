//! Standards at the edges of every HTTP face: the auth scheme in any case (RFC 9110), a 401's
//! challenge saying whether a token was refused (RFC 6750), a panicking handler answering JSON
//! 500 `INTERNAL` instead of dropping the connection, `/v1` bodies over the limit in OpenAI's
//! error shape, and a request id on every answer (the caller's own, when it sent one).

use std::sync::Arc;

use axum::routing::get;
use converra_core::Core;
use converra_test_kit::{Answer, Options, TestApp, spawn_app, spawn_app_with};
use reqwest::header::AUTHORIZATION;
use serde_json::json;

const NO_TOKEN: &str = r#"Bearer realm="converra""#;
const REFUSED_TOKEN: &str = r#"Bearer realm="converra", error="invalid_token""#;

/// `GET path` with a raw `Authorization` header (or none).
async fn get_with(app: &TestApp, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = app.http.get(app.url(path));
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    Answer::of(request.send().await.expect("request sent")).await
}

#[tokio::test]
async fn the_auth_scheme_is_case_insensitive_on_every_face() {
    let app = spawn_app().await;
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme} {}", app.api_key);
        for path in ["/api/v1/me", "/v1/models"] {
            let answer = get_with(&app, path, Some(&header)).await;
            assert_eq!(answer.status, 200, "{scheme} on {path}: {}", answer.text);
        }
    }
}

#[tokio::test]
async fn a_401_challenge_says_whether_a_token_was_refused() {
    let app = spawn_app().await;
    let revoked = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "soon revoked"})).await;
    let (revoked_id, revoked_key) = (revoked.body["id"].as_str().unwrap(), revoked.body["key"].as_str().unwrap());
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{revoked_id}"), &app.api_key).await.status, 204);

    let refused_revoked = format!("Bearer {revoked_key}");
    let cases = [
        (None, "Authorization header required", NO_TOKEN),
        (Some("Basic dXNlcjpwYXNz"), "Invalid API key", NO_TOKEN),
        (Some("Bearer "), "Invalid API key", NO_TOKEN),
        (Some("Bearer sk_test_notakey"), "Invalid API key", REFUSED_TOKEN),
        (Some(refused_revoked.as_str()), "API key has been revoked", REFUSED_TOKEN),
    ];
    for (header, message, challenge) in cases {
        for path in ["/api/v1/me", "/v1/models"] {
            let answer = get_with(&app, path, header).await;
            assert_eq!(answer.status, 401, "{header:?} on {path}: {}", answer.text);
            assert_eq!(answer.header("www-authenticate"), Some(challenge), "{header:?} on {path}");
            // Both shapes (ours and OpenAI's) carry the message at `error.message`.
            assert_eq!(answer.body["error"]["message"], message, "{header:?} on {path}: {}", answer.text);
        }
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_callers_own_comes_back() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for path in ["/api/v1/me", "/v1/models", "/healthz", "/api/v1/no-such-route"] {
        for authorization in [Some(format!("Bearer {}", app.api_key)), None] {
            let answer = get_with(&app, path, authorization.as_deref()).await;
            let id = answer.header("x-request-id").unwrap_or_else(|| panic!("no request id on {path}")).to_owned();
            assert!(id.len() > 9 && id.contains('-'), "{path}: {id}");
            assert!(seen.insert(id.clone()), "{path}: the id {id} was given twice");
        }
    }
    let given = "trace-4f1c2a";
    for path in ["/api/v1/me", "/v1/models", "/api/v1/no-such-route"] {
        let sent = app.http.get(app.url(path)).bearer_auth(&app.api_key).header("x-request-id", given).send().await;
        let answer = Answer::of(sent.expect("request sent")).await;
        assert_eq!(answer.header("x-request-id"), Some(given), "{path}");
    }
}

/// A handler with a bug.
async fn boom() -> &'static str {
    panic!("a handler bug that quotes sk_live_SECRET")
}

#[tokio::test]
async fn a_panicking_handler_answers_json_500_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    // The real outer layers of every face around one route that panics.
    let routes = axum::Router::<Arc<Core>>::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
    let router = converra_faces::rest::finish(routes, app.core.clone(), 1024, 1 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let boom =
        Answer::of(app.http.get(format!("{base}/boom")).send().await.expect("an answer, not a dropped connection"))
            .await;
    boom.assert_error(500, "INTERNAL", "Internal error");
    assert_eq!(boom.body, json!({"error": {"code": "INTERNAL", "message": "Internal error"}}));
    assert!(boom.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    assert!(boom.header("x-request-id").is_some(), "the request id is still sent");
    assert!(!boom.text.contains("SECRET"), "{}", boom.text);

    let fine = app.http.get(format!("{base}/fine")).send().await.unwrap();
    assert_eq!(fine.status(), 200);
}

#[tokio::test]
async fn a_v1_body_over_the_limit_gets_openais_error_shape() {
    // `/v1` has its own limit (`CONVERRA_V1_BODY_LIMIT`), apart from the other faces'.
    let app = spawn_app_with(Options { configure: Some(|c| c.v1_body_limit = 1024), ..Default::default() }).await;
    let big = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let answer = app.post("/v1/chat/completions", &app.api_key, big).await;
    assert_eq!(answer.status, 413, "{}", answer.text);
    let error = &answer.body["error"];
    assert_eq!(error["message"], "Request body is too large (the limit is 1024 bytes)", "{}", answer.text);
    assert_eq!((&error["type"], &error["code"]), (&json!("invalid_request_error"), &json!("payload_too_large")));
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
}
