//! The web face in a real browser: headless Chromium driven over WebDriver (fantoccini) against
//! the real server and a real SQLite file, wiremock standing in for the providers. Every page
//! is photographed to `target/screenshots/` and checked not to be blank. Ignored in a plain
//! `cargo test`: `.ci/run` installs Chromium and chromedriver (Debian packages) and runs them.

use converra::{Plan, Provider};
use converra_test_kit::browser::Chrome;
use converra_test_kit::mcp::{call, connect};
use converra_test_kit::providers::{MockProviders, insufficient_quota, permission_denied, revoked_key, valid_key};
use converra_test_kit::{Options, TestApp, spawn_app_with};
use fantoccini::Locator;
use serde_json::json;

use super::{login_link, owner_email};

async fn app_and_mocks() -> (TestApp, MockProviders) {
    let mocks = MockProviders::start().await;
    let platform = [(Provider::Deepseek, "sk-platform-deepseek".to_owned())].into_iter().collect();
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        platform_keys: platform,
        sqlite_file: true,
        ..Default::default()
    })
    .await;
    (app, mocks)
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn sign_in_by_login_link_and_by_api_key() {
    let (app, _mocks) = app_and_mocks().await;
    let chrome = Chrome::start(&app, 1280).await;
    let email = owner_email(&app).await;
    chrome.open(&login_link(&app, &email).await).await;
    chrome.shot("sign-in-link").await;
    chrome.click("form button[type=submit]").await;
    chrome.at("/settings/integrations").await;
    chrome.expect(&email).await;
    chrome.sign_out().await;
    chrome.shot("sign-in").await;
    chrome.sign_in_with_key(&app.api_key).await;
    chrome.expect("Settings → Integrations").await;

    // The agent lines' copy button copies the block as shown (the clipboard stands in).
    chrome.open("/settings/integrations#agents").await;
    let stand_in = "navigator.clipboard.writeText = t => { window.copied = t; return Promise.resolve(); }";
    chrome.client.execute(stand_in, vec![]).await.unwrap();
    chrome.click("button[data-copy=agent-claude-code]").await;
    chrome.expect("Copied").await;
    let copied = chrome.client.execute("return window.copied", vec![]).await.unwrap();
    let shown = chrome.find("#agent-claude-code").await.text().await.unwrap();
    assert_eq!(copied.as_str().map(str::trim_end), Some(shown.trim_end()));
    assert!(shown.contains(&format!("export ANTHROPIC_BASE_URL={}\n", app.base_url)), "{shown}");
    chrome.shot("integrations-agents").await;
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn keys_are_added_tested_replaced_rolled_back_and_removed() {
    let (app, mocks) = app_and_mocks().await;
    let chrome = Chrome::start(&app, 1280).await;
    chrome.sign_in_with_key(&app.api_key).await;
    let quota = "sk-proj-QUOTAopenaiKEY0123456789qqqq";
    let denied = "sk-proj-DENIEDopenaiKEY0123456789dddd";
    mocks.answer_models(Provider::Openai, quota, insufficient_quota()).await;
    mocks.answer_models(Provider::Openai, denied, permission_denied()).await;
    for (secret, words) in
        [(revoked_key(Provider::Openai), "Invalid API key"), (quota, "Quota exceeded"), (denied, "Permission denied")]
    {
        let text = chrome.add_key(Provider::Openai, "Rejected", secret).await;
        assert!(text.contains(&format!("{words}: the key was not saved.")), "{words}: {text}");
    }
    for p in Provider::ALL {
        let text = chrome.add_key(p, &format!("{}-Production", super::integrations_label(p)), valid_key(p)).await;
        assert!(text.contains("Connection successful"), "{p}: {text}");
        assert!(!text.contains(valid_key(p)), "{p}: the secret is never shown");
    }
    let text = chrome.text().await;
    assert_eq!(text.matches("Active").count(), 8, "{text}");
    chrome.shot("integrations").await;

    // Test, Replace, Roll back, Remove.
    chrome.click("#openai form[action$='/test'] button").await;
    chrome.expect("Connection successful").await;
    chrome.click("#openai a[href$='/replace']").await;
    chrome.shot("replace").await;
    chrome.fill("#openai-name", "OpenAI-New").await;
    chrome.fill("#openai-secret", "sk-proj-NEWopenaiKEY0123456789abcd").await;
    chrome.click("label.check input").await; // untick "Test before saving"
    chrome.click("form.stack button[type=submit]").await;
    chrome.expect("Saved OpenAI-New: it is now the active test OpenAI key.").await;
    chrome.click("#openai form[action$='/activate'] button").await;
    chrome.expect("Rolled back: OpenAI-Production is the active OpenAI key again.").await;
    chrome.click("#openai tr:has(form[action$='/activate']) a[href$='/remove']").await;
    chrome.expect("Remove OpenAI-New?").await;
    chrome.shot("remove").await;
    chrome.click("form[action$='/remove'] button").await;
    chrome.expect("Removed OpenAI-New. Now serving OpenAI: the organization's key sk-proj-…wxyz.").await;
    // DeepSeek has a platform key: removing its own key falls back to the allowance.
    chrome.click("#deepseek a[href$='/remove']").await;
    chrome.expect("Remove DeepSeek-Production?").await;
    chrome.click("form[action$='/remove'] button").await;
    chrome.expect("Removed DeepSeek-Production. Now serving DeepSeek: your plan's monthly token allowance.").await;

    // Usable at 375 px: no settings page scrolls sideways (Usage with a spent budget's banner and row).
    app.put("/api/v1/budgets", &app.api_key, json!({"scope": "organization", "limit_micro_usd": 0})).await;
    chrome.client.set_window_size(375, 900).await.unwrap();
    for page in ["integrations", "projects", "ai", "usage", "api-keys", "members"] {
        chrome.open(&format!("/settings/{page}")).await;
        chrome.shot(&format!("{page}-375px")).await;
        let width = chrome.client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
        let width = width.as_u64().unwrap();
        assert!(width <= 375, "no sideways scrolling at 375 px on {page}: {width}");
        // No table with a button scrolls inside itself either (they stack their rows).
        let script = "return [...document.querySelectorAll('table')]\
                      .filter(t => t.querySelector('button') && t.scrollWidth > t.clientWidth).length";
        let scrolling = chrome.client.execute(script, vec![]).await.unwrap().as_u64().unwrap();
        assert_eq!(scrolling, 0, "a table with buttons scrolls sideways at 375 px on {page}");
    }
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn a_member_sees_status_only_and_an_owner_changes_ai_settings() {
    let (app, _mocks) = app_and_mocks().await;
    app.add_provider_key(
        &app.api_key,
        Provider::Openai,
        valid_key(Provider::Openai),
        json!({"name": "OpenAI-Production"}),
    )
    .await;
    let project = app.post("/api/v1/projects", &app.api_key, json!({"name": "Website"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_provider_key(
        &app.api_key,
        Provider::Anthropic,
        valid_key(Provider::Anthropic),
        json!({"project_id": project}),
    )
    .await;
    let (_, member) = app.member_key(&app.api_key, "member@default.example", "member").await;
    let chrome = Chrome::start(&app, 1280).await;
    chrome.sign_in_with_key(&member).await;
    let text = chrome.text().await;
    assert!(text.contains("AI provider keys are managed by workspace admins"), "{text}");
    // No action: a copy button (the agent lines) changes nothing.
    for button in ["button:not([data-copy])", "summary", "a[href$='/remove']"] {
        let css = format!("main {button}");
        assert!(!chrome.has(&css).await, "a member sees no {button}");
    }
    assert!(chrome.has("main button[data-copy=agent-codex]").await, "a member sees the agent lines too");
    chrome.shot("integrations-member").await;
    chrome.open("/settings/ai").await;
    chrome.expect("Only workspace Owners can configure AI settings.").await;
    chrome.sign_out().await;

    chrome.sign_in_with_key(&app.api_key).await;
    chrome.open("/settings/ai").await;
    chrome.click("input[name=enabled]").await; // off
    chrome.click("#tone option[value=friendly]").await;
    chrome.click("main form button[type=submit]").await;
    chrome.expect("AI settings saved.").await;
    assert_eq!(
        app.get("/api/v1/settings/ai", &app.api_key).await.body,
        json!({"enabled": false, "tone": "friendly", "key_rotation_days": 90})
    );
    chrome.shot("ai-settings").await;
    chrome.open("/settings/projects").await;
    let text = chrome.text().await;
    assert!(
        text.contains("Website") && text.contains("Own key") && text.contains("Inherits the organization's"),
        "{text}"
    );
    chrome.shot("projects").await;
    chrome.open("/settings/usage").await;
    chrome.shot("usage").await;
    chrome.open("/settings/api-keys").await;
    chrome.fill("#key-name", "CI").await;
    chrome.click("main form button[type=submit]").await;
    let shown = chrome.find("#new-key").await.prop("value").await.unwrap().unwrap();
    // The form offers the environment this browser's own key is in first.
    assert!(shown.starts_with("sk_test_"), "{shown}");
    chrome.shot("api-keys").await;
    chrome.open("/settings/members").await;
    chrome.fill("#member-email", "new@default.example").await;
    chrome.click("main form.stack button[type=submit]").await;
    chrome.expect("Added new@default.example as member.").await;
    let link = chrome.find("#sign-in-link").await.prop("value").await.unwrap().unwrap();
    assert!(link.contains("/sign-in/link/"), "{link}");
    chrome.shot("members").await;
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn a_connect_link_from_an_mcp_tool_call_ends_with_the_key_listed() {
    let (app, _mocks) = app_and_mocks().await;
    let agent = connect(&app, &app.api_key).await;
    let ask = json!({"provider": "anthropic", "name": "Claude-Production", "environment": "live"});
    let answer = call(&agent, "add_provider_key", ask.clone()).await.structured_content.unwrap();
    let url = answer["connect_link"]["url"].as_str().unwrap().to_owned();

    // A plain member and another organization's owner are refused.
    let (_, member) = app.member_key(&app.api_key, "member@default.example", "member").await;
    let stranger = app.new_org("globex", Plan::Free).await;
    let chrome = Chrome::start(&app, 1280).await;
    for (key, words) in
        [(&member, "This action requires the admin or owner role"), (&stranger, "This link is no longer valid")]
    {
        chrome.sign_in_with_key(key).await;
        chrome.open(&url).await;
        chrome.expect(words).await;
        chrome.open("/settings/integrations").await;
        chrome.sign_out().await;
    }

    chrome.sign_in_with_key(&app.api_key).await;
    chrome.open(&url).await;
    let text = chrome.text().await;
    assert!(text.contains("asked for the Anthropic key named Claude-Production in default"), "{text}");
    chrome.shot("connect").await;
    chrome.fill("#secret", valid_key(Provider::Anthropic)).await;
    chrome.click("main form button[type=submit]").await;
    chrome.expect("Saved Claude-Production").await;
    let listed = call(&agent, "list_provider_keys", json!({"provider": "anthropic"})).await.structured_content.unwrap();
    assert_eq!(listed["data"][0]["name"], "Claude-Production");
    chrome.open(&url).await;
    chrome.expect("This link is no longer valid").await;

    // Expired.
    let late = call(&agent, "add_provider_key", ask).await.structured_content.unwrap();
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.execute("UPDATE web_tokens SET expires_at = 1 WHERE used_at IS NULL", []).unwrap();
    chrome.open(late["connect_link"]["url"].as_str().unwrap()).await;
    chrome.expect("This link is no longer valid").await;
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn a_form_without_its_token_is_refused_and_a_revoked_key_ends_the_session() {
    let (app, _mocks) = app_and_mocks().await;
    let (_, admin) = app.member_key(&app.api_key, "admin@default.example", "admin").await;
    let chrome = Chrome::start(&app, 1280).await;
    chrome.sign_in_with_key(&admin).await;
    chrome.click("#openai summary").await;
    chrome.fill("#openai-name", "x").await;
    chrome.fill("#openai-secret", valid_key(Provider::Openai)).await;
    chrome.client.execute("document.querySelector('#openai input[name=csrf]').remove()", vec![]).await.unwrap();
    chrome.click("#openai form.stack button[type=submit]").await;
    chrome.expect("This form did not come from this page").await;
    assert_eq!(app.get("/api/v1/provider-keys", &app.api_key).await.body, json!({"data": []}));

    chrome.open("/settings/integrations").await;
    let keys = app.get("/api/v1/api-keys", &admin).await.body;
    let id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &app.api_key).await.status, 204);
    chrome.open("/settings/integrations").await;
    chrome.at("/sign-in").await; // the revoked key's session is over
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn a_reload_after_a_form_posts_nothing_twice_and_revoke_and_remove_ask_first() {
    let (app, _mocks) = app_and_mocks().await;
    let chrome = Chrome::start(&app, 1280).await;
    chrome.sign_in_with_key(&app.api_key).await;

    // A failed add: the form stays open with what was typed, never the secret, the error beside it.
    let text = chrome.add_key(Provider::Openai, "Website-OpenAI", revoked_key(Provider::Openai)).await;
    assert!(text.contains("Invalid API key: the key was not saved."), "{text}");
    assert!(chrome.has("#openai details[open]").await, "the form is still open");
    let name = chrome.find("#openai-name").await.prop("value").await.unwrap().unwrap();
    let secret = chrome.find("#openai-secret").await.prop("value").await.unwrap().unwrap();
    assert_eq!((name.as_str(), secret.as_str()), ("Website-OpenAI", ""), "the name is kept, the secret is not");
    let beside = chrome.find("#openai-api_key-error").await.text().await.unwrap();
    assert!(beside.contains("Invalid API key"), "{beside}");
    chrome.shot("add-failed").await;
    chrome.fill("#openai-secret", valid_key(Provider::Openai)).await;
    chrome.click("#openai form.stack button[type=submit]").await;
    chrome.expect("Saved Website-OpenAI").await;
    // Post-redirect-get: the browser is on the page's own address, and a reload adds nothing.
    assert_eq!(chrome.path().await, "/settings/integrations");
    chrome.client.refresh().await.unwrap();
    chrome.expect("Settings → Integrations").await;
    assert!(!chrome.text().await.contains("Saved Website-OpenAI"), "the notice is shown once");
    let keys = app.get("/api/v1/provider-keys", &app.api_key).await.body;
    assert_eq!(keys["data"].as_array().unwrap().len(), 1, "{keys}");
    // An address a form posts to, opened as a page, is a page.
    chrome.open("/settings/integrations/keys").await;
    chrome.at("/settings/integrations").await;

    // Revoking an API key asks first, naming it.
    chrome.open("/settings/api-keys").await;
    chrome.fill("#key-name", "Laptop").await;
    chrome.click("main form button[type=submit]").await;
    chrome.find("#new-key").await;
    chrome.open("/settings/api-keys").await;
    let laptop = "//tr[td[contains(., 'Laptop')]]//a[contains(@href, '/revoke')]";
    chrome.client.find(Locator::XPath(laptop)).await.unwrap().click().await.unwrap();
    let text = chrome.expect("Revoke Laptop?").await;
    assert!(text.contains("stops working at once"), "{text}");
    chrome.shot("revoke-confirm").await;
    chrome.click("main a[href='/settings/api-keys']").await; // Cancel
    chrome.at("/settings/api-keys").await;
    assert!(chrome.text().await.contains("Laptop"), "nothing is revoked by opening the question");
    chrome.client.find(Locator::XPath(laptop)).await.unwrap().click().await.unwrap();
    chrome.expect("Revoke Laptop?").await;
    chrome.click("main form[action$='/revoke'] button").await;
    chrome.expect("API key revoked").await;
    assert_eq!(chrome.path().await, "/settings/api-keys");
    assert!(!chrome.text().await.contains("Laptop"), "the revoked key is gone");

    // Removing a member asks first, naming them.
    app.member_key(&app.api_key, "leaving@default.example", "member").await;
    chrome.open("/settings/members").await;
    let remove = "//tr[td[contains(., 'leaving@default.example')]]//a[contains(@href, '/remove')]";
    chrome.client.find(Locator::XPath(remove)).await.unwrap().click().await.unwrap();
    chrome.expect("Remove leaving@default.example?").await;
    chrome.shot("member-remove-confirm").await;
    chrome.click("main form[action$='/remove'] button").await;
    chrome.expect("Removed leaving@default.example").await;
    assert_eq!(chrome.path().await, "/settings/members");
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn environments_show_and_remove_offers_the_last_working_key_and_a_failing_key_reads_failing() {
    let (app, _mocks) = app_and_mocks().await;
    let chrome = Chrome::start(&app, 1280).await;
    chrome.sign_in_with_key(&app.api_key).await;

    // The organization's API key is sk_test_: the form offers test first. A live key is flagged.
    chrome.click("#deepseek summary").await;
    let offered = chrome.find("#deepseek-env").await.prop("value").await.unwrap().unwrap();
    assert_eq!(offered, "test", "the form offers the environment in use");
    chrome.fill("#deepseek-name", "DeepSeek-Live").await;
    chrome.fill("#deepseek-secret", valid_key(Provider::Deepseek)).await;
    chrome.click("#deepseek-env option[value=live]").await;
    chrome.click("#deepseek form.stack button[type=submit]").await;
    chrome.expect("Saved DeepSeek-Live: it is now the active live DeepSeek key.").await;
    let header = chrome.find("#deepseek h2").await.text().await.unwrap();
    assert!(header.contains("Active · live") && header.contains("No test key"), "{header}");
    chrome.expect("no test DeepSeek key; a live one exists").await;
    chrome.shot("integrations-environments").await;

    // Replace a working key untested: warned; then Remove offers the old one back in one step.
    chrome.add_key(Provider::Openai, "Old", valid_key(Provider::Openai)).await;
    chrome.click("#openai a[href$='/replace']").await;
    chrome.expect("Old works now: unticked, the new key replaces it without a test.").await;
    chrome.fill("#openai-name", "New").await;
    chrome.fill("#openai-secret", "sk-proj-NEWopenaiKEY0123456789abcd").await;
    chrome.click("label.check input").await; // untick "Test before saving"
    chrome.click("form.stack button[type=submit]").await;
    chrome.expect("Saved New: it is now the active test OpenAI key.").await;
    chrome.click("#openai tr:has(.badge.active) a[href$='/remove']").await;
    let text = chrome.expect("Remove New?").await;
    assert!(
        text.contains("It is the active test OpenAI key.") && text.contains("No key serves OpenAI in test then"),
        "{text}"
    );
    chrome.shot("remove-active").await;
    chrome.click("main form:has(input[name=activate]) button").await;
    chrome.expect("Removed New. Now serving OpenAI: the organization's key sk-proj-…wxyz.").await;

    // A key that fails its test: the badges say so, never a green Active.
    let bad = json!({"name": "Bad"});
    app.add_provider_key(&app.api_key, Provider::Openai, revoked_key(Provider::Openai), bad).await;
    chrome.open("/settings/integrations").await;
    chrome.click("#openai tr:has(.badge.active) form[action$='/test'] button").await;
    chrome.expect("Invalid API key").await;
    let header = chrome.find("#openai h2").await.text().await.unwrap();
    assert!(header.contains("Active · test · failing"), "{header}");
    assert!(chrome.has("#openai td .badge.bad").await, "the row says Active · failing");
    chrome.shot("integrations-failing").await;
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn an_admin_creates_a_project_gives_it_its_own_key_and_deletes_it() {
    let (app, _mocks) = app_and_mocks().await;
    let chrome = Chrome::start(&app, 1280).await;
    chrome.sign_in_with_key(&app.api_key).await;
    chrome.open("/settings/projects").await;
    chrome.fill("#project-name", "Website").await;
    chrome.click("main form.stack button[type=submit]").await;
    chrome.expect("Created project Website.").await;
    assert_eq!(chrome.path().await, "/settings/projects");

    chrome.click("a[href$='/keys/anthropic']").await;
    chrome.expect("Add Anthropic key for Website").await;
    chrome.fill("#anthropic-name", "Website-Claude").await;
    chrome.fill("#anthropic-secret", valid_key(Provider::Anthropic)).await;
    chrome.click("main form.stack button[type=submit]").await;
    let text = chrome.expect("Saved Website-Claude").await;
    assert!(text.contains("Own key"), "{text}");
    assert_eq!(chrome.path().await, "/settings/projects", "back on Projects");
    assert!(chrome.has("a[href$='/replace']").await, "Replace on the project's row");
    chrome.shot("projects-own-key").await;

    chrome.click("a[href$='/delete']").await;
    let text = chrome.expect("Delete project Website?").await;
    assert!(text.contains("Website-Claude"), "the keys that go with it are named: {text}");
    chrome.click("main form[action$='/delete'] button").await;
    chrome.expect("Deleted project Website and its own keys.").await;
    assert_eq!(app.get("/api/v1/projects", &app.api_key).await.body, json!({"data": []}));
    chrome.close().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver, installed by .ci/run"]
async fn on_a_phone_previews_stay_on_one_line_and_a_new_sign_in_link_names_who_it_is_for() {
    let (app, _mocks) = app_and_mocks().await;
    for (name, secret) in [("Old", valid_key(Provider::Openai)), ("New", "sk-proj-NEWopenaiKEY0123456789abcd")] {
        app.add_provider_key(&app.api_key, Provider::Openai, secret, json!({"name": name})).await;
    }
    let chrome = Chrome::start(&app, 375).await;
    chrome.sign_in_with_key(&app.api_key).await;
    chrome.open("/settings/integrations").await;
    chrome.expect("2 keys").await;
    // Each masked preview is one line box: it never wraps mid-token.
    let script = "return [...document.querySelectorAll('td.masked')].map(td => { \
                  const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length; })";
    let lines = chrome.client.execute(script, vec![]).await.unwrap();
    assert_eq!(lines, json!([1, 1]), "previews on one line at 375 px");
    let text = chrome.text().await;
    assert!(text.contains("Roll back") && text.find("New").unwrap() < text.find("Old").unwrap(), "{text}");
    chrome.shot("integrations-details-375px").await;

    // A member added, whose link went unused: a new one, naming who it signs in as.
    chrome.open("/settings/members").await;
    chrome.fill("#member-email", "late@default.example").await;
    chrome.click("main form.stack button[type=submit]").await;
    chrome.expect("Added late@default.example as member.").await;
    chrome.open("/settings/members").await;
    assert!(chrome.has("button.danger[disabled]").await, "the last owner's Remove is shown disabled");
    chrome.expect("The last owner can be neither removed nor demoted").await;
    chrome.click("button[aria-label='New sign-in link for late@default.example']").await;
    chrome.expect("A new sign-in link for late@default.example").await;
    let link = chrome.find("#sign-in-link").await.prop("value").await.unwrap().unwrap();
    chrome.shot("members-new-link-375px").await;
    chrome.sign_out().await;
    chrome.open(&link).await;
    chrome.expect("You will be signed in as late@default.example in default.").await;
    chrome.click("form button[type=submit]").await;
    chrome.at("/settings/integrations").await;
    chrome.close().await;
}
