//! Validation and error shapes: unknown fields, malformed JSON, oversized bodies, unknown
//! routes, all as JSON errors.

use super::*;

#[tokio::test]
async fn an_unknown_field_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let answer = app.post("/api/v1/projects", &app.api_key, json!({"name": "x", "colour": "red"})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("colour"), "{}", answer.text);

    let answer = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "x", "scopes": ["all"]})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("scopes"), "{}", answer.text);

    // A wrong type names its field too.
    let answer =
        app.post("/api/v1/members", &app.api_key, json!({"email": "a@example.com", "role": "superuser"})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(answer.body["error"]["field"], "role", "{}", answer.text);
    // A missing field is named.
    let answer = app.post("/api/v1/members", &app.api_key, json!({"role": "member"})).await;
    answer.assert_code(400, "VALIDATION_ERROR");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("email"), "{}", answer.text);
    assert!(ids(&app.get("/api/v1/projects", &app.api_key).await).is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    for body in ["{\"name\": ", "not json", "", "[1, 2"] {
        let answer = app.post_raw("/api/v1/projects", &app.api_key, body).await;
        answer.assert_code(400, "VALIDATION_ERROR");
    }
    // The right JSON without the JSON content type is refused with a JSON error too.
    let answer = Answer::of(
        app.request(Method::POST, "/api/v1/projects", &app.api_key).body(r#"{"name": "x"}"#).send().await.unwrap(),
    )
    .await;
    answer.assert_code(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_json_error() {
    let app = spawn_app_with(Options { body_limit: Some(1024), ..Default::default() }).await;
    let big = json!({"name": "x".repeat(2048)});
    let answer = app.post("/api/v1/projects", &app.api_key, big).await;
    answer.assert_code(413, "PAYLOAD_TOO_LARGE");
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    // Also without a Content-Length (chunked), the limit holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"{\"name\": \"".to_vec()), Ok(vec![b'y'; 4096]), Ok(b"\"}".to_vec())];
    let answer = app
        .post_raw("/api/v1/projects", &app.api_key, reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .await;
    answer.assert_code(413, "PAYLOAD_TOO_LARGE");
    // A body under the limit is fine.
    assert_eq!(app.post("/api/v1/projects", &app.api_key, json!({"name": "small"})).await.status, 201);
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    for path in ["/api/v1/nope", "/nope", "/api/v2/me"] {
        let answer = app.get(path, &app.api_key).await;
        answer.assert_code(404, "NOT_FOUND");
        let anonymous = Answer::of(app.http.get(app.url(path)).send().await.unwrap()).await;
        anonymous.assert_code(404, "NOT_FOUND");
    }
    // A known route with the wrong method is JSON too.
    let answer = app.put("/api/v1/me", &app.api_key, json!({})).await;
    assert_eq!(answer.status, 405, "{}", answer.text);
    assert!(answer.body["error"]["code"].is_string(), "{}", answer.text);
    // Health probes need no key.
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
