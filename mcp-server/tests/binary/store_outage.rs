//! A store outage under load, as the fault-injection soak ran it: two replicas of the real
//! binary on one private PostgreSQL, clients sending completions to both, PostgreSQL stopped
//! for 2 s and started again. Every answer is 200 or 503, never 500; and once PostgreSQL is
//! back, the usage report counts exactly the completions that were answered 200 (none lost in
//! a replica's memory, none counted twice).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use converra::Provider;
use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::{PrivatePostgres, Server, random_master_key, run, stderr_of};
use serde_json::json;

use crate::CONVERRA;

const MODEL: &str = "gpt-4o-mini";
const CLIENTS: usize = 4;

/// Sends completions to `base` until `stop`, noting each answer's status (0: no answer).
async fn client(http: reqwest::Client, base: String, key: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Vec<u16>>>) {
    let body = json!({"model": format!("openai/{MODEL}"), "messages": [{"role": "user", "content": "Hi"}]});
    while !stop.load(Ordering::Relaxed) {
        let sent = http
            .post(format!("{base}/api/v1/completions"))
            .bearer_auth(&key)
            .timeout(Duration::from_secs(15))
            .json(&body)
            .send()
            .await;
        let status = sent.map_or(0, |r| r.status().as_u16());
        seen.lock().unwrap().push(status);
        if status != 200 {
            // As a client backs off; it also keeps the count of answers bounded.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, installed by .ci/run"]
async fn a_postgres_outage_under_load_is_answered_503_and_every_answered_completion_is_counted() {
    let pg = PrivatePostgres::start();
    let providers = MockProviders::start().await;
    providers.answer_text(Provider::Openai, valid_key(Provider::Openai), MODEL, "Hello!").await;
    let (master, url) = (random_master_key(), pg.url());
    let openai = providers.base_urls()[&Provider::Openai].clone();
    let envs = [
        ("CONVERRA_MASTER_KEY", master.as_str()),
        ("CONVERRA_DATABASE_URL", url.as_str()),
        ("CONVERRA_OPENAI_BASE_URL", openai.as_str()),
        ("CONVERRA_LOCAL_RATE_LIMITS", "1"),
        ("CONVERRA_LOG", "warn"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let mut a = Server::start(CONVERRA, &db, &envs).await;
    let owner = a.bootstrap_key().await;
    let mut b = Server::start(CONVERRA, &db, &envs).await;
    // The load is bounded by time, not by the plan's rate limit.
    let plan =
        run(CONVERRA.command(&["admin", "org", "set-plan", "default", "enterprise", "--rate-limit", "100000"], &envs));
    assert!(plan.status.success(), "{}", stderr_of(&plan));
    let (status, added) = a
        .post(
            "/api/v1/provider-keys",
            &owner,
            json!({"provider": "openai", "name": "soak", "api_key": valid_key(Provider::Openai)}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let body = json!({"model": format!("openai/{MODEL}"), "messages": [{"role": "user", "content": "Hi"}]});
    for replica in [&a, &b] {
        let (status, answer) = replica.post("/api/v1/completions", &owner, body.clone()).await;
        assert_eq!(status, 200, "before the outage: {answer}");
    }

    let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(vec![200, 200])));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let replica = if i % 2 == 0 { &a } else { &b };
            let (http, base) = (replica.http.clone(), replica.base.clone());
            tokio::spawn(client(http, base, owner.clone(), stop.clone(), seen.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.start_again();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }

    let answers = std::mem::take(&mut *seen.lock().unwrap());
    let mut by_status = BTreeMap::new();
    for status in &answers {
        *by_status.entry(*status).or_insert(0u64) += 1;
    }
    let answered = by_status.get(&200).copied().unwrap_or_default();
    eprintln!("answers by status: {by_status:?}");
    let internal: std::collections::BTreeSet<String> = [a.log(), b.log()]
        .iter()
        .flat_map(|log| {
            log.lines()
                .filter(|l| l.contains("internal error"))
                .map(|l| l.split_once('Z').map_or(l, |(_, rest)| rest).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 503),
        "only 200 or 503 while PostgreSQL is down: {by_status:?}, logged: {internal:#?}"
    );
    assert!(by_status.contains_key(&503), "the outage was felt: {by_status:?}");

    // Once PostgreSQL is back, each replica writes what it counted; a report on A flushes
    // only A's own, so B's arrive from its writer alone.
    let started = Instant::now();
    let mut counted = 0;
    while started.elapsed() < Duration::from_secs(15) {
        let (status, usage) = a.get("/api/v1/usage", &owner).await;
        if status == 200 {
            counted = usage["totals"]["requests"].as_u64().unwrap();
            if counted == answered {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("answered 200: {answered}, counted in usage: {counted} after {:?}", started.elapsed());
    assert_eq!(counted, answered, "every completion answered 200 is counted once ({by_status:?})");
    // And nothing more arrives later (no batch written twice).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, usage) = a.get("/api/v1/usage", &owner).await;
    assert_eq!(usage["totals"]["requests"].as_u64(), Some(answered), "{usage}");
    a.finish();
    b.finish();
}
