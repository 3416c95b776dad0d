//! The server loop against raw sockets, on the real binary with short timeouts set through the
//! environment (`CONVERRA_HEADER_READ_TIMEOUT_SECS`, `CONVERRA_IDLE_TIMEOUT_SECS`,
//! `CONVERRA_MAX_CONNECTIONS`): half-sent heads are closed after the header-read timeout, on the
//! metrics listener too, even while they drip; an idle keep-alive connection is closed after the
//! idle timeout while a busy one is not; a streamed answer silent for longer than the idle
//! timeout is not cut; beyond the connection cap new connections wait in the accept queue until
//! one closes. Every wait is bounded.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use converra::Provider;
use converra_test_kit::providers::stream_events;
use converra_test_kit::{Server, free_port};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::CONVERRA;

/// The longest any socket here waits for the server: a timeout that never fires fails the test
/// after this rather than hanging it.
const BOUND: Duration = Duration::from_secs(10);

const READYZ: &[u8] = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

async fn start(envs: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(CONVERRA, &dir.path().join("converra.db"), envs).await;
    (server, dir)
}

fn addr_of(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Sends half a request head, then one more byte of it every 200 ms; how long until the server
/// closed the socket (`None`: still open after [`BOUND`]).
async fn drip_half_a_head(addr: String) -> Option<Duration> {
    let started = Instant::now();
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    let mut buf = [0u8; 256];
    while started.elapsed() < BOUND {
        tokio::select! {
            read = socket.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if socket.write_all(b"a").await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

/// Reads one HTTP/1.1 answer with a `content-length` (bounded): its head and body.
async fn read_answer(socket: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + BOUND;
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0usize);
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout_at(deadline.into(), socket.read(&mut buf))
            .await
            .expect("an answer within the bound")
            .unwrap();
        assert!(n > 0, "closed before the answer ended: {text}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Which of `sockets` get a whole answer within `within` (each waited for in turn).
async fn answered_within(sockets: &mut [TcpStream], within: Duration) -> Vec<usize> {
    let mut answered = Vec::new();
    for (i, socket) in sockets.iter_mut().enumerate() {
        if let Ok(answer) = tokio::time::timeout(within, read_answer(socket)).await {
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            answered.push(i);
        }
    }
    answered
}

/// Whether the server closes `socket` within `within` (nothing else may arrive on it).
async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, socket.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(n)) => panic!("unexpected bytes: {}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => false,
    }
}

#[tokio::test]
async fn half_sent_heads_are_closed_after_the_header_read_timeout_even_while_they_drip() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let envs = [
        ("CONVERRA_HEADER_READ_TIMEOUT_SECS", "1"),
        ("CONVERRA_IDLE_TIMEOUT_SECS", "30"),
        ("CONVERRA_METRICS_ADDR", metrics.as_str()),
    ];
    let (server, _dir) = start(&envs).await;
    let mut sockets: Vec<_> = (0..20).map(|_| tokio::spawn(drip_half_a_head(addr_of(&server)))).collect();
    sockets.extend((0..4).map(|_| tokio::spawn(drip_half_a_head(metrics.clone()))));
    for (i, socket) in sockets.into_iter().enumerate() {
        let closed = socket.await.unwrap().unwrap_or_else(|| panic!("socket {i} still open after {BOUND:?}"));
        // Closed once the second was up (ticks of a quarter second), not before.
        assert!(closed >= Duration::from_millis(950) && closed < Duration::from_secs(3), "socket {i}: {closed:?}");
    }
    // A whole head is still served, on both listeners.
    let mut socket = TcpStream::connect(addr_of(&server)).await.unwrap();
    socket.write_all(READYZ).await.unwrap();
    assert!(read_answer(&mut socket).await.starts_with("HTTP/1.1 200"));
    let mut socket = TcpStream::connect(&metrics).await.unwrap();
    socket.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    assert!(read_answer(&mut socket).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_a_busy_one_is_not() {
    let envs = [("CONVERRA_HEADER_READ_TIMEOUT_SECS", "30"), ("CONVERRA_IDLE_TIMEOUT_SECS", "1")];
    let (server, _dir) = start(&envs).await;
    let mut idle = TcpStream::connect(addr_of(&server)).await.unwrap();
    idle.write_all(READYZ).await.unwrap();
    assert!(read_answer(&mut idle).await.starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    let idle = tokio::spawn(async move { closed_within(&mut idle, BOUND).await.then(|| answered.elapsed()) });
    // Meanwhile a connection asking every 400 ms for 2.5 s is never quiet for a second.
    let mut busy = TcpStream::connect(addr_of(&server)).await.unwrap();
    while answered.elapsed() < Duration::from_millis(2500) {
        busy.write_all(READYZ).await.unwrap();
        assert!(read_answer(&mut busy).await.starts_with("HTTP/1.1 200"), "the busy connection was served");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let closed = idle.await.unwrap().unwrap_or_else(|| panic!("the idle connection is still open after {BOUND:?}"));
    assert!(closed >= Duration::from_millis(950) && closed < Duration::from_secs(2), "idle closed after {closed:?}");
    busy.write_all(READYZ).await.unwrap();
    assert!(read_answer(&mut busy).await.starts_with("HTTP/1.1 200"), "the busy connection is still served");
}

/// A provider stand-in that sends the first two events of a streamed completion at once, then
/// nothing for `silence`, then the rest.
async fn slow_provider(silence: Duration) -> String {
    let events = stream_events(Provider::Openai, "gpt-4o-mini", &["Hello", " after the silence"]);
    let answer = move || {
        let events = events.clone();
        async move {
            let sent = futures_util::stream::iter(events.into_iter().enumerate()).then(move |(i, event)| async move {
                if i == 2 {
                    tokio::time::sleep(silence).await;
                }
                Ok::<_, Infallible>(Bytes::from(event))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(sent))
                .unwrap()
        }
    };
    let app = axum::Router::new().fallback(answer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn a_streamed_answer_silent_for_longer_than_the_idle_timeout_is_not_cut() {
    let silence = Duration::from_secs(3);
    let provider = slow_provider(silence).await;
    let envs = [
        ("CONVERRA_HEADER_READ_TIMEOUT_SECS", "1"),
        ("CONVERRA_IDLE_TIMEOUT_SECS", "1"),
        ("CONVERRA_OPENAI_BASE_URL", provider.as_str()),
    ];
    let (server, _dir) = start(&envs).await;
    let key = server.bootstrap_key().await;
    let added = json!({"provider": "openai", "name": "slow", "api_key": "sk-proj-SLOWkey0123456789abcdefwxyz"});
    assert_eq!(server.post("/api/v1/provider-keys", &key, added).await.0, 201);
    let body = json!({"model": "openai/gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let body = body.to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let started = Instant::now();
    let mut socket = TcpStream::connect(addr_of(&server)).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("[DONE]") {
        let read =
            tokio::time::timeout(BOUND, socket.read(&mut buf)).await.expect("the stream moves on within the bound");
        match read {
            Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => panic!("the stream was cut after {:?}: {seen}", started.elapsed()),
        }
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("Hello") && seen.contains("after the silence"), "{seen}");
    assert!(started.elapsed() >= silence, "the silence was kept: {:?}", started.elapsed());
}

#[tokio::test]
async fn beyond_the_connection_cap_new_connections_wait_until_one_closes() {
    let envs = [("CONVERRA_MAX_CONNECTIONS", "4"), ("CONVERRA_IDLE_TIMEOUT_SECS", "60")];
    let (mut server, _dir) = start(&envs).await;
    // The readiness check's pooled connection goes; the four below take every place once it has.
    server.http = reqwest::Client::new();
    let mut served = Vec::new();
    for _ in 0..4 {
        let mut socket = TcpStream::connect(addr_of(&server)).await.unwrap();
        socket.write_all(READYZ).await.unwrap();
        assert!(read_answer(&mut socket).await.starts_with("HTTP/1.1 200"));
        served.push(socket);
    }
    // Two more: the kernel completes their handshakes, but the server does not take them.
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let mut socket = TcpStream::connect(addr_of(&server)).await.unwrap();
        socket.write_all(READYZ).await.unwrap();
        waiting.push(socket);
    }
    let mut buf = [0u8; 64];
    for socket in &mut waiting {
        let early = tokio::time::timeout(Duration::from_millis(700), socket.read(&mut buf)).await;
        assert!(early.is_err(), "a connection beyond the cap was served: {early:?}");
    }
    // One closes: one waiting connection is served, the other still waits; another closes:
    // the other is served.
    drop(served.pop());
    let answered = answered_within(&mut waiting, Duration::from_millis(1500)).await;
    assert_eq!(answered.len(), 1, "one place freed, one served: {answered:?}");
    drop(served.pop());
    let rest = answered_within(&mut waiting, Duration::from_millis(1500)).await;
    assert_eq!(rest.len(), 1, "the second place went to the other: {rest:?}");
    assert_ne!(answered, rest);
    drop(served);
    drop(waiting);
    for _ in 0..6 {
        let mut socket = TcpStream::connect(addr_of(&server)).await.unwrap();
        socket.write_all(READYZ).await.unwrap();
        assert!(read_answer(&mut socket).await.starts_with("HTTP/1.1 200"), "served once places are free");
    }
}
