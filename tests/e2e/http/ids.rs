//! Ids are checked for their shape before any lookup: a malformed id, however large, gets
//! exactly what an unknown id of the right shape gets (404, the same body), on every route and
//! header that takes one, so garbage ids cost neither a database read nor a cache entry.

use converra_test_kit::spawn_app;
use serde_json::json;

#[tokio::test]
async fn a_malformed_id_answers_exactly_like_an_unknown_one() {
    let app = spawn_app().await;
    let unknown_project = format!("prj_{}", "0".repeat(32));
    let huge = "x".repeat(512 * 1024);
    let long = "x".repeat(4 * 1024);
    for (malformed, unknown) in [
        (format!("/api/v1/projects/{long}"), format!("/api/v1/projects/{unknown_project}")),
        ("/api/v1/provider-keys/pk_not-hex".into(), format!("/api/v1/provider-keys/pk_{}", "0".repeat(32))),
        ("/api/v1/projects/prj_short".into(), format!("/api/v1/projects/{unknown_project}")),
    ] {
        let (a, b) = (app.get(&malformed, &app.api_key).await, app.get(&unknown, &app.api_key).await);
        assert_eq!((a.status, &a.text), (b.status, &b.text), "{} vs {unknown}", &malformed[..40]);
        assert_eq!(a.status, 404);
    }
    let revoke = app.delete("/api/v1/api-keys/key_<script>", &app.api_key).await;
    assert_eq!(revoke.status, 404, "{}", revoke.text);

    // The same through the project header of a completion and the resolve query.
    let ask =
        json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "project_id": huge});
    let malformed = app.post("/api/v1/completions", &app.api_key, ask).await;
    let ask = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "project_id": unknown_project});
    let unknown = app.post("/api/v1/completions", &app.api_key, ask).await;
    assert_eq!((malformed.status, &malformed.text), (unknown.status, &unknown.text));
    let resolved = app
        .get(&format!("/api/v1/provider-keys/resolve?provider=openai&project_id={}", "y".repeat(4096)), &app.api_key)
        .await;
    assert_eq!(resolved.status, 404, "{}", resolved.text);
}
