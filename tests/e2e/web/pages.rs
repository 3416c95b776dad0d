//! The pages over HTTP: adding a key for each provider with each test outcome in the words users
//! see for it (`KeyStatus::message`), replace and roll back, remove naming the key that now serves,
//! what members see, AI settings for owners, and an API key shown once.

use converra::Provider;
use converra_test_kit::providers::{MockProviders, insufficient_quota, permission_denied, revoked_key, valid_key};
use converra_test_kit::{Options, spawn_app_with};
use serde_json::json;

use super::signed_in;

const PAGE: &str = "/settings/integrations";
const ADD: &str = "/settings/integrations/keys";

fn add_fields<'a>(provider: &'a str, name: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("provider", provider),
        ("name", name),
        ("api_key", secret),
        ("scope", "organization"),
        ("environment", "test"),
        ("test", "1"),
    ]
}

#[tokio::test]
async fn each_provider_takes_a_key_and_each_test_outcome_reads_in_its_fixed_words() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let owner = signed_in(&app, &app.api_key).await;
    for p in Provider::ALL {
        let name = format!("{p}-Production");
        let saved = owner.submit(PAGE, ADD, &add_fields(p.as_str(), &name, valid_key(p))).await;
        assert_eq!((saved.status, saved.location()), (303, Some(PAGE)), "{}", saved.body);
        let saved = owner.follow(saved).await;
        assert!(saved.body.contains(&format!("Saved {name}")) && saved.body.contains("Connection successful"), "{p}");
        assert!(!saved.body.contains(valid_key(p)), "{p}: the secret is never rendered back");
    }
    let page = owner.get(PAGE).await;
    assert_eq!(page.body.matches(r#"class="badge active">Active<"#).count(), 4, "four keys active");
    assert_eq!(page.body.matches(r#"class="badge active">Active · test<"#).count(), 4, "four sections, in test");
    for masked in ["sk-proj-…wxyz", "AIza…efgh"] {
        assert!(page.body.contains(masked), "masked preview {masked}");
    }
    // Rejections, in each status's fixed words (`KeyStatus::message`); nothing stored.
    let quota = "sk-proj-QUOTAopenaiKEY0123456789qqqq";
    let denied = "sk-proj-DENIEDopenaiKEY0123456789dddd";
    mocks.answer_models(Provider::Openai, quota, insufficient_quota()).await;
    mocks.answer_models(Provider::Openai, denied, permission_denied()).await;
    for (secret, words) in
        [(revoked_key(Provider::Openai), "Invalid API key"), (quota, "Quota exceeded"), (denied, "Permission denied")]
    {
        let refused = owner.submit(PAGE, ADD, &add_fields("openai", "Other", secret)).await;
        assert_eq!(refused.status, 422, "{words}");
        assert!(refused.body.contains(&format!("{words}: the key was not saved.")), "{words}: {}", refused.body);
    }
    // A key stored untested whose account ran dry: the Test button says so.
    let dry = app.add_provider_key(&app.api_key, Provider::Openai, quota, json!({"name": "Dry"})).await;
    let id = dry["id"].as_str().unwrap();
    let tested = owner.submit_and_follow(PAGE, &format!("{PAGE}/keys/{id}/test"), &[]).await;
    assert!(tested.body.contains(r#"role="alert">Quota exceeded<"#), "{}", tested.body);
}

#[tokio::test]
async fn replace_keeps_the_old_key_for_roll_back_and_remove_names_what_serves_now() {
    let mocks = MockProviders::start().await;
    let platform = [(Provider::Openai, "sk-platform-openai".to_owned())].into_iter().collect();
    let app =
        spawn_app_with(Options { base_urls: mocks.base_urls(), platform_keys: platform, ..Default::default() }).await;
    let owner = signed_in(&app, &app.api_key).await;
    let first =
        app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({"name": "Old"})).await;
    let old = first["id"].as_str().unwrap().to_owned();
    let replace = owner.get(&format!("{PAGE}/keys/{old}/replace")).await;
    assert!(replace.body.contains("stays inactive, with Roll back"), "{}", replace.body);
    let new_secret = "sk-proj-NEWopenaiKEY0123456789abcd";
    let fields = [
        ("provider", "openai"),
        ("name", "New"),
        ("api_key", new_secret),
        ("scope", "organization"),
        ("environment", "test"),
    ];
    let replaced = owner.submit_and_follow(&format!("{PAGE}/keys/{old}/replace"), ADD, &fields).await;
    assert!(replaced.body.contains("Saved New: it is now the active test OpenAI key."), "{}", replaced.body);
    assert!(replaced.body.contains("Roll back"), "the old key offers Roll back");

    let rolled = owner.submit_and_follow(PAGE, &format!("{PAGE}/keys/{old}/activate"), &[]).await;
    assert!(rolled.body.contains("Rolled back: Old is the active OpenAI key again."), "{}", rolled.body);

    let confirm = owner.get(&format!("{PAGE}/keys/{old}/remove")).await;
    assert!(confirm.body.contains("Remove Old?"), "a confirmation first");
    let new = app.get("/api/v1/provider-keys", &app.api_key).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "New")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removed = owner.submit_and_follow(PAGE, &format!("{PAGE}/keys/{new}/remove"), &[]).await;
    assert!(
        removed.body.contains("Removed New. Now serving OpenAI: the organization's key sk-proj-…wxyz."),
        "{}",
        removed.body
    );
    let last = owner.submit_and_follow(PAGE, &format!("{PAGE}/keys/{old}/remove"), &[]).await;
    assert!(
        last.body.contains("Removed Old. Now serving OpenAI: your plan's monthly token allowance."),
        "{}",
        last.body
    );
}

#[tokio::test]
async fn a_member_sees_the_status_and_the_admins_sentence_and_no_action() {
    let app = spawn_app_with(Options::default()).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await;
    let (_, member_key) = app.member_key(&app.api_key, "member@default.example", "member").await;
    let member = signed_in(&app, &member_key).await;
    let page = member.get(PAGE).await;
    assert!(page.body.contains("AI provider keys are managed by workspace admins"));
    assert!(page.body.contains(r#"class="badge active">Active<"#), "the status is visible");
    for hidden in ["Add API Key", ">Test<", "Replace", "Remove", "Roll back", "sk-proj-"] {
        assert!(!page.body.contains(hidden), "a member does not see {hidden}");
    }
    // And the server refuses anyway.
    let refused = member.submit(PAGE, ADD, &add_fields("openai", "Mine", valid_key(Provider::Openai))).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("This action requires the admin or owner role"));
    let ai = member.get("/settings/ai").await;
    assert!(ai.body.contains("Only workspace Owners can configure AI settings.") && !ai.body.contains("<select"));
}

#[tokio::test]
async fn an_owner_changes_ai_settings_and_an_api_key_is_shown_once_on_a_page_never_cached() {
    let app = spawn_app_with(Options::default()).await;
    let owner = signed_in(&app, &app.api_key).await;
    let saved = owner
        .submit_and_follow("/settings/ai", "/settings/ai", &[("tone", "casual"), ("key_rotation_days", "30")])
        .await;
    assert!(saved.body.contains("AI settings saved."), "{}", saved.body);
    assert_eq!(
        app.get("/api/v1/settings/ai", &app.api_key).await.body,
        json!({"enabled": false, "tone": "casual", "key_rotation_days": 30})
    );

    let page = owner.get("/settings/api-keys").await;
    let nonce = page.value_of_name("nonce");
    let fields = [("csrf", page.csrf()), ("name", "CI".into()), ("environment", "test".into()), ("nonce", nonce)];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let created = owner.post("/settings/api-keys", &fields).await;
    assert_eq!(created.headers["cache-control"], "no-store");
    assert!(created.body.contains("it is only shown once") && created.body.contains(r#"data-copy="new-key""#));
    let key = created.value_of("new-key");
    assert!(key.starts_with("sk_test_"), "the new key, once: {key}");
    assert_eq!(app.get("/api/v1/me", &key).await.status, 200, "the shown key works");
    assert!(!owner.get("/settings/api-keys").await.body.contains(&key), "never shown again");

    // A reload posts the same form again: its nonce creates nothing, and the page says why.
    let again = owner.post("/settings/api-keys", &fields).await;
    assert_eq!((again.status, again.location()), (303, Some("/settings/api-keys")), "{}", again.body);
    let again = owner.follow(again).await;
    assert!(again.body.contains("This form was already sent"), "{}", again.body);
    let keys = app.get("/api/v1/api-keys", &app.api_key).await.body;
    assert_eq!(keys["data"].as_array().unwrap().iter().filter(|k| k["name"] == "CI").count(), 1, "{keys}");
}
