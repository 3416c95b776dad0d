//! Streams at scale: many slow streams held open at once (the mock sends one chunk every
//! `BENCH_STREAM_INTERVAL_MS` for `BENCH_STREAM_SECONDS` chunks), direct and through Converra's
//! `/v1/chat/completions`: all complete, RSS per open stream, how much later than direct the
//! slowest ends; and at `BENCH_STREAM_TTFT` streams, the added time to first token and the CPU
//! per relayed chunk beside nginx with `proxy_buffering off` and the bare axum + reqwest
//! pass-through.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::driver::{Target, cpu_ns, fill, find, histogram, status_kib};

/// What one stream saw.
struct Seen {
    first_token: Duration,
    total: Duration,
    chunks: u64,
}

/// Opens one stream, reads it to `[DONE]` (or its end) and says when the first and last came.
async fn one(target: &Target) -> Option<Seen> {
    let started = Instant::now();
    let mut s = TcpStream::connect(target.addr).await.ok()?;
    let _ = s.set_nodelay(true);
    s.write_all(&target.request).await.ok()?;
    let mut buf = Vec::with_capacity(4096);
    let mut first_token = None;
    let mut chunks = 0u64;
    let mut scanned = 0;
    let mut checked = false;
    loop {
        if fill(&mut s, &mut buf).await.is_err() {
            break;
        }
        if !checked && buf.len() >= 12 {
            if !buf.starts_with(b"HTTP/1.1 200") {
                return None;
            }
            checked = true;
        }
        while let Some(i) = find(&buf[scanned..], b"data: ") {
            chunks += 1;
            first_token.get_or_insert_with(|| started.elapsed());
            scanned += i + 6;
        }
        if find(&buf[scanned.saturating_sub(6)..], b"[DONE]").is_some() {
            break;
        }
        // Keep the buffer small: what was scanned is done with.
        if scanned > 65536 {
            buf.drain(..scanned);
            scanned = 0;
        }
    }
    Some(Seen { first_token: first_token?, total: started.elapsed(), chunks })
}

pub struct Run {
    pub completed: usize,
    pub failed: usize,
    pub first_token: Histogram<u64>,
    pub total: Histogram<u64>,
    pub chunks: u64,
    pub cpu_ns: u64,
    /// RSS of the process under test once every stream is open, minus before, KiB.
    pub rss_added_kib: u64,
}

/// `n` streams, opened `ramp` apart in batches of 100 (so that the accept queues are not what
/// is measured), all held open together.
pub async fn run(target: &Target, n: usize, pid: Option<u32>, hold: Duration) -> Run {
    let rss_before = pid.map(|p| status_kib(p, "VmRSS:")).unwrap_or(0);
    let cpu_before = pid.map(cpu_ns).unwrap_or(0);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 && i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let target = target.clone();
        tasks.push(tokio::spawn(async move { one(&target).await }));
    }
    // Every stream is open (the ramp is over, the first chunks came): measure the memory held.
    tokio::time::sleep(hold).await;
    let rss_open = pid.map(|p| status_kib(p, "VmRSS:")).unwrap_or(0);
    let mut run = Run {
        completed: 0,
        failed: 0,
        first_token: histogram(),
        total: histogram(),
        chunks: 0,
        cpu_ns: 0,
        rss_added_kib: rss_open.saturating_sub(rss_before),
    };
    for t in tasks {
        match t.await.unwrap() {
            Some(seen) => {
                run.completed += 1;
                run.chunks += seen.chunks;
                run.first_token.record(seen.first_token.as_micros().max(1) as u64).unwrap();
                run.total.record(seen.total.as_micros().max(1) as u64).unwrap();
            }
            None => run.failed += 1,
        }
    }
    run.cpu_ns = pid.map(cpu_ns).unwrap_or(0).saturating_sub(cpu_before);
    run
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// The scale test: `n` slow streams direct, then through Converra.
pub async fn scale(direct: &Target, through: &Target, converra_pid: u32, n: usize, stream_time: Duration) {
    let hold = (stream_time / 2).max(Duration::from_millis(n as u64 / 100 * 20 + 500));
    let d = run(direct, n, None, hold).await;
    let c = run(through, n, Some(converra_pid), hold).await;
    println!("\nStreams at scale: {n} concurrent slow streams ({stream_time:?} each), /v1/chat/completions:\n");
    println!("| path      | completed | failed | end p50 s | end p99 s | end max s | RSS per open stream |");
    println!("|-----------|-----------|--------|-----------|-----------|-----------|---------------------|");
    for (name, r) in [("direct", &d), ("converra", &c)] {
        let per_stream =
            if name == "direct" { "—".to_owned() } else { format!("{:.1} KiB", r.rss_added_kib as f64 / n as f64) };
        println!(
            "| {name:<9} | {:>9} | {:>6} | {:>9.3} | {:>9.3} | {:>9.3} | {per_stream:>19} |",
            r.completed,
            r.failed,
            ms(&r.total, 0.5) / 1000.0,
            ms(&r.total, 0.99) / 1000.0,
            r.total.max() as f64 / 1e6
        );
    }
    println!(
        "\nSlowest stream through Converra ÷ slowest direct: {:.3} (target ≤ 1.10); Converra peak RSS now {:.1} MiB",
        c.total.max() as f64 / d.total.max().max(1) as f64,
        status_kib(converra_pid, "VmHWM:") as f64 / 1024.0
    );
}

