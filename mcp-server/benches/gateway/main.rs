//! The gateway benchmark: how much latency Converra adds and how many completions it passes,
//! beside a bare nginx `proxy_pass` hop to the same mock (the floor: a proxy that does no work)
//! and a bare axum + reqwest pass-through (what any Rust gateway starts from).
//!
//! One command: `cargo bench -p converra-server --bench gateway`. It starts
//! - a fast mock OpenAI-compatible provider (axum, canned `chat.completion`; a slow event
//!   stream when asked to stream) in its own process (this binary with `--mock`, `mock.rs`);
//! - the release `converra` binary on a fresh database, configured to call the mock;
//! - nginx (Debian's `nginx-light`) proxying to the same mock (`nginx.rs`), when installed;
//! - the bare pass-through (`bare.rs`: axum, one handler, one shared `reqwest::Client`) in its
//!   own process (this binary with `--bare`), on Converra's runtime for `BENCH_WORKERS`;
//! - a load driver with fixed concurrency for a fixed duration per cell, recording latency in
//!   HDR histograms (`driver.rs`),
//!
//! and measures, in the same run: direct to the mock, through the nginx floor, through the bare
//! pass-through, through `/v1/chat/completions` and through `/api/v1/completions` (organization
//! key resolved, usage recorded, rate limit set high); every figure also as a ratio to each
//! floor's (added latency, throughput, CPU per request from `/proc`), peak RSS per level; a
//! 64 KiB agent request through every contender (`agent.rs`); MCP `tools/call` p50/p99; time to
//! first token through every contender and streams at scale (`streams.rs`); cold start to
//! `/readyz`; and last, issue 26's targets as ratios to the floors.
//!
//! Environment: `BENCH_SECONDS` (per cell, default 5), `BENCH_CONCURRENCY` (default
//! `1,16,64,256,1024`), `BENCH_WORKERS` (Converra's `--workers`, default 1 so that Converra, the
//! driver and the mock each have a core's worth of threads; `default` for one worker per core),
//! `BENCH_CONVERRA_BIN` (another `converra` build to measure instead of this one),
//! `BENCH_DATABASE_URL` (a PostgreSQL server: a second Converra runs on a fresh database there
//! and its `/v1` path is measured in the same run, beside the SQLite one), `BENCH_REDIS_URL`
//! (that second Converra keeps its rate-limit buckets in this Redis; without it, per replica);
//! streams: `BENCH_STREAMS` (concurrent slow streams, default 5,000; 0 skips the stream tests),
//! `BENCH_STREAM_SECONDS` (chunks per stream, one per `BENCH_STREAM_INTERVAL_MS`, default 30 and
//! 1,000), `BENCH_STREAM_TTFT` (streams for the time-to-first-token test, default 100);
//! `BENCH_AGENT_CONCURRENCY` (connections for the 64 KiB agent request, default 16);
//! `BENCH_BUDGET=1` gives each benchmarked organization a budget too large to refuse anything,
//! so that every completion reserves its cost against it (the budgets' cost on the hot path).

#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

mod agent;
mod bare;
mod driver;
mod mock;
mod nginx;
mod streams;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use converra::Provider;
use converra_test_kit::app::fresh_postgres_database_on;
use converra_test_kit::{Binary, Server};
use serde_json::json;

