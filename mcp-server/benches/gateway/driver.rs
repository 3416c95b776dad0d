//! The load driver: `concurrency` keep-alive HTTP/1.1 connections over plain TCP, each sending
//! one prepared request back to back for a fixed time (like `wrk -t1`), latencies in an HDR
//! histogram; and what a process under test spent meanwhile (CPU from `/proc`, RSS).
//!
//! The requests are prepared bytes and the answers are only framed (status, `content-length`
//! or chunks), so the driver's own work per request is small: at 1,024 connections it must
//! not be what is measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where to send and what: `http://host:port/path`, the headers and the body.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub request: Arc<Vec<u8>>,
}

impl Target {
    pub fn new(url: &str, key: Option<&str>, extra: &[(&str, &str)], body: &[u8]) -> Self {
        let rest = url.strip_prefix("http://").expect("an http:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut head = format!("POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n");
        if let Some(k) = key {
            head.push_str(&format!("authorization: Bearer {k}\r\n"));
        }
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        Self { addr: host.parse().expect("host is an IP address and port"), request: Arc::new(request) }
    }
}

pub struct Cell {
    pub hist: Histogram<u64>,
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// CPU the process under test spent during the cell, in nanoseconds.
    pub cpu_ns: u64,
}

impl Cell {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
    /// CPU per request of the process under test, in microseconds.
    pub fn cpu_us(&self) -> f64 {
        self.cpu_ns as f64 / 1000.0 / self.requests.max(1) as f64
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()
}

/// `concurrency` connections, each sending requests back to back for `seconds`; `pid` is the
/// process whose CPU is counted.
pub async fn drive(target: &Target, concurrency: usize, seconds: f64, pid: Option<u32>) -> Cell {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let cpu_before = pid.map(cpu_ns).unwrap_or(0);
    let started = Instant::now();
    for _ in 0..concurrency {
        let (target, stop) = (target.clone(), stop.clone());
        tasks.push(tokio::spawn(async move { connection(target, stop).await }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let cpu = pid.map(cpu_ns).unwrap_or(0).saturating_sub(cpu_before);
    let mut cell = Cell { hist: histogram(), requests: 0, errors: 0, elapsed: started.elapsed(), cpu_ns: cpu };
    for t in tasks {
        let (h, n, e) = t.await.unwrap();
        cell.hist.add(h).unwrap();
        cell.requests += n;
        cell.errors += e;
    }
    cell
}

/// One keep-alive connection's loop; a failed connection is counted and opened again.
async fn connection(target: Target, stop: Arc<AtomicBool>) -> (Histogram<u64>, u64, u64) {
    let mut hist = histogram();
    let (mut n, mut errors) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(8192);
    let mut stream: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let s = match &mut stream {
            Some(s) => s,
            None => match TcpStream::connect(target.addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream.insert(s)
                }
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let ok = match s.write_all(&target.request).await {
            Ok(()) => read_response(s, &mut buf).await.map(|status| (200..300).contains(&status)).unwrap_or(false),
            Err(_) => false,
        };
        if ok {
            hist.record(t.elapsed().as_micros().max(1) as u64).unwrap();
            n += 1;
        } else {
            errors += 1;
            stream = None;
        }
    }
    (hist, n, errors)
}

/// Reads one answer (framed by `content-length` or chunked) and returns its status.
pub async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head"))?.to_ascii_lowercase();
    let status: u16 = head.get(9..12).and_then(|c| c.parse().ok()).ok_or_else(|| bad("status"))?;
    let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).map(|v| v.trim().parse::<usize>());
    match length {
        Some(len) => {
            let len = len.map_err(|_| bad("content-length"))?;
            while buf.len() < head_end + len {
                fill(s, buf).await?;
            }
        }
        None if head.contains("transfer-encoding: chunked") => read_chunks(s, buf, head_end).await?,
        None => return Err(bad("no framing")),
    }
    Ok(status)
}

async fn read_chunks(s: &mut TcpStream, buf: &mut Vec<u8>, mut at: usize) -> std::io::Result<()> {
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[at..], b"\r\n") {
                break at + i;
            }
            fill(s, buf).await?;
        };
        let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| bad("chunk"))?;
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| bad("chunk"))?;
        let next = line_end + 2 + size + 2;
        while buf.len() < next {
            fill(s, buf).await?;
        }
        if size == 0 {
            return Ok(());
        }
        at = next;
    }
}

pub async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.reserve(4096);
    if s.read_buf(buf).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad answer: {what}"))
}

/// CPU time spent by every thread of `pid` so far, in nanoseconds (`/proc/PID/task/*/schedstat`).
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

/// A `/proc/PID/status` figure in KiB: `VmRSS` (now) or `VmHWM` (peak).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
