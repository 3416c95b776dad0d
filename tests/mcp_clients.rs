//! Real MCP clients we did not write, against `/api/mcp` of the real server:
//! - Claude Code: `claude mcp add --transport http … --header "Authorization: Bearer …"`, then
//!   `claude mcp list` must report the server connected (and a wrong key must not connect);
//! - the MCP conformance suite (`@modelcontextprotocol/conformance`) for the scenarios that test
//!   a real server's protocol behaviour. The suite cannot send an `Authorization` header, so it
//!   talks to a small reverse proxy that adds one and passes `Host` and `Origin` through
//!   unchanged (so the DNS-rebinding scenario tests Converra, not the proxy).
//!
//! The clients come from `.ci/run` (npm, cached; the folder passed as `CONVERRA_NPM_BIN`).
//! Without them the tests say they are skipped — unless `CONVERRA_REQUIRE_CLIENTS=1` (CI).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use converra_tests::{TestApp, spawn_app};

/// The npm `.bin` folder holding `claude`, `conformance` and Node 22, or why there is none.
fn npm_bin(tool: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var("CONVERRA_NPM_BIN").unwrap_or_default());
    let found = dir.join(tool).is_file().then_some(dir);
    if found.is_none() {
        let why = format!("{tool} is not installed (set up by .ci/run in CONVERRA_NPM_BIN)");
        assert!(std::env::var("CONVERRA_REQUIRE_CLIENTS").map_or(true, |v| v != "1"), "{why}");
        eprintln!("skipped: {why}");
    }
    found
}

/// Runs a client command off the async runtime (the server under test keeps serving), bounded.
async fn run(mut command: Command, limit: Duration) -> Output {
    command.stdin(std::process::Stdio::null());
    let task = tokio::task::spawn_blocking(move || command.output().expect("client runs"));
    tokio::time::timeout(limit, task).await.expect("the client finished in time").unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn claude_code_connects_with_the_bearer_header_and_a_wrong_key_does_not() {
    let Some(bin) = npm_bin("claude") else { return };
    let app = spawn_app().await;
    let home = tempfile::tempdir().unwrap();
    let claude = |args: &[&str]| {
        let mut c = Command::new(bin.join("claude"));
        c.args(args)
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
        c
    };
    let url = app.url("/api/mcp");
    let good = format!("Authorization: Bearer {}", app.api_key);
    let add = run(
        claude(&["mcp", "add", "--transport", "http", "converra", &url, "--header", &good]),
        Duration::from_secs(60),
    )
    .await;
    assert!(add.status.success(), "{}", text(&add));
    let bad = "Authorization: Bearer sk_test_not_a_key";
    let add =
        run(claude(&["mcp", "add", "--transport", "http", "wrongkey", &url, "--header", bad]), Duration::from_secs(60))
            .await;
    assert!(add.status.success(), "{}", text(&add));

    // `claude mcp list` exits 0 whatever happens: read its lines.
    let list = text(&run(claude(&["mcp", "list"]), Duration::from_secs(90)).await);
    let line = |name: &str| list.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap_or_default().to_owned();
    assert!(line("converra").contains("✔ Connected"), "{list}");
    assert!(!line("wrongkey").contains("Connected") || line("wrongkey").contains("Failed"), "{list}");
    assert!(line("wrongkey").contains("✘"), "{list}");
}

/// Forwards everything to the app with `Authorization: Bearer <key>` added; `Host` and `Origin`
/// pass through as the suite sent them.
async fn forward(State((app, key)): State<(String, String)>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let url = format!("{app}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let client = reqwest::Client::new();
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name != "content-length" && name != "connection" {
            headers.append(name, value.clone());
        }
    }
    headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    let answer = match client.request(parts.method, url).headers(headers).body(body).send().await {
        Ok(a) => a,
        Err(e) => return (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            out_headers.append(name, value.clone());
        }
    }
    let bytes: Bytes = answer.bytes().await.unwrap_or_default();
    (status, out_headers, bytes).into_response()
}

async fn start_proxy(app: &TestApp) -> String {
    let router = axum::Router::new().fallback(forward).with_state((app.base_url.clone(), app.api_key.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://localhost:{}", addr.port())
}

#[tokio::test]
async fn the_mcp_conformance_suite_passes_the_server_scenarios() {
    let Some(bin) = npm_bin("conformance") else { return };
    let app = spawn_app().await;
    let proxy = start_proxy(&app).await;
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    // `server-sse-multiple-streams` is left out: it opens SSE streams, which a stateless,
    // JSON-response server answers with 405 by design.
    for scenario in ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"] {
        let out_dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(bin.join("conformance"));
        command
            .args(["server", "--url", &format!("{proxy}/api/mcp"), "--scenario", scenario, "--output-dir"])
            .arg(out_dir.path())
            .env("PATH", &path);
        let output = run(command, Duration::from_secs(120)).await;
        assert!(output.status.success(), "conformance scenario {scenario} failed:\n{}", text(&output));
    }
}