use driver::{Cell, Target, drive, status_kib};

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The `converra` binary under test: this build's, or `BENCH_CONVERRA_BIN` (another build's,
/// for a before/after comparison in one run of the same driver and mock).
fn converra() -> Binary {
    match std::env::var("BENCH_CONVERRA_BIN") {
        Ok(path) => Binary::new(Box::leak(path.into_boxed_str())),
        Err(_) => Binary::new(env!("CARGO_BIN_EXE_converra")),
    }
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
    if std::env::var("BENCH_BUDGET").is_ok_and(|v| v == "1") {
        // $1,000,000 a month: never refuses, always reserves.
        let budget = Some(json!({"scope": "organization", "limit_micro_usd": 1_000_000_000_000_u64}));
        let (status, answer) =
            converra.server.call(reqwest::Method::PUT, "/api/v1/budgets", &converra.key, budget).await;
        assert_eq!(status, 200, "budget set: {answer}");
    }
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

async fn start_converra(
    dir: &std::path::Path,
    mock: SocketAddr,
    workers: Option<&str>,
    postgres: Option<&str>,
) -> Converra {
    let store = store_env(dir, postgres);
    let openai = format!("http://{mock}/v1");
    let mut envs: Vec<(&str, &str)> = store.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.extend([("CONVERRA_OPENAI_BASE_URL", openai.as_str()), ("CONVERRA_LOG", "warn")]);
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

impl Converra {
    fn pid(&self) -> u32 {
        self.server.child.id()
    }
}

fn main() {
    // Every connection holds a descriptor (the driver's, Converra's, nginx's, the mock's, which
    // inherits this limit): raise the soft limit to the hard one before anything starts.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, upstream, workers, ..] = args.as_slice()
        && flag == "--bare"
    {
        return bare::main(upstream, workers);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // The driver and the mock run on one thread each, like `wrk -t1`: they stand in for other
    // machines, so they should take as little of the shared cores as they can.
    if std::env::args().any(|a| a == "--mock") {
        runtime.block_on(mock::serve());
    } else {
        runtime.block_on(run(limit));
    }
}

/// One concurrency level, every path measured in turn.
struct Level {
    c: usize,
    direct: Cell,
    floor: Option<Cell>,
    bare: Cell,
    compat: Cell,
    native: Cell,
    postgres: Option<Cell>,
    /// Peak RSS so far (levels rise, so this is the peak at this level), KiB: Converra, nginx.
    peak_kib: (u64, Option<u64>),
}

fn header() {
    println!(
        "| path                           |    c |     req/s | p50 ms  | p90 ms  | p99 ms  |  max ms  | CPU µs/req | errors |"
    );
    println!(
        "|--------------------------------|------|-----------|---------|---------|---------|----------|-----------|--------|"
    );
}

fn row(name: &str, c: usize, cell: &Cell, cpu: bool) {
    let cpu = if cpu { format!("{:.1}", cell.cpu_us()) } else { "—".into() };
    println!(
        "| {name:<30} | {c:>4} | {:>9.0} | {:>7.3} | {:>7.3} | {:>7.3} | {:>8.3} | {cpu:>9} | {:>6} |",
        cell.rps(),
        cell.ms(0.50),
        cell.ms(0.90),
        cell.ms(0.99),
        cell.hist.max() as f64 / 1000.0,
        cell.errors
    );
}

/// `a ÷ b`, or a dash when the floor's figure is too small to divide by.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0005 { format!("{:.2}", a / b) } else { "—".into() }
}

async fn run(open_files: u64) {
    let seconds = env_or("BENCH_SECONDS", 5.0);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64, 256, 1024]);
    let dir = tempfile::tempdir().unwrap();
    // `default` leaves Converra at one worker per core.
    let workers = std::env::var("BENCH_WORKERS").unwrap_or_else(|_| "1".into());
    let (mock, mut mock_process) = mock::start();
    let workers_flag = Some(workers.as_str()).filter(|w| *w != "default");
    let server = start_converra(dir.path(), mock, workers_flag, None).await;
    add_provider_key(&server).await;
    let postgres = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => {
            let database = fresh_postgres_database_on(&url).await;
            let pg = start_converra(dir.path(), mock, workers_flag, Some(&database)).await;
            add_provider_key(&pg).await;
            Some(pg)
        }
        Err(_) => None,
    };
    let nginx = nginx::Nginx::start(mock);
    let bare = bare::Bare::start(mock, &workers);

    println!(
        "\nConverra gateway benchmark — {seconds} s per cell, {} cores, Converra workers: {workers}; \
         load driver and mock provider: one thread each; open-file limit {open_files}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    match &nginx {
        Some(n) => println!("The floor: nginx (one process) proxy_pass to the same mock, at {}", n.addr),
        None => println!("nginx is not installed (Debian: nginx-light): the floor rows and ratios are skipped"),
    }
    println!("The bare pass-through: axum + reqwest, no logic, Converra's runtime and workers, at {}\n", bare.addr);
    let body =
        serde_json::to_vec(&json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}))
            .unwrap();
    let direct_body =
        serde_json::to_vec(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}))
            .unwrap();
    let direct = Target::new(&format!("http://{mock}/v1/chat/completions"), None, &[], &direct_body);
    let floor =
        nginx.as_ref().map(|n| Target::new(&format!("http://{}/v1/chat/completions", n.addr), None, &[], &direct_body));
    let through_bare = Target::new(&format!("http://{}/v1/chat/completions", bare.addr), None, &[], &direct_body);
    let compat = Target::new(&format!("{}/v1/chat/completions", server.server.base), Some(&server.key), &[], &body);
    let native = Target::new(&format!("{}/api/v1/completions", server.server.base), Some(&server.key), &[], &body);
    let on_pg = postgres
        .as_ref()
        .map(|pg| Target::new(&format!("{}/v1/chat/completions", pg.server.base), Some(&pg.key), &[], &body));

    header();
    let mut results = Vec::new();
    for &c in &levels {
        let d = drive(&direct, c, seconds, None).await;
        row("direct to mock", c, &d, false);
        let f = match (&floor, &nginx) {
            (Some(t), Some(n)) => Some(drive(t, c, seconds, Some(n.pid())).await),
            _ => None,
        };
        if let Some(f) = &f {
            row("nginx proxy_pass (the floor)", c, f, true);
        }
        let b = drive(&through_bare, c, seconds, Some(bare.pid())).await;
        row("axum + reqwest (bare)", c, &b, true);
        let o = drive(&compat, c, seconds, Some(server.pid())).await;
        row("converra /v1/chat/completions", c, &o, true);
        let n = drive(&native, c, seconds, Some(server.pid())).await;
        row("converra /api/v1/completions", c, &n, true);
        let p = match (&on_pg, &postgres) {
            (Some(t), Some(pg)) => Some(drive(t, c, seconds, Some(pg.pid())).await),
            _ => None,
        };
        if let Some(p) = &p {
            row("on PG (+Redis) /v1/chat/comp.", c, p, true);
        }
        let peak = (status_kib(server.pid(), "VmHWM:"), nginx.as_ref().map(|n| status_kib(n.pid(), "VmHWM:")));
        results.push(Level { c, direct: d, floor: f, bare: b, compat: o, native: n, postgres: p, peak_kib: peak });
    }
    print_added(&results);
    print_ratios(&results);
    print_bare_ratios(&results);
    print_postgres(&results);
    let agent = agent::cells(mock, nginx.as_ref(), &bare, &server, seconds).await;
    mcp(&server, seconds).await;
    let ttft = stream_tests(&direct_body, &body, mock, nginx.as_ref(), &bare, &server).await;
    print_targets(&results, &agent, ttft.as_ref());

    println!("\nConverra peak RSS: {:.1} MiB", status_kib(server.pid(), "VmHWM:") as f64 / 1024.0);
    println!(
        "Cold start to /readyz 200 (fresh database, bootstrap included): {:.0} ms",
        server.cold_start.as_secs_f64() * 1000.0
    );
    drop(nginx);
    drop(bare);
    let _ = mock_process.kill();
    let _ = mock_process.wait();
}

