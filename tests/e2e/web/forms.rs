//! Post-redirect-get over HTTP: every address a form posts to, opened as a page (a reload, a
//! bookmark, a shared URL), answers with a page or a redirect to one, never another face's
//! JSON; any other address under `/settings`, `/connect` and `/sign-in` is a page with the
//! navigation; a failed Add keeps its form open with what was typed (never the secret) and the
//! error beside the field.

use std::collections::BTreeSet;

use converra::Provider;
use converra_test_kit::providers::{MockProviders, revoked_key, valid_key};
use converra_test_kit::{Options, spawn_app_with};
use serde_json::json;

use super::{Page, signed_in};

const PAGES: [&str; 6] = [
    "/settings/integrations",
    "/settings/projects",
    "/settings/ai",
    "/settings/usage",
    "/settings/api-keys",
    "/settings/members",
];

/// The `action` of every form on the page that posts.
fn post_actions(page: &Page) -> Vec<String> {
    page.body
        .match_indices(r#"<form"#)
        .filter_map(|(at, _)| {
            let tag = &page.body[at..at + page.body[at..].find('>').unwrap()];
            let action = tag.split(r#"action=""#).nth(1)?;
            tag.contains(r#"method="post""#).then(|| action[..action.find('"').unwrap()].to_owned())
        })
        .collect()
}

/// The confirmation and form pages a page links to (Remove, Revoke, Replace…).
fn form_links(page: &Page) -> Vec<String> {
    page.body
        .split(r#"href=""#)
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .filter(|href| href.starts_with("/settings/") && href.matches('/').count() > 3)
        .collect()
}

/// A page for people: HTML, with the settings navigation (or the sign-in form).
fn assert_page(page: &Page, what: &str) {
    let kind = page.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(kind.starts_with("text/html"), "{what}: {} {kind} {}", page.status, page.body);
    assert!(!page.body.trim_start().starts_with('{'), "{what}: never JSON: {}", page.body);
    assert!(
        page.body.contains(r#"<nav aria-label="Settings">"#) || page.body.contains("Sign in"),
        "{what}: {}",
        page.body
    );
}

#[tokio::test]
async fn every_form_address_opened_as_a_page_redirects_or_renders_one_never_json() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({"name": "Second"})).await;
    app.member_key(&app.api_key, "member@default.example", "member").await;
    app.post("/api/v1/projects", &app.api_key, json!({"name": "Website"})).await;
    app.post("/api/v1/api-keys", &app.api_key, json!({"name": "CI"})).await;
    let link =
        app.post("/api/v1/provider-keys/connect-links", &app.api_key, json!({"provider": "gemini", "name": "G"}));
    let link = link.await.body["url"].as_str().unwrap().to_owned();
    let owner = signed_in(&app, &app.api_key).await;

    let mut actions = BTreeSet::new();
    let mut pages: BTreeSet<String> = PAGES.iter().map(|p| p.to_string()).chain([link.clone()]).collect();
    let mut seen = BTreeSet::new();
    while let Some(path) = pages.pop_first() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let page = owner.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        actions.extend(post_actions(&page));
        pages.extend(form_links(&page).into_iter().filter(|l| !seen.contains(l)));
    }
    // Every kind of form is there to be checked (a page that lost its forms would pass).
    for kind in [
        "/sign-out",
        "/keys",
        "/replace",
        "/test",
        "/activate",
        "/remove",
        "/revoke",
        "/role",
        "/settings/ai",
        "/connect/",
    ] {
        assert!(actions.iter().any(|a| a.contains(kind)), "no {kind} form among {actions:?}");
    }
    actions.insert("/sign-in".into());
    for action in &actions {
        let opened = owner.get(action).await;
        assert!(matches!(opened.status, 200 | 303), "GET {action}: {} {}", opened.status, opened.body);
        let landed = owner.follow(opened).await;
        assert_eq!(landed.status, 200, "GET {action} lands on a page: {}", landed.body);
        assert_page(&landed, &format!("GET {action}"));
    }
    // Opening the sign-out address signs nobody out (a link must not).
    assert_eq!(owner.get("/settings/integrations").await.status, 200);

    // Any other address under the web's prefixes, or a method a form address does not take.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie = format!("converra_session={}", owner.session().unwrap());
    for (method, path) in [
        ("GET", "/settings/nothing-here"),
        ("GET", "/settings/integrations/keys/pk_x/nothing"),
        ("GET", "/sign-in/elsewhere"),
        ("GET", &format!("{}/more", link.trim_start_matches(&app.base_url)) as &str),
        ("PUT", "/settings/integrations/keys"),
        ("DELETE", "/settings/members"),
        ("GET", "/settings/integrations/keys/pk_00000000000000000000000000000000/remove"),
    ] {
        let answer =
            http.request(method.parse().unwrap(), app.url(path)).header("cookie", &cookie).send().await.unwrap();
        let page = Page {
            status: answer.status().as_u16(),
            headers: answer.headers().clone(),
            body: answer.text().await.unwrap(),
        };
        assert!(page.status >= 400, "{method} {path}: {}", page.status);
        assert_page(&page, &format!("{method} {path}"));
    }
}

#[tokio::test]
async fn a_form_that_succeeds_answers_with_a_redirect_and_the_next_page_says_what_happened_once() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let owner = signed_in(&app, &app.api_key).await;
    let page = "/settings/integrations";
    let add = [
        ("provider", "openai"),
        ("name", "Production"),
        ("api_key", valid_key(Provider::Openai)),
        ("scope", "organization"),
        ("environment", "test"),
        ("test", "1"),
    ];
    let saved = owner.submit(page, "/settings/integrations/keys", &add).await;
    assert_eq!((saved.status, saved.location()), (303, Some(page)), "{}", saved.body);
    let shown = owner.follow(saved).await;
    assert!(shown.body.contains("Saved Production: it is now the active test OpenAI key."), "{}", shown.body);
    let again = owner.get(page).await;
    assert!(!again.body.contains("Saved Production"), "a reload shows the page, not the notice again");
    assert_eq!(app.get("/api/v1/provider-keys", &app.api_key).await.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_add_keeps_its_form_open_with_its_values_but_the_secret_and_the_error_beside_the_field() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let project = app.post("/api/v1/projects", &app.api_key, json!({"name": "Website"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner = signed_in(&app, &app.api_key).await;
    let secret = revoked_key(Provider::Openai);
    let add = [
        ("provider", "openai"),
        ("name", "Website-OpenAI"),
        ("api_key", secret),
        ("scope", project.as_str()),
        ("environment", "test"),
        ("test", "1"),
    ];
    let refused = owner.submit("/settings/integrations", "/settings/integrations/keys", &add).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let body = &refused.body;
    assert!(body.contains(r#"<details open"#), "the form stays open: {body}");
    assert!(body.contains(r#"value="Website-OpenAI""#), "the name is kept: {body}");
    assert!(body.contains(&format!(r#"<option value="{project}" selected"#)), "the scope is kept: {body}");
    assert!(body.contains(r#"<option value="test" selected"#), "the environment is kept: {body}");
    assert!(!body.contains(secret), "the secret is never written back");
    let beside = r#"aria-describedby="openai-api_key-error""#;
    assert!(body.contains(beside), "the secret's field names its error: {body}");
    let error = body.split(r#"id="openai-api_key-error""#).nth(1).expect("the error beside the field");
    assert!(error.contains("Invalid API key: the key was not saved."), "{body}");

    // Replace fails the same way, on its own page.
    let key =
        app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({"name": "Old"})).await;
    let replace = format!("/settings/integrations/keys/{}/replace", key["id"].as_str().unwrap());
    let fields = [
        ("provider", "openai"),
        ("name", "New"),
        ("api_key", secret),
        ("scope", "organization"),
        ("environment", "test"),
        ("test", "1"),
    ];
    let refused = owner.submit(&replace, &replace, &fields).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Replace Old") && refused.body.contains(r#"value="New""#), "{}", refused.body);
    assert!(!refused.body.contains(secret));
}
