//! `/metrics` on the real binary, configured from the environment: `CONVERRA_METRICS_ADDR`
//! serves the scrape alone on its own port without a token, while the main listener answers
//! `/metrics` 404 (no token configured there); that listener refuses a foreign `Host` (a page
//! that rebinds its name to it) as the MCP endpoint does; a too-short `CONVERRA_METRICS_TOKEN`
//! refuses to start, naming the variable and never echoing the value.

use converra_test_kit::{Server, free_port, run, stderr_of};

use crate::CONVERRA;

#[tokio::test]
async fn the_metrics_address_from_the_environment_serves_the_scrape_alone() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let server =
        Server::start(CONVERRA, &dir.path().join("converra.db"), &[("CONVERRA_METRICS_ADDR", metrics.as_str())]).await;
    let key = server.bootstrap_key().await;
    assert_eq!(server.get("/api/v1/me", &key).await.0, 200);
    let http = reqwest::Client::new();
    let scrape = http.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(text.contains(r#"converra_http_requests_total{face="rest",route="/api/v1/me",status="200"} 1"#), "{text}");
    assert!(!text.contains(&key));
    assert_eq!(server.get("/metrics", &key).await.0, 404, "no token: not on the main listener");
}

#[tokio::test]
async fn the_metrics_listener_refuses_a_foreign_host_as_the_mcp_endpoint_does() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let server =
        Server::start(CONVERRA, &dir.path().join("converra.db"), &[("CONVERRA_METRICS_ADDR", metrics.as_str())]).await;
    let key = server.bootstrap_key().await;
    let http = reqwest::Client::new();
    let scrape = |host: String| http.get(format!("http://{metrics}/metrics")).header("host", host).send();
    let port = metrics.rsplit(':').next().unwrap();
    let rebound = format!("rebound.example.com:{port}");
    let foreign = scrape(rebound.clone()).await.unwrap();
    let status = foreign.status();
    let text = foreign.text().await.unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(!text.contains("converra_"), "{text}");
    // The MCP endpoint answers the same Host the same way, with a valid key.
    let tools_list = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let mcp = http
        .post(format!("{}/api/mcp", server.base))
        .header("host", rebound)
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&key)
        .json(&tools_list)
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), status);
    // Its own address, and the loopback names, get the series.
    for host in [metrics.clone(), format!("localhost:{port}")] {
        let own = scrape(host.clone()).await.unwrap();
        assert_eq!(own.status(), 200, "{host}");
        assert!(own.text().await.unwrap().contains("# TYPE converra_http_requests"), "{host}");
    }
}

#[test]
fn a_short_metrics_token_refuses_to_start_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("converra.db");
    let db = db.to_str().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let envs = [("CONVERRA_METRICS_TOKEN", "tooShort9"), ("CONVERRA_ADDR", addr.as_str())];
    let output = run(CONVERRA.command(&["serve", "--db", db], &envs));
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("CONVERRA_METRICS_TOKEN is not valid: must be at least 16"), "{stderr}");
    assert!(!stderr.contains("tooShort9"), "{stderr}");
}