/// Added latency (through minus direct) of Converra's `/v1` path and of the floor.
fn print_added(results: &[Level]) {
    println!(
        "\nAdded latency (through minus direct), ms — Converra /v1/chat/completions | the floor | the bare pass-through:\n"
    );
    println!(
        "|    c | p50    | p90    | p99    | floor p50 | floor p90 | floor p99 | bare p50 | bare p90 | bare p99 |"
    );
    println!(
        "|------|--------|--------|--------|-----------|-----------|-----------|----------|----------|----------|"
    );
    for l in results {
        let added = |cell: &Cell, q: f64| cell.ms(q) - l.direct.ms(q);
        let floor = |q: f64| l.floor.as_ref().map(|f| format!("{:.3}", added(f, q))).unwrap_or_else(|| "—".into());
        println!(
            "| {:>4} | {:>6.3} | {:>6.3} | {:>6.3} | {:>9} | {:>9} | {:>9} | {:>8.3} | {:>8.3} | {:>8.3} |",
            l.c,
            added(&l.compat, 0.5),
            added(&l.compat, 0.9),
            added(&l.compat, 0.99),
            floor(0.5),
            floor(0.9),
            floor(0.99),
            added(&l.bare, 0.5),
            added(&l.bare, 0.9),
            added(&l.bare, 0.99)
        );
    }
}

