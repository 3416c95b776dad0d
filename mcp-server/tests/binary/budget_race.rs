//! A budget under concurrency, across two replicas of the real binary on one PostgreSQL and one
//! Redis: twenty calls raced through both at once, each reserving its largest cost before it is
//! sent, and only those that fit are sent; the month's spend ends within the limit. The race is
//! decided in Redis; with Redis gone, the database decides the next one the same way.

use std::time::Duration;

use converra::Provider;
use converra_test_kit::providers::{chat_answer, chat_path};
use converra_test_kit::{PrivateRedis, Server, random_master_key};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::CONVERRA;

#[tokio::test]
#[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL) and redis-server, installed and started by .ci/run"]
async fn racing_calls_on_two_replicas_never_take_a_budget_past_its_limit() {
    let mut redis = PrivateRedis::start();
    // A slow OpenAI: every call is still in flight while the others reserve.
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(chat_path(Provider::Openai, "gpt-4o-mini", false)))
        .respond_with(chat_answer(Provider::Openai, "gpt-4o-mini", "Hi").set_delay(Duration::from_millis(600)))
        .mount(&provider)
        .await;
    let database = converra_test_kit::fresh_postgres_database().await;
    let master = random_master_key();
    let (redis_url, openai_url) = (redis.url(), format!("{}/v1", provider.uri()));
    let envs = [
        ("CONVERRA_MASTER_KEY", master.as_str()),
        ("CONVERRA_DATABASE_URL", database.as_str()),
        ("CONVERRA_REDIS_URL", redis_url.as_str()),
        ("CONVERRA_OPENAI_BASE_URL", openai_url.as_str()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let mut a = Server::start(CONVERRA, &db, &envs).await;
    let owner = a.bootstrap_key().await;
    let mut b = Server::start(CONVERRA, &db, &envs).await;
    let key = json!({"provider": "openai", "name": "shared", "api_key": "sk-proj-RACEkey0123456789abcdwxyz01"});
    assert_eq!(a.post("/api/v1/provider-keys", &owner, key).await.0, 201);
    // Each call reserves ⌈1 × 0.15 + 10 × 0.60⌉ = 7 micro-dollars and costs 5: 7 of them fit in 50.
    let (status, set) = a
        .call(
            reqwest::Method::PUT,
            "/api/v1/budgets",
            &owner,
            Some(json!({"scope": "organization", "limit_micro_usd": 50})),
        )
        .await;
    assert_eq!(status, 200, "{set}");

    let ask = json!({"model": "openai/gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]});
    let calls = (0..20).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        replica.post("/api/v1/completions", &owner, ask.clone())
    });
    let answers = futures_util::future::join_all(calls).await;
    let passed = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(status, _)| *status != 200).collect();
    assert_eq!(passed, 7, "exactly the calls whose reservations fit were sent: {answers:?}");
    assert!(
        refused.iter().all(|(status, body)| *status == 402 && body["error"]["code"] == "BUDGET_EXCEEDED"),
        "{refused:?}"
    );
    assert_eq!(provider.received_requests().await.unwrap().len(), 7, "the refused never reached the provider");

    // Each replica writes its calls' usage within 50 ms, settling their reservations.
    let mut budgets = json!(null);
    for _ in 0..100 {
        budgets = b.get("/api/v1/budgets", &owner).await.1;
        if budgets["data"][0]["spent_micro_usd"] == 35 && budgets["data"][0]["reserved_micro_usd"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(budgets["data"][0]["spent_micro_usd"], 35, "7 calls of 5: {budgets}");
    assert_eq!(budgets["data"][0]["reserved_micro_usd"], 0, "every reservation settled: {budgets}");
    let counted = redis.keys("converra:spent:*");
    assert_eq!(counted.len(), 1, "the organization's budget is counted in Redis: {counted:?}");

    // Redis stops: the replicas reserve in the database instead, and 15 left has room for two.
    redis.stop();
    let calls = (0..4).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        replica.post("/api/v1/completions", &owner, ask.clone())
    });
    let answers = futures_util::future::join_all(calls).await;
    let passed = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(passed, 2, "without Redis the database holds the reservations: {answers:?}");
    assert_eq!(provider.received_requests().await.unwrap().len(), 9);
    a.finish();
    b.finish();
}
