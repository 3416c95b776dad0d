//! The gateway benchmark: how much latency Converra adds and how many completions it passes.
//!
//! One command: `cargo bench -p converra-server --bench gateway`. It starts
//! - a fast mock OpenAI-compatible provider (axum, canned `chat.completion`) in its own
//!   process (this binary with `--mock`), as a real provider would be;
//! - the release `converra` binary on a fresh database, configured to call the mock;
//! - a load driver with fixed concurrency (1, 16, 64) for a fixed duration per cell,
//!   recording latency in HDR histograms,
//!
//! and measures, in the same run: direct to the mock, through `/v1/chat/completions` and
//! through `/api/v1/completions` (organization key resolved, usage recorded, rate limit set
//! high), the added latency per percentile, the throughput ratio, Converra's peak RSS (from
//! `/proc`), MCP `tools/call` p50/p99, and cold start to `/readyz`.
//!
//! Environment: `BENCH_SECONDS` (per cell, default 5), `BENCH_CONCURRENCY` (default `1,16,64`),
//! `BENCH_WORKERS` (Converra's `--workers`, default 1 so that Converra, the driver and the
//! mock each have a core's worth of threads; `default` for one worker per core),
//! `BENCH_CONVERRA_BIN` (another `converra` build to measure instead of this one),
//! `BENCH_DATABASE_URL` (a PostgreSQL server: a second Converra runs on a fresh database there
//! and its `/v1` path is measured in the same run, beside the SQLite one), `BENCH_REDIS_URL`
//! (that second Converra keeps its rate-limit buckets in this Redis; without it, per replica).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use converra::Provider;
use converra_test_kit::app::fresh_postgres_database_on;
use converra_test_kit::providers::openai_chat_body;
use converra_test_kit::{Binary, Server};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// The release binary under test (the bench profile builds it).
/// The `converra` binary under test: this build's, or `BENCH_CONVERRA_BIN` (another build's,
/// for a before/after comparison in one run of the same driver and mock).
fn converra() -> Binary {
    match std::env::var("BENCH_CONVERRA_BIN") {
        Ok(path) => Binary::new(Box::leak(path.into_boxed_str())),
        Err(_) => Binary::new(env!("CARGO_BIN_EXE_converra")),
    }
}

/// Runs the mock in this process, printing its address (`--mock` mode), until its stdin
/// closes: when the benchmark ends, however it ends, the mock goes with it.
async fn serve_mock() {
    let addr = start_mock_here().await;
    println!("{addr}");
    let _ = tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await;
}

/// Starts the mock provider in its own process, like a real provider, so the direct baseline
/// crosses the same process boundaries as the path through Converra.
fn start_mock() -> (SocketAddr, Child) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--mock")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mock provider starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (line.trim().parse().expect("mock address"), child)
}

