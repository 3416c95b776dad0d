//! `converra mcp`: the same tools over stdin/stdout, driven by rmcp's child-process client
//! against the real binary, as a client that launches a process would: the same key checks
//! and plan bucket before every tool call, and links built from the public URL.

use std::path::Path;
use std::process::{Command, Stdio};

use converra_test_kit::mcp::{Client, MCP_TOOLS, call};
use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

use crate::CONVERRA;

/// `converra` with a clean environment, on the vault in `dir`.
fn in_vault(dir: &Path) -> Command {
    let (db, key_file) = (dir.join("converra.db"), dir.join("master.key"));
    let envs = [
        ("CONVERRA_DB", db.to_str().unwrap()),
        ("CONVERRA_MASTER_KEY_FILE", key_file.to_str().unwrap()),
        ("CONVERRA_LOG", "warn"),
    ];
    CONVERRA.command(&[], &envs)
}

/// `converra init`: a new organization; its owner's first API key is printed on stdout.
fn init(dir: &Path) -> String {
    let out = in_vault(dir)
        .args(["init", "--org", "stdio", "--owner", "o@stdio.example", "--environment", "test"])
        .output()
        .expect("converra init runs");
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("sk_test_"), "a key on stdout, got {key:?}");
    key
}

async fn launch(dir: &Path, key: &str) -> Client {
    launch_with(dir, key, &[]).await
}

async fn launch_with(dir: &Path, key: &str, envs: &[(&str, &str)]) -> Client {
    let cmd = tokio::process::Command::from(in_vault(dir)).configure(|cmd| {
        cmd.arg("mcp").env("CONVERRA_API_KEY", key).envs(envs.iter().copied());
    });
    ().serve(TokioChildProcess::new(cmd).expect("converra mcp starts")).await.expect("the stdio server initializes")
}

#[tokio::test]
async fn stdio_serves_the_same_tools_as_the_init_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let client = launch(dir.path(), &key).await;

    let info = client.peer_info().expect("initialized");
    assert_eq!(info.server_info.as_ref().unwrap().name, "converra");

    let tools = client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, MCP_TOOLS);

    let listed = call(&client, "list_provider_keys", json!({})).await;
    assert_ne!(listed.is_error, Some(true), "{listed:?}");
    assert_eq!(listed.structured_content, Some(json!({"data": []})));

    let added = call(
        &client,
        "add_provider_key",
        json!({"provider": "openai", "name": "OpenAI-Dev", "api_key": "sk-proj-STDIOopenaiKEY0123456789wxyz"}),
    )
    .await;
    assert_ne!(added.is_error, Some(true), "{added:?}");
    let added = added.structured_content.unwrap();
    assert_eq!(added["environment"], "test");
    assert_eq!(added["masked"].as_str().map(|m| m.ends_with("wxyz")), Some(true));

    let listed = call(&client, "list_provider_keys", json!({"provider": "openai"})).await;
    assert_eq!(listed.structured_content.unwrap()["data"][0]["id"], added["id"]);

    let resolved = call(&client, "resolve_provider_key", json!({"provider": "openai"})).await;
    assert_eq!(resolved.structured_content.unwrap()["source"], "organization");

    // Tool errors carry the REST body, as over HTTP.
    let missing = call(&client, "revoke_provider_key", json!({"id": "pk_nope"})).await;
    assert_eq!(missing.is_error, Some(true));
    let text = missing.content[0].as_text().unwrap().text.clone();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"error": {"code": "NOT_FOUND", "message": "Provider key not found"}}));

    client.cancel().await.ok();
}

#[tokio::test]
async fn a_connect_link_from_stdio_points_at_the_public_url() {
    // The stdio process serves no pages: its links must lead to the server people open.
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let client = launch_with(dir.path(), &key, &[("CONVERRA_PUBLIC_URL", "https://converra.example.com/")]).await;
    let answer = call(&client, "add_provider_key", json!({"provider": "openai", "name": "Production"})).await;
    assert_ne!(answer.is_error, Some(true), "{answer:?}");
    let answer = answer.structured_content.unwrap();
    let url = answer["connect_link"]["url"].as_str().expect("a connect link");
    assert!(url.starts_with("https://converra.example.com/connect/"), "{url}");
    assert!(answer["next_step"].as_str().unwrap().contains(url), "{answer}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn stdio_tool_calls_spend_the_keys_plan_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let out = in_vault(dir.path())
        .args(["admin", "org", "set-plan", "stdio", "enterprise", "--rate-limit", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let client = launch(dir.path(), &key).await;
    for _ in 0..2 {
        let listed = call(&client, "list_provider_keys", json!({})).await;
        assert_ne!(listed.is_error, Some(true), "{listed:?}");
    }
    // The third call in the minute is refused as a tool result the model can read.
    let refused = call(&client, "list_provider_keys", json!({})).await;
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    let body: Value = serde_json::from_str(&refused.content[0].as_text().unwrap().text).unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");
    // Protocol traffic is not work: the tools are still listed.
    assert_eq!(client.list_all_tools().await.expect("tools/list").len(), MCP_TOOLS.len());
    client.cancel().await.ok();
}

/// The exit codes and words of the client commands: 3 (configuration) without a key, 4 for a
/// key Converra refuses, said as Converra's refusal and never in a provider's words.
#[test]
fn a_missing_or_rejected_key_exits_as_the_client_commands_do() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());

    let run = |key: Option<&str>| {
        let mut cmd = in_vault(dir.path());
        cmd.arg("mcp").stdin(Stdio::null());
        if let Some(key) = key {
            cmd.env("CONVERRA_API_KEY", key);
        }
        cmd.output().expect("converra mcp runs")
    };

    let out = run(Some("sk_test_notAkey"));
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: Converra rejected your API key (CONVERRA_API_KEY)"), "{stderr}");
    assert!(!stderr.contains("Invalid API key"), "a provider's words: {stderr}");
    assert!(out.stdout.is_empty(), "nothing but MCP on stdout");

    // A well-formed key with a wrong secret: same message, and the secret is not repeated.
    let tampered = format!("{}0000", &key[..key.len() - 4]);
    let out = run(Some(&tampered));
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: Converra rejected your API key (CONVERRA_API_KEY)"), "{stderr}");
    assert!(!stderr.contains(&tampered), "{stderr}");

    let out = run(None);
    assert_eq!(out.status.code(), Some(3), "the README's configuration code, as `keys list` exits");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: CONVERRA_API_KEY is not set"));

    // The key never shows in --help.
    let help = in_vault(dir.path()).args(["mcp", "--help"]).env("CONVERRA_API_KEY", &key).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("CONVERRA_API_KEY"), "{help}");
    assert!(!help.contains(&key), "{help}");
    assert!(!help.contains("--api-key"), "the refused flag is not offered: {help}");
}

#[test]
fn a_key_on_the_command_line_is_refused_with_the_way_to_pass_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    for args in [vec!["mcp", "--api-key", key.as_str()], vec!["mcp", "--api-key"]] {
        let out = in_vault(dir.path()).args(&args).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: --api-key is not accepted"), "{stderr}");
        assert!(stderr.contains("Set CONVERRA_API_KEY in the environment instead"), "{stderr}");
        assert!(!stderr.contains(&key), "the key is not repeated: {stderr}");
        assert!(out.stdout.is_empty());
    }
}
