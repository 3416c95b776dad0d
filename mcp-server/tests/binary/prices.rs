//! `converra prices check` on a running server's database: the models the month's calls used
//! that the price table does not price, and the operator's price file over the shipped table.

use std::time::Duration;

use crate::CONVERRA;
use crate::cli_client::{Cli, SECRET, Server, mock_openai};

/// `converra prices check`, the operator's command on the server's database: with the shipped
/// table, a model the month's calls used that has no row is listed (exit 1); with an operator
/// file that prices it, none is (exit 0).
#[tokio::test]
async fn prices_check_lists_the_models_traffic_used_without_a_price() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;
    server
        .cli(&["keys", "add", "openai", "--name", "Main"], Some(&server.owner_key), Some(&format!("{SECRET}\n")))
        .await
        .ok();
    // A dated snapshot the table does not list: priced only once a row names it, never guessed.
    const DATED: &str = "gpt-4o-mini-2024-07-18";
    server.owner(&["complete", "hi", "--model", &format!("openai/{DATED}")]).await.ok();
    let server = &server;
    let check = |operator_file: Option<String>| async move {
        let db = server.dir.path().join("converra.db");
        let mut command = tokio::process::Command::new(CONVERRA.path());
        command.env_clear().env("CONVERRA_MASTER_KEY", &server.master).env("CONVERRA_LOG", "warn");
        if let Some(file) = operator_file {
            command.env("CONVERRA_PRICES_FILE", file);
        }
        let args = ["prices", "check", "--json", "--db", db.to_str().unwrap()];
        Cli::new(&args, command.args(args).output().await.unwrap())
    };
    // The completion's usage reaches the database within the writer's flush interval.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = check(None).await;
        if listed.code == Some(1) || std::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    listed.assert_code(1);
    let out = listed.json();
    assert_eq!(out["models_seen"], 1, "{out}");
    let unpriced = &out["unpriced"][0];
    assert_eq!((unpriced["provider"].as_str(), unpriced["model"].as_str()), (Some("openai"), Some(DATED)), "{out}");
    assert_eq!((unpriced["requests"].as_u64(), unpriced["organizations"].as_u64()), (Some(1), Some(1)), "{out}");
    assert!(listed.stderr.contains("error: 1 model(s) used in "), "{}", listed.stderr);

    let file = server.dir.path().join("our-prices.toml");
    let row = format!(
        "schema_version = 1\n[[model]]\nprovider = \"openai\"\nmodel = \"{DATED}\"\ninput = 0.15\noutput = 0.6\n\
         source = \"https://example.com/our-contract\"\nas_of = 2026-12-01\n"
    );
    std::fs::write(&file, row).unwrap();
    let priced = check(Some(file.display().to_string())).await;
    priced.ok();
    assert_eq!(priced.json()["unpriced"], serde_json::json!([]));
    std::fs::write(&file, "schema_version = 1\n[[model]]\nprovider = \"openai\"\n").unwrap();
    check(Some(file.display().to_string())).await.assert_fails(3, "CONVERRA_PRICES_FILE is not valid: ");
}