async fn start_mock_here() -> SocketAddr {
    // OpenAI's recorded answer, serialized once: the mock does no work per request.
    let canned = openai_chat_body("gpt-4o-mini", "Hello! How can I help you today?").to_string();
    let completion = move || {
        let canned = canned.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], canned) }
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(completion))
        .route("/v1/models", axum::routing::get(|| async { r#"{"object":"list","data":[]}"# }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A benchmarked Converra: the test kit's server, the bootstrap owner's key, and how long it
/// took from spawn to `/readyz` 200.
struct Converra {
    server: Server,
    key: String,
    cold_start: Duration,
}

async fn add_provider_key(converra: &Converra) {
    let body = json!({"provider": Provider::Openai.as_str(), "name": "bench", "api_key": "sk-proj-BENCHkey0123456789abcdefwxyz"});
    let (status, _) = converra.server.post("/api/v1/provider-keys", &converra.key, body).await;
    assert_eq!(status, 201, "provider key added");
}

/// The store a benchmarked Converra runs on: SQLite in `dir`, or a PostgreSQL database.
fn store_env(dir: &std::path::Path, postgres: Option<&str>) -> Vec<(&'static str, String)> {
    match postgres {
        None => vec![("CONVERRA_DB", dir.join("converra.db").display().to_string())],
        Some(url) => vec![
            ("CONVERRA_DATABASE_URL", url.to_owned()),
            match std::env::var("BENCH_REDIS_URL") {
                Ok(redis) => ("CONVERRA_REDIS_URL", redis),
                Err(_) => ("CONVERRA_LOCAL_RATE_LIMITS", "1".to_owned()),
            },
            // PostgreSQL takes an explicit master key (nothing is generated).
            ("CONVERRA_MASTER_KEY", "YmVuY2htYXJrLW1hc3Rlci1rZXktMzItYnl0ZXMhISE=".to_owned()),
        ],
    }
}

/// The Bearer token of the Converra measured with metrics on.
const METRICS_TOKEN: &str = "bench-metrics-token-0123456789abcdef";

async fn start_converra(
    dir: &std::path::Path,
    mock: SocketAddr,
    workers: Option<&str>,
    postgres: Option<&str>,
    metrics: bool,
) -> Converra {
    let store = store_env(dir, postgres);
    let openai = format!("http://{mock}/v1");
    let mut envs: Vec<(&str, &str)> = store.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.extend([("CONVERRA_OPENAI_BASE_URL", openai.as_str()), ("CONVERRA_LOG", "warn")]);
    if metrics {
        envs.push(("CONVERRA_METRICS_TOKEN", METRICS_TOKEN));
    }
    if let Some(n) = workers {
        envs.push(("CONVERRA_WORKERS", n));
    }
    let db = dir.join(if postgres.is_some() { "unused.db" } else { "converra.db" });
    let started = Instant::now();
    let server = Server::start(converra(), &db, &envs).await;
    let cold_start = started.elapsed();
    let key = server.bootstrap_key().await;
    let plan = ["admin", "org", "set-plan", "default", "enterprise", "--rate-limit", "100000000"];
    let status = converra().command(&plan, &envs).status().unwrap();
    assert!(status.success());
    Converra { server, key, cold_start }
}

struct Cell {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    elapsed: Duration,
}

impl Cell {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

/// `concurrency` connections, each sending requests back to back for `seconds`.
async fn drive(
    url: &str,
    key: Option<&str>,
    body: &Value,
    extra: &[(&str, &str)],
    concurrency: usize,
    seconds: f64,
) -> Cell {
    let stop = Arc::new(AtomicBool::new(false));
    let body = Arc::new(serde_json::to_vec(body).unwrap());
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..concurrency {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).tcp_nodelay(true).build().unwrap();
        let (url, key, body, stop) = (url.to_owned(), key.map(str::to_owned), body.clone(), stop.clone());
        let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut n, mut errors) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let mut req = client.post(&url).header("content-type", "application/json").body(body.as_ref().clone());
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                for (k, v) in &extra {
                    req = req.header(k, v);
                }
                let t = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        hist.record(t.elapsed().as_micros().max(1) as u64).unwrap();
                        n += 1;
                    }
                    _ => errors += 1,
                }
            }
            (hist, n, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut cell = Cell {
        hist: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (h, n, e) = t.await.unwrap();
        cell.hist.add(h).unwrap();
        cell.requests += n;
        cell.errors += e;
    }
    cell.elapsed = started.elapsed();
    cell
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn row(name: &str, c: usize, cell: &Cell) {
    println!(
        "| {name:<28} | {c:>3} | {:>9.0} | {:>7.3} | {:>7.3} | {:>7.3} | {:>8.3} | {:>6} |",
        cell.rps(),
        cell.ms(0.50),
        cell.ms(0.90),
        cell.ms(0.99),
        cell.hist.max() as f64 / 1000.0,
        cell.errors
    );
}

fn main() {
    let mock_mode = std::env::args().any(|a| a == "--mock");
    // The driver and the mock run on one thread each, like `wrk -t1`: they stand in for other
    // machines, so they should take as little of the shared cores as they can.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if mock_mode {
        runtime.block_on(serve_mock());
    } else {
        runtime.block_on(run());
    }
}

async fn run() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64]);
    let dir = tempfile::tempdir().unwrap();
    // `default` leaves Converra at one worker per core.
    let workers = std::env::var("BENCH_WORKERS").unwrap_or_else(|_| "1".into());
    let (mock, mut mock_process) = start_mock();
    let workers_flag = Some(workers.as_str()).filter(|w| *w != "default");
    let server = start_converra(dir.path(), mock, workers_flag, None, false).await;
    add_provider_key(&server).await;
    let postgres = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => {
            let database = fresh_postgres_database_on(&url).await;
            let pg = start_converra(dir.path(), mock, workers_flag, Some(&database), false).await;
            add_provider_key(&pg).await;
            Some(pg)
        }
        Err(_) => None,
    };

    let body = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]});
    let direct_body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]});
    let direct = format!("http://{mock}/v1/chat/completions");
    let compat = format!("{}/v1/chat/completions", server.server.base);
    let native = format!("{}/api/v1/completions", server.server.base);

    println!(
        "\nConverra gateway benchmark — {seconds} s per cell, {} cores, Converra workers: {workers}; \
         load driver and mock provider: one thread each\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("| path                         |   c |     req/s | p50 ms  | p90 ms  | p99 ms  |  max ms  | errors |");
    println!("|------------------------------|-----|-----------|---------|---------|---------|----------|--------|");
    let mut summary = Vec::new();
    let mut on_postgres = Vec::new();
    for &c in &levels {
        let d = drive(&direct, None, &direct_body, &[], c, seconds).await;
        row("direct to mock", c, &d);
        let o = drive(&compat, Some(&server.key), &body, &[], c, seconds).await;
        row("converra /v1/chat/completions", c, &o);
        let n = drive(&native, Some(&server.key), &body, &[], c, seconds).await;
        row("converra /api/v1/completions", c, &n);
        if let Some(pg) = &postgres {
            let p =
                drive(&format!("{}/v1/chat/completions", pg.server.base), Some(&pg.key), &body, &[], c, seconds).await;
            row("on PG (+Redis) /v1/chat/comp.", c, &p);
            on_postgres.push((c, d.ms(0.5), d.ms(0.99), p, o.rps()));
        }
        summary.push((c, d, o, n));
    }
    println!("\nAdded latency (through Converra /v1/chat/completions minus direct), ms:\n");
    println!("|   c |   p50  |   p90  |   p99  | throughput ratio |");
    println!("|-----|--------|--------|--------|------------------|");
    for (c, d, o, _) in &summary {
        println!(
            "| {c:>3} | {:>6.3} | {:>6.3} | {:>6.3} | {:>16.2} |",
            o.ms(0.5) - d.ms(0.5),
            o.ms(0.9) - d.ms(0.9),
            o.ms(0.99) - d.ms(0.99),
            o.rps() / d.rps()
        );
    }

    if !on_postgres.is_empty() {
        println!(
            "\nOn PostgreSQL (with Redis when BENCH_REDIS_URL is set; same run, same mock), /v1/chat/completions, added over direct, ms:\n"
        );
        println!("|   c |   p50  |   p99  | req/s PostgreSQL | req/s SQLite |");
        println!("|-----|--------|--------|------------------|--------------|");
        for (c, d50, d99, p, sqlite_rps) in &on_postgres {
            println!(
                "| {c:>3} | {:>6.3} | {:>6.3} | {:>16.0} | {:>12.0} |",
                p.ms(0.5) - d50,
                p.ms(0.99) - d99,
                p.rps(),
                sqlite_rps
            );
        }
    }

    if levels.contains(&1) {
        metrics_cost(dir.path(), mock, workers_flag, &server, seconds).await;
    }

    let mcp = format!("{}/api/mcp", server.server.base);
    let accept = [("accept", "application/json, text/event-stream")];
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_provider_keys", "arguments": {}}});
    let run = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_completion",
        "arguments": {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}}});
    println!("\nMCP tools/call over loopback (1 connection):\n");
    println!("| tool                 | calls/s | p50 ms  | p99 ms  | errors |");
    println!("|----------------------|---------|---------|---------|--------|");
    for (name, call) in [("list_provider_keys", &list), ("run_completion", &run)] {
        let m = drive(&mcp, Some(&server.key), call, &accept, 1, seconds.min(3.0)).await;
        println!("| {name:<20} | {:>7.0} | {:>7.3} | {:>7.3} | {:>6} |", m.rps(), m.ms(0.5), m.ms(0.99), m.errors);
    }

    println!("\nConverra peak RSS: {:.1} MB", peak_rss_kib(server.server.child.id()) as f64 / 1024.0);
    println!(
        "Cold start to /readyz 200 (fresh database, bootstrap included): {:.0} ms",
        server.cold_start.as_secs_f64() * 1000.0
    );
    let _ = mock_process.kill();
    let _ = mock_process.wait();
}