/// Every figure of Converra's `/v1` path (and `/api/v1` throughput) as a ratio to the floor's.
fn print_ratios(results: &[Level]) {
    if results.iter().all(|l| l.floor.is_none()) {
        return;
    }
    println!("\nConverra ÷ the floor (same run; 1.00 = as cheap as a bare nginx hop):\n");
    println!(
        "|    c | added p50 | through p50 | through p90 | through p99 | req/s /v1 | req/s /api/v1 | CPU/req /v1 | CPU/req /api/v1 | peak RSS MiB (floor) |"
    );
    println!(
        "|------|-----------|-------------|-------------|-------------|-----------|---------------|-------------|-----------------|----------------------|"
    );
    for l in results {
        let Some(f) = &l.floor else { continue };
        let (d, o, n) = (&l.direct, &l.compat, &l.native);
        println!(
            "| {:>4} | {:>9} | {:>11} | {:>11} | {:>11} | {:>9} | {:>13} | {:>11} | {:>15} | {:>9.1} ({:>7.1}) |",
            l.c,
            ratio(o.ms(0.5) - d.ms(0.5), f.ms(0.5) - d.ms(0.5)),
            ratio(o.ms(0.5), f.ms(0.5)),
            ratio(o.ms(0.9), f.ms(0.9)),
            ratio(o.ms(0.99), f.ms(0.99)),
            ratio(o.rps(), f.rps()),
            ratio(n.rps(), f.rps()),
            ratio(o.cpu_us(), f.cpu_us()),
            ratio(n.cpu_us(), f.cpu_us()),
            l.peak_kib.0 as f64 / 1024.0,
            l.peak_kib.1.unwrap_or(0) as f64 / 1024.0
        );
    }
    // Scaling: throughput at each level against the level of 16 connections (or the first).
    let base = results.iter().find(|l| l.c == 16).or(results.first()).unwrap();
    if let Some(bf) = &base.floor {
        println!(
            "\nThroughput against {} connections (Converra /v1 | the floor; target: Converra falls no more than the floor, within 10 %):\n",
            base.c
        );
        println!("|    c | Converra | floor | Converra ÷ floor |");
        println!("|------|----------|-------|------------------|");
        for l in results {
            let Some(f) = &l.floor else { continue };
            let (co, fl) = (l.compat.rps() / base.compat.rps(), f.rps() / bf.rps());
            println!("| {:>4} | {co:>8.2} | {fl:>5.2} | {:>16.2} |", l.c, co / fl);
        }
    }
}

/// Converra's `/v1` path as a ratio to the bare pass-through's, and the bare one's CPU beside
/// nginx's: how much of Converra's cost any Rust gateway pays too.
fn print_bare_ratios(results: &[Level]) {
    println!(
        "\nConverra ÷ the bare axum + reqwest pass-through (same run; 1.00 = no more than a gateway with no logic):\n"
    );
    println!("|    c | added p50 | through p50 | through p99 | req/s /v1 | CPU/req /v1 | bare CPU/req ÷ floor's |");
    println!("|------|-----------|-------------|-------------|-----------|-------------|------------------------|");
    for l in results {
        let (d, o, b) = (&l.direct, &l.compat, &l.bare);
        let floor = l.floor.as_ref().map_or("—".into(), |f| ratio(b.cpu_us(), f.cpu_us()));
        println!(
            "| {:>4} | {:>9} | {:>11} | {:>11} | {:>9} | {:>11} | {floor:>22} |",
            l.c,
            ratio(o.ms(0.5) - d.ms(0.5), b.ms(0.5) - d.ms(0.5)),
            ratio(o.ms(0.5), b.ms(0.5)),
            ratio(o.ms(0.99), b.ms(0.99)),
            ratio(o.rps(), b.rps()),
            ratio(o.cpu_us(), b.cpu_us()),
        );
    }
}

/// Issue 26's targets, each as Converra's figure over the floor's (nginx) and over the bare
/// pass-through's, measured above in this run; a dash where its cell was not measured.
fn print_targets(results: &[Level], agent: &agent::AgentCpu, ttft: Option<&streams::Ttft>) {
    let at = |c: usize| results.iter().find(|l| l.c == c);
    let dash = || "—".to_owned();
    let added = |l: &Level, cell: &Cell| cell.ms(0.5) - l.direct.ms(0.5);
    let cpu16 = at(16).map(|l| {
        let floor = l.floor.as_ref().map_or_else(dash, |f| ratio(l.compat.cpu_us(), f.cpu_us()));
        (ratio(l.compat.cpu_us(), l.bare.cpu_us()), floor)
    });
    let p50 = at(1).map(|l| {
        let floor = l.floor.as_ref().map_or_else(dash, |f| ratio(added(l, &l.compat), added(l, f)));
        (ratio(added(l, &l.compat), added(l, &l.bare)), floor)
    });
    let agent_cpu = (ratio(agent.converra, agent.bare), agent.floor.map_or_else(dash, |f| ratio(agent.converra, f)));
    let ttft = ttft.map(|t| (ratio(t.converra, t.bare), t.floor.map_or_else(dash, |f| ratio(t.converra, f))));
    println!("\nIssue 26's targets, Converra's figure ÷ each floor's (this run):\n");
    println!("| measure                                      | ÷ bare axum + reqwest | ÷ nginx | target           |");
    println!("|----------------------------------------------|-----------------------|---------|------------------|");
    let line = |name: &str, r: Option<(String, String)>, target: &str| {
        let (bare, floor) = r.unwrap_or_else(|| (dash(), dash()));
        println!("| {name:<44} | {bare:>21} | {floor:>7} | {target:<16} |");
    };
    line("CPU per completion, 16 connections", cpu16, "≤ 1.3 × bare");
    line("added p50, 1 connection", p50, "≤ 2.5 × nginx");
    line("CPU per 64 KiB agent request", Some(agent_cpu), "≤ 1.5 × nginx");
    line("added TTFT p50, concurrent streams", ttft, "≤ 1.5 × nginx");
}

