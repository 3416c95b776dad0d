//! The official `openai` Python client, which we did not write, against the OpenAI-compatible
//! API: non-streaming, streaming with usage, the models list and errors, changing only its
//! base URL and key.
//!
//! The client comes from `.ci/run` (a venv with a pinned `openai`, passed as `CONVERRA_PYTHON`).
//! Without it the test says it is skipped — unless `CONVERRA_REQUIRE_CLIENTS=1` (set by CI),
//! where a missing client fails.

use std::process::Command;

use converra::Provider;
use converra_tests::providers::{MockProviders, chat_answer, chat_stream, valid_key};
use converra_tests::{Options, spawn_app_with};
use serde_json::json;

/// The Python interpreter that has `openai`, or why there is none.
fn python() -> Result<String, String> {
    let python = std::env::var("CONVERRA_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import openai; print(openai.__version__)"]).output();
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        _ => Err(format!("`{python}` cannot import openai (set up by .ci/run)")),
    }
}

#[tokio::test]
async fn the_official_openai_python_client_works_with_only_base_url_and_key_changed() {
    let python = match python() {
        Ok(p) => p,
        Err(why) if std::env::var("CONVERRA_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") => panic!("{why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let added = app
        .post(
            "/api/v1/provider-keys",
            &app.api_key,
            json!({"provider": "openai", "name": "OpenAI", "api_key": valid_key(Provider::Openai)}),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    let key = valid_key(Provider::Openai);
    mocks
        .answer_chat(
            Provider::Openai,
            key,
            "gpt-4o-mini",
            false,
            chat_answer(Provider::Openai, "gpt-4o-mini", "Hello there!"),
        )
        .await;
    mocks
        .answer_chat(
            Provider::Openai,
            key,
            "gpt-4o-mini",
            true,
            chat_stream(Provider::Openai, "gpt-4o-mini", &["Hel", "lo!"]),
        )
        .await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/openai_client.py");
    let (base, api_key) = (app.base_url.clone(), app.api_key.clone());
    let output = tokio::task::spawn_blocking(move || Command::new(python).args([script, &base, &api_key]).output())
        .await
        .unwrap()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the openai client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok content: 'Hello there!'"), "{stdout}");
    assert!(stdout.contains("ok stream content: 'Hello!'"), "{stdout}");
    assert!(stdout.contains("ok bad key status: 401"), "{stdout}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
