//! No surprise after *Remove* or *Replace*: removing the active key says first what serves
//! next and offers the inactive key that last worked to take over in the same step; an
//! untested key is not saved over a working one without a warning; the badge says when the
//! active key fails ("Active · failing").

use converra::Provider;
use converra_test_kit::providers::{MockProviders, revoked_key, valid_key};
use converra_test_kit::{Options, spawn_app_with};
use serde_json::json;

use super::signed_in;

const PAGE: &str = "/settings/integrations";

#[tokio::test]
async fn removing_the_active_key_names_what_serves_next_and_offers_the_last_working_key() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let old = json!({"name": "Old", "test": true});
    let old = app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), old).await;
    let old = old["id"].as_str().unwrap().to_owned();
    let new = json!({"name": "New"});
    let new = app.add_provider_key(&app.api_key, Provider::Openai, "sk-proj-NEWopenaiKEY0123456789abcd", new).await;
    let new = new["id"].as_str().unwrap().to_owned();
    let owner = signed_in(&app, &app.api_key).await;

    // The inactive key: nothing changes, and the page says so.
    let confirm = owner.get(&format!("{PAGE}/keys/{old}/remove")).await;
    assert!(
        confirm
            .body
            .contains("It is not in use: OpenAI in test is then served by the organization's key sk-proj-…abcd."),
        "{}",
        confirm.body
    );
    assert!(!confirm.body.contains(r#"name="activate""#), "{}", confirm.body);

    // The active key: what serves without it, and the last working key offered in the same step.
    let confirm = owner.get(&format!("{PAGE}/keys/{new}/remove")).await;
    let body = &confirm.body;
    assert!(body.contains("It is the active test OpenAI key."), "{body}");
    assert!(body.contains("Removed alone: No key serves OpenAI in test then"), "{body}");
    assert!(
        body.contains(&format!(r#"name="activate" value="{old}""#)) && body.contains("Remove and make Old active"),
        "{body}"
    );
    let removed = owner.submit_and_follow(PAGE, &format!("{PAGE}/keys/{new}/remove"), &[("activate", &old)]).await;
    assert!(
        removed.body.contains("Removed New. Now serving OpenAI: the organization's key sk-proj-…wxyz."),
        "{}",
        removed.body
    );
    let keys = app.get("/api/v1/provider-keys", &app.api_key).await.body;
    assert_eq!(
        (keys["data"][0]["id"].as_str(), &keys["data"][0]["active"]),
        (Some(old.as_str()), &json!(true)),
        "{keys}"
    );
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);

    // Another slot's key cannot be slipped in.
    let other = json!({"name": "Live", "environment": "live"});
    let live = app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), other).await;
    let live = live["id"].as_str().unwrap();
    let refused = owner.submit(PAGE, &format!("{PAGE}/keys/{old}/remove"), &[("activate", live)]).await;
    let refused = owner.follow(refused).await;
    assert!(refused.body.contains("another key of the same slot"), "{}", refused.body);
    assert_eq!(app.get("/api/v1/provider-keys", &app.api_key).await.body["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_failing_active_key_reads_failing_and_replacing_a_working_one_untested_is_warned() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let good = json!({"name": "Working", "test": true});
    let good = app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), good).await;
    let good = good["id"].as_str().unwrap().to_owned();
    let owner = signed_in(&app, &app.api_key).await;

    let replace = owner.get(&format!("{PAGE}/keys/{good}/replace")).await;
    assert!(
        replace.body.contains("Working works now: unticked, the new key replaces it without a test."),
        "{}",
        replace.body
    );
    let page = owner.get(PAGE).await;
    assert!(page.body.contains("working now: Working (test, Organization)"), "{}", page.body);

    // Saved untested over it, then found revoked by its test: the badges say it fails.
    let bad = app
        .add_provider_key(&app.api_key, Provider::Openai, revoked_key(Provider::Openai), json!({"name": "Bad"}))
        .await;
    let bad = bad["id"].as_str().unwrap();
    owner.submit(PAGE, &format!("{PAGE}/keys/{bad}/test"), &[]).await;
    let page = owner.get(PAGE).await;
    let openai = page.body.split(r#"id="openai""#).nth(1).unwrap().split("</section>").next().unwrap();
    assert!(openai.contains(r#"class="badge bad">Active · test · failing<"#), "{openai}");
    assert!(openai.contains(r#"class="badge bad">Active · failing<"#), "{openai}");
    assert!(!openai.contains(r#"class="badge active">Active · test<"#), "never green while it fails: {openai}");
}
