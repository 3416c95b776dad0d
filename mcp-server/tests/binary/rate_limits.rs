//! The rate-limit buckets of the real binary under faults: a Redis that accepts connections and
//! never answers costs no latency (every request falls back to this process's buckets at once,
//! one task reconnects); a fallback continues from what the bucket spent in Redis; and sign-in
//! attempts from many client addresses leave memory bounded.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use converra_adapters::rate_limit::ADDRESS_BUCKETS;
use converra_test_kit::{PrivateRedis, Server};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::CONVERRA;

/// How long 40 concurrent requests may take in all. Before the fix they queued behind one
/// reconnection at a time: 5.3 s at p50, 10 s for the last.
const NO_QUEUE: Duration = Duration::from_secs(2);

/// Sends `n` concurrent `GET /api/v1/me` with `key`; each one's status and latency, and the
/// time until the last answered.
async fn concurrent_requests(server: &Server, key: &str, n: usize) -> (Vec<(u16, Duration)>, Duration) {
    let started = Instant::now();
    let mut requests = JoinSet::new();
    for _ in 0..n {
        let request = server.http.get(format!("{}/api/v1/me", server.base)).bearer_auth(key);
        requests.spawn(async move {
            let sent = Instant::now();
            let status = request.send().await.map_or(0, |r| r.status().as_u16());
            (status, sent.elapsed())
        });
    }
    let mut answers = requests.join_all().await;
    answers.sort_by_key(|(_, latency)| *latency);
    (answers, started.elapsed())
}

/// A new API key of the bootstrap owner's (free plan: 60 requests a minute).
async fn new_key(server: &Server, owner: &str) -> String {
    let (status, created) = server.post("/api/v1/api-keys", owner, json!({"name": "burst"})).await;
    assert_eq!(status, 201, "{created}");
    created["key"].as_str().unwrap().to_owned()
}

fn report(what: &str, answers: &[(u16, Duration)], total: Duration) {
    let p50 = answers[answers.len() / 2].1;
    let worst = answers.last().unwrap().1;
    eprintln!("{what}: {} requests, p50 {p50:?}, worst {worst:?}, all answered after {total:?}", answers.len());
}

#[tokio::test]
async fn a_redis_that_accepts_connections_and_never_answers_costs_no_latency() {
    // A "Redis" that accepts every connection, holds it open and never says a word.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", hung.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let envs = [("CONVERRA_REDIS_URL", url.as_str()), ("CONVERRA_LOG", "info")];
    let server = Server::start(CONVERRA, &dir.path().join("c.db"), &envs).await;
    let owner = server.bootstrap_key().await;
    let keys = [new_key(&server, &owner).await, new_key(&server, &owner).await];

    // While the first connection is still being tried; then a second after the last request,
    // when every request used to try Redis again in turn. A fresh key each time (60 a minute).
    for (when, key) in ["while the first connection is tried", "a second later"].into_iter().zip(&keys) {
        if when == "a second later" {
            server.wait_for_log("Redis is unreachable").await;
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        let (answers, total) = concurrent_requests(&server, key, 40).await;
        report(&format!("Redis hung from the start, {when}"), &answers, total);
        assert!(answers.iter().all(|(status, _)| *status == 200), "every request is served: {answers:?}");
        assert!(total < NO_QUEUE, "40 concurrent requests took {total:?}: they queued behind Redis");
    }
    let log = server.log();
    assert_eq!(log.matches("Redis is unreachable").count(), 1, "the outage is logged once: {log}");
    holder.abort();
}

#[tokio::test]
#[ignore = "needs redis-server, installed by .ci/run"]
async fn a_connected_redis_that_stops_answering_costs_no_latency_and_the_fallback_counts_what_was_spent() {
    let redis = PrivateRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let envs = [("CONVERRA_REDIS_URL", url.as_str()), ("CONVERRA_LOG", "info")];
    let server = Server::start(CONVERRA, &dir.path().join("c.db"), &envs).await;
    let owner = server.bootstrap_key().await;
    server.wait_for_log("Redis answers").await;
    let key = new_key(&server, &owner).await;

    // 20 of the key's 60 a minute are spent in Redis.
    for i in 0..20 {
        assert_eq!(server.get("/api/v1/me", &key).await.0, 200, "request {i}");
    }

    // Redis freezes: connected, accepting, silent.
    redis.pause();
    let (answers, total) = concurrent_requests(&server, &key, 40).await;
    report("Redis frozen while connected", &answers, total);
    assert!(answers.iter().all(|(status, _)| *status == 200), "every request is served: {answers:?}");
    assert!(total < NO_QUEUE, "40 concurrent requests took {total:?}: they queued behind Redis");
    // This replica's bucket went on from the 20 Redis had counted: 40 more, not 60.
    let (status, _) = server.get("/api/v1/me", &key).await;
    assert_eq!(status, 429, "the 61st request of the minute is refused during the outage");

    redis.resume();
    let log = server.wait_for_log("Redis is back").await;
    assert_eq!(log.matches("Redis is unreachable").count(), 1, "the outage is logged once: {log}");
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One failed sign-in from the client address `from` (any of 127.0.0.0/8): its status.
async fn sign_in_from(from: Ipv4Addr, server: SocketAddr) -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let body = "csrf=x0123456789&api_key=sk_test_not_a_real_key";
    let request = format!(
        "POST /sign-in HTTP/1.1\r\nHost: {server}\r\nOrigin: http://{server}\r\nCookie: converra_csrf=x0123456789\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    head.strip_prefix("HTTP/1.1 ").and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Failed sign-ins from `count` client addresses, the `n`th from 127.(first + n as 3 bytes),
/// 64 at a time.
async fn sign_ins_from_many(server: SocketAddr, first: u32, count: u32) {
    let mut running = JoinSet::new();
    for n in first..first + count {
        if running.len() >= 64 {
            assert_eq!(running.join_next().await.unwrap().unwrap(), 401);
        }
        let [_, a, b, c] = n.to_be_bytes();
        running.spawn(sign_in_from(Ipv4Addr::new(127, a, b, c), server));
    }
    for status in running.join_all().await {
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn sign_in_attempts_from_many_client_addresses_leave_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(CONVERRA, &dir.path().join("c.db"), &[("CONVERRA_LOG", "warn")]).await;
    let addr: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let pid = server.child.id();
    let cap = ADDRESS_BUCKETS as u32;

    // As many addresses as the bounded map holds, so it is at its largest, then twice as many.
    let started = Instant::now();
    sign_ins_from_many(addr, 1 << 16, cap).await;
    let before = rss_kib(pid);
    sign_ins_from_many(addr, (1 << 16) + cap, 2 * cap).await;
    let after = rss_kib(pid);
    let grown = after.saturating_sub(before);
    eprintln!(
        "{} sign-in attempts from as many addresses in {:?}: resident memory {before} KiB → {after} KiB (+{grown} KiB) \
         over the last {}",
        3 * cap,
        started.elapsed(),
        2 * cap
    );
    // Before buckets were bounded each new address kept about 140 bytes for good (1.1 MB here).
    assert!(grown < 512, "resident memory grew {grown} KiB over {} new client addresses", 2 * cap);
}
