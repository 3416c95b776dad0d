//! Two replicas of the real binary on one PostgreSQL and one Redis behave as one: a key's
//! rate limit is one bucket across both, a revocation on one is refused on the other within a
//! second, a provider key added on one resolves on the other, usage from both adds up, a
//! data-key rotation by the operator is used by both, and Redis going away and coming back
//! costs no request beyond the documented per-replica fallback.

use std::time::{Duration, Instant};

use converra::Provider;
use converra_test_kit::providers::{chat_answer, chat_path, models_body, models_path};
use converra_test_kit::{PrivateRedis, Server, random_master_key, run, stderr_of};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::CONVERRA;

/// An OpenAI stand-in that accepts any key.
async fn openai() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(models_path(Provider::Openai)))
        .respond_with(ResponseTemplate::new(200).set_body_json(models_body(Provider::Openai)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(chat_path(Provider::Openai, "gpt-4o-mini", false)))
        .respond_with(chat_answer(Provider::Openai, "gpt-4o-mini", "Hello!"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
#[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL) and redis-server, installed and started by .ci/run"]
async fn two_replicas_on_one_postgres_and_one_redis_behave_as_one() {
    let mut redis = PrivateRedis::start();
    let provider = openai().await;
    let database = converra_test_kit::fresh_postgres_database().await;
    let master = random_master_key();
    let (redis_url, openai_url) = (redis.url(), format!("{}/v1", provider.uri()));
    let envs = [
        ("CONVERRA_MASTER_KEY", master.as_str()),
        ("CONVERRA_DATABASE_URL", database.as_str()),
        ("CONVERRA_REDIS_URL", redis_url.as_str()),
        ("CONVERRA_OPENAI_BASE_URL", openai_url.as_str()),
        ("CONVERRA_LOG", "info"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let mut a = Server::start(CONVERRA, &db, &envs).await;
    let owner = a.bootstrap_key().await;
    let mut b = Server::start(CONVERRA, &db, &envs).await;

    // A provider key added on A resolves on B (whose cache had read the slot as empty).
    let (_, none) = b.get("/api/v1/provider-keys/resolve?provider=openai", &owner).await;
    assert_eq!(none["source"], "none", "{none}");
    let (status, added) = a
        .post(
            "/api/v1/provider-keys",
            &owner,
            json!({"provider": "openai", "name": "shared", "api_key": "sk-proj-REPLICAkey0123456789abcdwxyz"}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let resolved = eventually(|| async {
        b.get("/api/v1/provider-keys/resolve?provider=openai", &owner).await.1["source"] == "organization"
    })
    .await;
    assert!(resolved < Duration::from_secs(1), "B resolved A's new key after {resolved:?}");

    // One bucket per key across both replicas: 60 requests split between A and B pass, the
    // 61st is refused on either.
    let (_, created) = a.post("/api/v1/api-keys", &owner, json!({"name": "burst"})).await;
    let burst = created["key"].as_str().unwrap().to_owned();
    for i in 0..60 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let (status, body) = replica.get("/api/v1/me", &burst).await;
        assert_eq!(status, 200, "request {i}: {body}");
    }
    assert_eq!(a.get("/api/v1/me", &burst).await.0, 429, "the 61st on A");
    assert_eq!(b.get("/api/v1/me", &burst).await.0, 429, "the 61st on B");

    // A revocation on A is refused on B within a second.
    let (_, created) = a.post("/api/v1/api-keys", &owner, json!({"name": "revoked"})).await;
    let (victim, victim_id) = (created["key"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned());
    assert_eq!(b.get("/api/v1/me", &victim).await.0, 200, "B has the key cached");
    let revoked = a.call(reqwest::Method::DELETE, &format!("/api/v1/api-keys/{victim_id}"), &owner, None).await;
    assert_eq!(revoked.0, 204);
    let seen = eventually(|| async { b.get("/api/v1/me", &victim).await.0 == 401 }).await;
    assert!(seen < Duration::from_secs(1), "B still accepted the revoked key after {seen:?}");
    eprintln!("revocation on A seen by B after {seen:?}");

    // Usage from both replicas adds up.
    let body = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(a.post("/api/v1/completions", &owner, body.clone()).await.0, 200);
    assert_eq!(b.post("/api/v1/completions", &owner, body.clone()).await.0, 200);
    let counted = eventually(|| async { a.get("/api/v1/usage", &owner).await.1["totals"]["requests"] == 2 }).await;
    assert!(counted < Duration::from_secs(2), "usage of both replicas adds up");

    // A data-key rotation by the operator is used by both replicas at once.
    let rotate = run(CONVERRA.command(&["admin", "rotate-data-key", "--org", "default"], &envs));
    assert!(rotate.status.success(), "{}", stderr_of(&rotate));
    for replica in [&a, &b] {
        let (status, answer) = replica.post("/api/v1/completions", &owner, body.clone()).await;
        assert_eq!(status, 200, "after the rotation: {answer}");
    }

    // Redis goes away: requests still pass on per-replica buckets, logged once; it comes back
    // and the buckets are shared again.
    redis.stop();
    for _ in 0..5 {
        assert_eq!(a.get("/api/v1/me", &owner).await.0, 200, "served while Redis is down");
    }
    redis.start_again();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..3 {
        assert_eq!(a.get("/api/v1/me", &owner).await.0, 200);
    }
    let log = a.wait_for_log("Redis is back").await;
    assert_eq!(log.matches("Redis is unreachable").count(), 1, "the outage is logged once: {log}");
    a.finish();
    b.finish();
}

/// How long until `check` holds (polled every 10 ms, for at most 5 s).
async fn eventually<F, Fut>(check: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(5), "never happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}
