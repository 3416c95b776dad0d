//! The smaller things a person sees after a click (issue 28): who a sign-in link signs in as;
//! *Roll back* only for the key the active one replaced, *Make active* for any other; the active
//! key first and the header's count; previews that never wrap; *Remove* styled destructive; a
//! manual test's failure shown as the last test, not as traffic.

use converra::Provider;
use converra_test_kit::providers::{MockProviders, insufficient_quota, valid_key};
use converra_test_kit::{Options, spawn_app, spawn_app_with};
use serde_json::json;

use super::{Visitor, login_link, owner_email, signed_in};

const PAGE: &str = "/settings/integrations";

#[tokio::test]
async fn a_sign_in_link_page_says_who_it_signs_in_as_and_a_spent_one_says_why_not() {
    let app = spawn_app().await;
    let email = owner_email(&app).await;
    let link = login_link(&app, &email).await;
    let path = link.strip_prefix(&app.base_url).unwrap().to_owned();
    let visitor = Visitor::new(&app);
    let page = visitor.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("You will be signed in as <strong>{email}</strong> in <strong>default</strong>")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("Sign in as {email}")), "{}", page.body);
    assert_eq!(visitor.sign_in_with_link(&link).await.status, 303, "opening it did not spend it");

    let spent = Visitor::new(&app).get(&path).await;
    assert_eq!(spent.status, 401, "{}", spent.body);
    assert!(spent.body.contains("This sign-in link is invalid, already used or expired"), "{}", spent.body);
    assert!(!spent.body.contains("You will be signed in as"), "{}", spent.body);
    assert!(!spent.body.contains(r#"action="/sign-in/link/"#), "no button for a spent link: {}", spent.body);
    assert!(spent.body.contains(r#"action="/sign-in""#), "the API key form instead: {}", spent.body);
}

/// The ids of the page's key rows, in order.
fn row_ids(body: &str) -> Vec<String> {
    body.split(r#"<tr id="key-"#).skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect()
}

/// The actions cell of key `id`'s row.
fn row_of<'a>(body: &'a str, id: &str) -> &'a str {
    let start = body.find(&format!(r#"<tr id="key-{id}""#)).unwrap();
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

#[tokio::test]
async fn roll_back_only_for_the_key_the_active_one_replaced_and_the_active_key_first() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let owner = signed_in(&app, &app.api_key).await;
    let mut ids = Vec::new();
    for (name, secret) in [
        ("Oldest", valid_key(Provider::Openai)),
        ("Middle", "sk-proj-MIDDLEopenaiKEY0123456789mmmm"),
        ("Newest", "sk-proj-NEWESTopenaiKEY0123456789nnnn"),
    ] {
        let key = app.add_provider_key(&app.api_key, Provider::Openai, secret, json!({"name": name})).await;
        ids.push(key["id"].as_str().unwrap().to_owned());
        // Distinct instants, so "added after" has a meaning.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let [oldest, middle, newest] = [&ids[0], &ids[1], &ids[2]];
    let page = owner.get(PAGE).await;
    assert_eq!(row_ids(&page.body)[0], *newest, "the active key first");
    assert!(page.body.contains(r#"<span class="muted count">3 keys</span>"#), "{}", page.body);
    assert!(row_of(&page.body, middle).contains(">Roll back<"), "Middle was active before Newest");
    assert!(row_of(&page.body, oldest).contains(">Make active<") && !row_of(&page.body, oldest).contains("Roll back"));
    assert!(row_of(&page.body, newest).contains(r#"<a class="button danger" href="/settings/integrations/keys/"#));
    assert!(row_of(&page.body, newest).contains(r#"<td class="masked">sk-proj-…nnnn</td>"#));

    // Oldest made active: Newest, which it replaced, is the one to roll back to.
    owner.submit_and_follow(PAGE, &format!("{PAGE}/keys/{oldest}/activate"), &[]).await;
    let page = owner.get(PAGE).await;
    assert_eq!(row_ids(&page.body)[0], *oldest, "the active key first");
    assert!(row_of(&page.body, newest).contains(">Roll back<"));
    assert!(row_of(&page.body, middle).contains(">Make active<"));

    let css = owner.get("/assets/style.css").await.body;
    assert!(css.contains(".masked { white-space: nowrap;"), "a preview never wraps mid-token");
    assert!(css.contains("input[type=number]"), "the rotation-days input is styled like the others");
}

#[tokio::test]
async fn a_manual_test_failure_is_the_last_test_not_traffic() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let owner = signed_in(&app, &app.api_key).await;
    let quota = "sk-proj-QUOTAopenaiKEY0123456789qqqq";
    mocks.answer_models(Provider::Openai, quota, insufficient_quota()).await;
    let dry = app.add_provider_key(&app.api_key, Provider::Openai, quota, json!({"name": "Dry"})).await;
    let id = dry["id"].as_str().unwrap();
    let tested = owner.submit_and_follow(PAGE, &format!("{PAGE}/keys/{id}/test"), &[]).await;
    let row = row_of(&tested.body, id);
    assert!(row.contains("Quota exceeded"), "the last test says it: {row}");
    assert_eq!(row.matches("Quota exceeded").count(), 1, "once, as the last test, not as traffic: {row}");
    assert!(!row.contains("×"), "no count of failed completions: {row}");
    assert!(row.contains("No failed completions"), "{row}");
}

#[tokio::test]
async fn the_last_owner_is_shown_locked_with_the_reason_and_members_see_who_the_admins_are() {
    let app = spawn_app().await;
    let owner = signed_in(&app, &app.api_key).await;
    let email = owner_email(&app).await;
    let (_, member) = app.member_key(&app.api_key, "member@default.example", "member").await;
    app.member_key(&app.api_key, "ops@default.example", "admin").await;

    let page = owner.get("/settings/members").await;
    let reason = "The last owner can be neither removed nor demoted: make another member owner first.";
    assert!(page.body.contains(reason), "{}", page.body);
    assert!(page.body.contains(r#"<button class="danger" type="button" disabled>Remove</button>"#), "{}", page.body);
    assert!(page.body.contains(&format!(r#"aria-label="Role of {email}" disabled"#)), "{}", page.body);
    assert_eq!(page.body.matches(r#"<a class="button danger""#).count(), 2, "the others keep their Remove");

    // With a second owner neither is the last.
    let ops_id = app.get("/api/v1/members", &app.api_key).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "ops@default.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .submit_and_follow("/settings/members", &format!("/settings/members/{ops_id}/role"), &[("role", "owner")])
        .await;
    assert!(!owner.get("/settings/members").await.body.contains(reason));

    let seen = signed_in(&app, &member).await.get("/settings/members").await;
    assert!(seen.body.contains("Admins and owners"), "{}", seen.body);
    assert!(seen.body.contains(&format!("{email} <span class=\"muted\">(owner)</span>")), "{}", seen.body);
    assert!(seen.body.contains("ops@default.example <span class=\"muted\">(owner)</span>"), "{}", seen.body);
    let managers = &seen.body[seen.body.find(r#"id="managers""#).unwrap()..];
    assert!(!managers.contains("member@default.example"), "members are not listed: {managers}");
}

#[tokio::test]
async fn a_plain_member_opening_a_connect_link_is_told_to_pass_it_to_an_admin() {
    let app = spawn_app().await;
    let email = owner_email(&app).await;
    let link = app
        .post("/api/v1/provider-keys/connect-links", &app.api_key, json!({"provider": "anthropic", "name": "Claude"}))
        .await;
    let url = link.body["url"].as_str().unwrap().to_owned();
    let (_, member) = app.member_key(&app.api_key, "member@default.example", "member").await;
    let refused = signed_in(&app, &member).await.get(&url).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("Pass this link to an admin"), "{}", refused.body);
    assert!(refused.body.contains(&format!("{email} <span class=\"muted\">(owner)</span>")), "{}", refused.body);
    assert!(!refused.body.contains(r#"name="api_key""#), "no form for a member: {}", refused.body);
}

#[tokio::test]
async fn failed_completions_are_shown_by_outcome_beside_the_totals_of_a_month_one_picks() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let secret = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, secret, json!({"name": "Main"})).await;
    let claude = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, claude, json!({"name": "Claude"})).await;
    mocks.answer_text(Provider::Anthropic, claude, "claude-sonnet-4-5", "hello").await;
    let broken = wiremock::ResponseTemplate::new(500).set_body_string("upstream exploded");
    mocks.answer_chat(Provider::Openai, secret, "gpt-4o", false, broken).await;
    let ask = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(app.post("/api/v1/completions", &app.api_key, ask("claude-sonnet-4-5")).await.status, 200);
    for _ in 0..5 {
        let failed = app.post("/api/v1/completions", &app.api_key, ask("gpt-4o")).await;
        assert_eq!(failed.status, 502, "{}", failed.text);
    }

    let report = app.get("/api/v1/usage", &app.api_key).await.body;
    assert_eq!(report["totals"]["requests"], 1, "{report}");
    let outcomes = report["by_outcome"].as_array().unwrap();
    let ok = outcomes.iter().find(|g| g["key"] == "ok").unwrap();
    assert_eq!(ok["requests"], 1, "{report}");
    let failed: u64 = outcomes.iter().filter(|g| g["key"] != "ok").map(|g| g["requests"].as_u64().unwrap()).sum();
    assert_eq!(failed, 5, "{report}");

    let owner = signed_in(&app, &app.api_key).await;
    let page = owner.get("/settings/usage").await;
    assert!(page.body.contains("<strong>1 completion</strong> succeeded"), "{}", page.body);
    assert!(page.body.contains("5 completions of 6 attempts failed: "), "{}", page.body);
    for heading in
        ["<th>Outcome</th>", "<th>Provider</th>", "<th>Model</th>", "<th>Key source</th>", "<th>Project</th>"]
    {
        assert!(page.body.contains(heading), "{heading}: {}", page.body);
    }
    let month = report["month"].as_str().unwrap();
    assert!(
        page.body.contains(&format!(r#"<input id="month" type="month" name="month" value="{month}""#)),
        "{}",
        page.body
    );
    let earlier = owner.get("/settings/usage?month=2020-01").await;
    assert_eq!(earlier.status, 200, "{}", earlier.body);
    assert!(earlier.body.contains("In 2020-01: <strong>0 completions</strong>"), "{}", earlier.body);
    assert!(!earlier.body.contains("failed: "), "{}", earlier.body);
}
