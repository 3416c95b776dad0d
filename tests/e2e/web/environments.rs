//! Live and test, hard to miss: the Integrations header says which environments have an active
//! key and warns when the one the organization's API keys use has none; the Add form offers
//! that environment first; `NO_PROVIDER_KEY` keeps its fixed message and carries the detail
//! beside it (`environment`, `other_environments`) on every face.

use converra::{CompletionRequest, Environment, ErrorCode, Provider};
use converra_test_kit::mcp::{call, connect};
use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::{Options, spawn_app_with};
use serde_json::json;

use super::signed_in;

const FIXED: &str =
    "No deepseek key is configured for this scope and no platform allowance covers it: add a provider key";

#[tokio::test]
async fn a_live_key_for_an_organization_on_test_keys_is_flagged_and_no_provider_key_says_which_environment() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    // The bootstrap API key is sk_test_; the owner adds a DeepSeek key in live.
    let live = json!({"name": "DeepSeek-Production", "environment": "live"});
    app.add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), live).await;

    let owner = signed_in(&app, &app.api_key).await;
    let page = owner.get("/settings/integrations").await;
    let deepseek = page.body.split(r#"id="deepseek""#).nth(1).unwrap().split("</section>").next().unwrap();
    assert!(deepseek.contains("Active · live") && deepseek.contains("No test key"), "{deepseek}");
    assert!(deepseek.contains("no test DeepSeek key; a live one exists"), "{deepseek}");
    assert!(deepseek.contains(r#"<option value="test" selected"#), "the form offers test first: {deepseek}");
    let openai = page.body.split(r#"id="openai""#).nth(1).unwrap().split("</section>").next().unwrap();
    assert!(openai.contains("Not configured") && !openai.contains("No test key"), "{openai}");

    // REST: the fixed message, the detail beside it.
    let ask = json!({"model": "deepseek/deepseek-chat", "messages": [{"role": "user", "content": "hi"}]});
    let refused = app.post("/api/v1/completions", &app.api_key, ask.clone()).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let error = &refused.body["error"];
    assert_eq!(
        (&error["code"], &error["message"], &error["provider"], &error["environment"], &error["other_environments"]),
        (&json!("NO_PROVIDER_KEY"), &json!(FIXED), &json!("deepseek"), &json!("test"), &json!(["live"])),
        "{error}"
    );
    // MCP: the same body.
    let agent = connect(&app, &app.api_key).await;
    let tool = call(&agent, "run_completion", ask).await;
    assert_eq!(tool.is_error, Some(true));
    let text = tool.content[0].as_text().unwrap().text.clone();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), refused.body, "{text}");
    agent.cancel().await.ok();
    // The SDK: the fields, and the sentence in its message.
    let err = app.sdk(&app.api_key).completions().create(CompletionRequest::new("deepseek/deepseek-chat", "hi")).await;
    let converra::Error::Api(api) = err.unwrap_err() else { panic!("an API error") };
    assert_eq!(
        (api.code.clone(), api.environment, api.other_environments.clone()),
        (Some(ErrorCode::NoProviderKey), Some(Environment::Test), vec![Environment::Live])
    );
    assert!(api.to_string().ends_with("(no test DeepSeek key; a live one exists)"), "{api}");

    // A test key fixes it: the warning goes, and the header shows both.
    let test = json!({"name": "DeepSeek-Dev", "environment": "test"});
    app.add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), test).await;
    let page = owner.get("/settings/integrations").await;
    let deepseek = page.body.split(r#"id="deepseek""#).nth(1).unwrap().split("</section>").next().unwrap();
    assert!(deepseek.contains("Active · live") && deepseek.contains("Active · test"), "{deepseek}");
    assert!(!deepseek.contains("No test key") && !deepseek.contains("NO_PROVIDER_KEY"), "{deepseek}");
}

#[tokio::test]
async fn the_add_form_offers_the_environment_the_organization_uses() {
    let app = spawn_app_with(Options::default()).await;
    let owner = signed_in(&app, &app.api_key).await;
    let form = owner.get("/settings/integrations").await;
    assert!(form.body.contains(r#"<option value="test" selected"#), "only sk_test_ keys: test first");
    // A live API key that is used moves the default to live.
    let live = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "Prod", "environment": "live"})).await;
    let live = live.body["key"].as_str().unwrap().to_owned();
    // Used a second later than the test key this browser signed in with (times are to the second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get("/api/v1/me", &live).await.status, 200);
    // Last use is recorded beside the request: wait for it.
    for _ in 0..50 {
        if owner.get("/settings/integrations").await.body.contains(r#"<option value="live" selected"#) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the form never offered live first, the environment of the last used API key");
}