fn print_postgres(results: &[Level]) {
    if results.iter().all(|l| l.postgres.is_none()) {
        return;
    }
    println!(
        "\nOn PostgreSQL (with Redis when BENCH_REDIS_URL is set; same run, same mock), /v1/chat/completions, added over direct, ms:\n"
    );
    println!("|    c |   p50  |   p99  | req/s PostgreSQL | req/s SQLite |");
    println!("|------|--------|--------|------------------|--------------|");
    for l in results {
        let Some(p) = &l.postgres else { continue };
        println!(
            "| {:>4} | {:>6.3} | {:>6.3} | {:>16.0} | {:>12.0} |",
            l.c,
            p.ms(0.5) - l.direct.ms(0.5),
            p.ms(0.99) - l.direct.ms(0.99),
            p.rps(),
            l.compat.rps()
        );
    }
}

async fn mcp(server: &Converra, seconds: f64) {
    let url = format!("{}/api/mcp", server.server.base);
    let accept = [("accept", "application/json, text/event-stream")];
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_provider_keys", "arguments": {}}});
    let run = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_completion",
        "arguments": {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}}});
    println!("\nMCP tools/call over loopback (1 connection):\n");
    println!("| tool                 | calls/s | p50 ms  | p99 ms  | CPU µs/call | errors |");
    println!("|----------------------|---------|---------|---------|-------------|--------|");
    for (name, call) in [("list_provider_keys", &list), ("run_completion", &run)] {
        let target = Target::new(&url, Some(&server.key), &accept, &serde_json::to_vec(call).unwrap());
        let m = drive(&target, 1, seconds.min(3.0), Some(server.pid())).await;
        println!(
            "| {name:<20} | {:>7.0} | {:>7.3} | {:>7.3} | {:>11.1} | {:>6} |",
            m.rps(),
            m.ms(0.5),
            m.ms(0.99),
            m.cpu_us(),
            m.errors
        );
    }
}

async fn stream_tests(
    direct_body: &[u8],
    body: &[u8],
    mock: SocketAddr,
    nginx: Option<&nginx::Nginx>,
    bare: &bare::Bare,
    server: &Converra,
) -> Option<streams::Ttft> {
    let n = env_or("BENCH_STREAMS", 5000.0) as usize;
    if n == 0 {
        return None;
    }
    let streaming = |b: &[u8]| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["stream"] = json!(true);
        serde_json::to_vec(&v).unwrap()
    };
    let (direct_body, body) = (streaming(direct_body), streaming(body));
    let direct = Target::new(&format!("http://{mock}/v1/chat/completions"), None, &[], &direct_body);
    let floor = nginx.map(|n| {
        (Target::new(&format!("http://{}/stream/v1/chat/completions", n.addr), None, &[], &direct_body), n.pid())
    });
    let through_bare = Target::new(&format!("http://{}/v1/chat/completions", bare.addr), None, &[], &direct_body);
    let through = Target::new(&format!("{}/v1/chat/completions", server.server.base), Some(&server.key), &[], &body);
    let ttft = env_or("BENCH_STREAM_TTFT", 100.0) as usize;
    let floor = floor.as_ref().map(|(t, p)| (t, *p));
    let added = streams::first_token(&direct, floor, (&through_bare, bare.pid()), &through, server.pid(), ttft).await;
    let (chunks, interval) = mock::stream_shape();
    streams::scale(&direct, &through, server.pid(), n, interval * chunks as u32).await;
    Some(added)
}
