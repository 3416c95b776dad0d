//! The third contender: a bare axum + reqwest pass-through with no logic — what any Rust
//! gateway starts from (issue 26). One route, `POST /v1/chat/completions`, whose handler reads
//! the body, posts it with one shared `reqwest::Client` to the mock and answers with the
//! mock's status, `content-type` and body: whole, or relayed chunk by chunk as it comes when
//! the answer is an event stream. No authentication, no key, no usage, no parsing.
//!
//! It runs in its own process (this binary with `--bare <mock address> <workers>`), so its CPU
//! is read from `/proc` like nginx's and Converra's, on the same runtime Converra builds for
//! `BENCH_WORKERS` (one worker: tokio's single-threaded scheduler; more: the multi-threaded
//! one), and its client is configured like Converra's (redirects off, `TCP_NODELAY`, the same
//! idle pool timeout).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// The bare pass-through's process; killed when dropped.
pub struct Bare {
    pub addr: SocketAddr,
    child: Child,
}

impl Bare {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts it in front of `upstream` in its own process, with `workers` (`BENCH_WORKERS`: a
    /// number, or `default` for one per core).
    pub fn start(upstream: SocketAddr, workers: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--bare", &upstream.to_string(), workers])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the bare pass-through starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Self { addr: line.trim().parse().expect("the bare pass-through's address"), child }
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--bare <upstream> <workers>`: serves until stdin closes (the benchmark ended, however).
pub fn main(upstream: &str, workers: &str) {
    let upstream: SocketAddr = upstream.parse().expect("the mock's address");
    // The runtime Converra builds for the same `--workers` (`cli::runtime_builder`).
    let mut builder = match workers {
        "1" => tokio::runtime::Builder::new_current_thread(),
        "default" => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.parse().expect("BENCH_WORKERS is a number or `default`"));
            b
        }
    };
    let runtime = builder.enable_all().build().unwrap();
    runtime.block_on(async move {
        let addr = serve(upstream).await;
        println!("{addr}");
        let _ = tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await;
    });
}

/// The one shared client and the one upstream URL, parsed once.
#[derive(Clone)]
struct Upstream {
    client: reqwest::Client,
    url: reqwest::Url,
}

async fn serve(upstream: SocketAddr) -> SocketAddr {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let url = reqwest::Url::parse(&format!("http://{upstream}/v1/chat/completions")).unwrap();
    let app = Router::new().route("/v1/chat/completions", post(pass)).with_state(Upstream { client, url });
    // The same deep accept queue as the mock's, nginx's and Converra's.
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

/// The body to the mock as it came; the answer back as it came.
async fn pass(State(up): State<Upstream>, headers: HeaderMap, body: Bytes) -> Response {
    let mut request = up.client.post(up.url.clone()).body(body);
    if let Some(kind) = headers.get(CONTENT_TYPE) {
        request = request.header(CONTENT_TYPE, kind.clone());
    }
    let Ok(answer) = request.send().await else { return StatusCode::BAD_GATEWAY.into_response() };
    let status = answer.status();
    let kind = answer.headers().get(CONTENT_TYPE).cloned();
    let streamed = kind.as_ref().is_some_and(|k| k.as_bytes().starts_with(b"text/event-stream"));
    let body = if streamed {
        Body::from_stream(answer.bytes_stream())
    } else {
        match answer.bytes().await {
            Ok(bytes) => Body::from(bytes),
            Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(kind) = kind {
        response.headers_mut().insert(CONTENT_TYPE, kind);
    }
    response
}
