//! The mock OpenAI-compatible provider, in its own process (this binary with `--mock`): a
//! canned `chat.completion` at once, or, when the request asks for a stream, OpenAI's recorded
//! event stream with one content chunk every `BENCH_STREAM_INTERVAL_MS` (default 1,000) for
//! `BENCH_STREAM_SECONDS` chunks (default 30) — a slow model, as seen from the gateway.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::routing::post;
use converra::Provider;
use converra_test_kit::providers::{openai_chat_body, stream_events};

use crate::env_or;

/// Runs the mock in this process, printing its address, until its stdin closes: when the
/// benchmark ends, however it ends, the mock goes with it.
pub async fn serve() {
    let addr = start_here().await;
    println!("{addr}");
    let _ = tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await;
}

/// Starts the mock provider in its own process, like a real provider, so the direct baseline
/// crosses the same process boundaries as the path through Converra.
pub fn start() -> (SocketAddr, Child) {
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

/// The content chunks of one stream and the pause before each.
pub fn stream_shape() -> (usize, Duration) {
    let chunks = env_or("BENCH_STREAM_SECONDS", 30.0) as usize;
    (chunks.max(1), Duration::from_millis(env_or("BENCH_STREAM_INTERVAL_MS", 1000.0) as u64))
}

async fn start_here() -> SocketAddr {
    // OpenAI's recorded answers, serialized once: the mock does no work per request.
    let canned = Bytes::from(openai_chat_body("gpt-4o-mini", "Hello! How can I help you today?").to_string());
    let (chunks, interval) = stream_shape();
    let parts: Vec<String> = (0..chunks).map(|i| format!("word{i} ")).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let events: Arc<[Bytes]> =
        stream_events(Provider::Openai, "gpt-4o-mini", &parts).into_iter().map(Bytes::from).collect();
    let completion = move |body: Bytes| {
        let (canned, events) = (canned.clone(), events.clone());
        async move {
            if !asks_to_stream(&body) {
                return Response::builder().header(CONTENT_TYPE, "application/json").body(Body::from(canned)).unwrap();
            }
            Response::builder().header(CONTENT_TYPE, "text/event-stream").body(slow_stream(events, interval)).unwrap()
        }
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(completion))
        .route("/v1/models", axum::routing::get(|| async { r#"{"object":"list","data":[]}"# }));
    // A deep accept queue, like nginx's and Converra's: 1,024 connections opened at once must
    // not be dropped and retried a second later (`bind` alone asks for 128).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(4096).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Whether a request body asks for a stream. `str::contains` (a vectorized search), since the
/// 64 KiB agent request would take a byte-by-byte window search a good part of a millisecond.
fn asks_to_stream(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|text| text.contains("\"stream\":true"))
}

/// The role chunk at once, then each content chunk after `interval`, then finish, usage and
/// `[DONE]` together with the last one.
fn slow_stream(events: Arc<[Bytes]>, interval: Duration) -> Body {
    let content = events.len().saturating_sub(4); // role, finish, usage, [DONE] around them
    let stream = futures_util::stream::unfold(0usize, move |i| {
        let events = events.clone();
        async move {
            if i >= events.len() {
                return None;
            }
            if (1..=content).contains(&i) {
                tokio::time::sleep(interval).await;
            }
            let next = if i == content { events.len() } else { i + 1 };
            let bytes: Bytes = if i == content { events[i..].concat().into() } else { events[i].clone() };
            Some((Ok::<_, std::convert::Infallible>(bytes), next))
        }
    });
    Body::from_stream(stream)
}