/// The added time to first token at p50 (over direct), ms: Converra's, nginx's, the bare
/// pass-through's.
pub struct Ttft {
    pub converra: f64,
    pub floor: Option<f64>,
    pub bare: f64,
}

/// Time to first token and CPU per relayed chunk at `n` streams: direct, nginx
/// (`proxy_buffering off`), the bare pass-through and Converra, each in turn.
pub async fn first_token(
    direct: &Target,
    nginx: Option<(&Target, u32)>,
    bare: (&Target, u32),
    through: &Target,
    converra_pid: u32,
    n: usize,
) -> Ttft {
    let hold = Duration::from_millis(500);
    // The direct baseline is measured on a warm mock: its first burst of `n` connections (the
    // mock's accept queue and threads coming up) is slower than what any proxy then sees, which
    // made every added figure negative.
    let _warm_up = run(direct, n, None, hold).await;
    let d = run(direct, n, None, hold).await;
    let g = match nginx {
        Some((t, pid)) => Some(run(t, n, Some(pid), hold).await),
        None => None,
    };
    let b = run(bare.0, n, Some(bare.1), hold).await;
    let c = run(through, n, Some(converra_pid), hold).await;
    println!("\nStreams: time to first token and CPU per relayed chunk, {n} concurrent streams:\n");
    println!(
        "| path           | TTFT p50 ms | TTFT p99 ms | added p50 ms | added p99 ms | CPU per chunk µs | failed |"
    );
    println!(
        "|----------------|-------------|-------------|--------------|--------------|------------------|--------|"
    );
    let line = |name: &str, r: &Run, cpu: bool| {
        let per_chunk =
            if cpu { format!("{:.1}", r.cpu_ns as f64 / 1000.0 / r.chunks.max(1) as f64) } else { "—".into() };
        println!(
            "| {name:<14} | {:>11.3} | {:>11.3} | {:>12.3} | {:>12.3} | {per_chunk:>16} | {:>6} |",
            ms(&r.first_token, 0.5),
            ms(&r.first_token, 0.99),
            ms(&r.first_token, 0.5) - ms(&d.first_token, 0.5),
            ms(&r.first_token, 0.99) - ms(&d.first_token, 0.99),
            r.failed
        );
    };
    line("direct", &d, false);
    match &g {
        Some(g) => line("nginx floor", g, true),
        None => println!("| nginx floor    | (nginx not installed: row skipped) |"),
    }
    line("bare axum", &b, true);
    line("converra", &c, true);
    let added = |r: &Run, q: f64| ms(&r.first_token, q) - ms(&d.first_token, q);
    let per = |r: &Run| r.cpu_ns as f64 / r.chunks.max(1) as f64;
    println!();
    for (name, floor) in [("nginx", g.as_ref()), ("bare", Some(&b))] {
        let Some(f) = floor else { continue };
        println!(
            "Converra ÷ {name}: added TTFT p50 {}, p99 {}; CPU per chunk {}",
            crate::ratio(added(&c, 0.5), added(f, 0.5)),
            crate::ratio(added(&c, 0.99), added(f, 0.99)),
            crate::ratio(per(&c), per(f))
        );
    }
    Ttft { converra: added(&c, 0.5), floor: g.as_ref().map(|g| added(g, 0.5)), bare: added(&b, 0.5) }
}