/// Metrics on beside metrics off: a second Converra, the same but for `CONVERRA_METRICS_TOKEN`,
/// and the same `/v1` load at 1 connection on each, alternated over `BENCH_METRICS_ROUNDS`
/// rounds (default 3) with the direct baseline taken in every round, so a busy machine's drift
/// falls on both alike. Prints each round's added p50 with metrics off and on, the difference,
/// and the median difference (the target: within 0.01 ms).
async fn metrics_cost(dir: &std::path::Path, mock: SocketAddr, workers: Option<&str>, off: &Converra, seconds: f64) {
    let rounds: usize = std::env::var("BENCH_METRICS_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let own = dir.join("metrics-on");
    std::fs::create_dir_all(&own).unwrap();
    let on = start_converra(&own, mock, workers, None, true).await;
    add_provider_key(&on).await;
    let body = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]});
    let direct_body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]});
    let direct = format!("http://{mock}/v1/chat/completions");
    let v1 = |c: &Converra| format!("{}/v1/chat/completions", c.server.base);
    println!(
        "\nMetrics cost: /v1/chat/completions at 1 connection, metrics off (no token) beside on (token set), added p50 over direct, ms:\n"
    );
    println!("| round | direct p50 | added p50 off | added p50 on | on − off |");
    println!("|-------|------------|---------------|--------------|----------|");
    let mut differences = Vec::new();
    for round in 1..=rounds {
        let d = drive(&direct, None, &direct_body, &[], 1, seconds).await;
        // Alternate which goes first, so neither always runs on the warmer machine.
        let (a, b) = if round % 2 == 1 { (off, &on) } else { (&on, off) };
        let first = drive(&v1(a), Some(&a.key), &body, &[], 1, seconds).await;
        let second = drive(&v1(b), Some(&b.key), &body, &[], 1, seconds).await;
        let (o, m) = if round % 2 == 1 { (first, second) } else { (second, first) };
        let (added_off, added_on) = (o.ms(0.5) - d.ms(0.5), m.ms(0.5) - d.ms(0.5));
        differences.push(added_on - added_off);
        println!(
            "| {round:>5} | {:>10.3} | {added_off:>13.3} | {added_on:>12.3} | {:>+8.3} |",
            d.ms(0.5),
            added_on - added_off
        );
    }
    differences.sort_by(f64::total_cmp);
    println!("\nMedian of on − off over {rounds} rounds: {:+.3} ms", differences[differences.len() / 2]);
    // The metrics Converra really counted what it was sent.
    let scrape = reqwest::Client::new()
        .get(format!("{}/metrics", on.server.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = scrape
        .lines()
        .find(|l| {
            l.starts_with(r#"converra_http_requests_total{face="openai",route="/v1/chat/completions",status="200"}"#)
        })
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("none");
    println!("Requests the metrics Converra counted on /v1/chat/completions (200): {counted}");
}
