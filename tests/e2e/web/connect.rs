//! Connect links over HTTP: from an MCP tool call without `api_key` to the key listed by
//! `list_provider_keys`, with the secret typed only into the page; and the same link refused
//! when used twice, expired, or opened by another organization's admin or by a plain member.

use converra::Plan;
use converra::Provider;
use converra_test_kit::mcp::{call, connect};
use converra_test_kit::providers::valid_key;
use converra_test_kit::{Options, app_with_mocks, spawn_app_with};
use serde_json::{Value, json};

use super::{Visitor, owner_email, signed_in};

fn structured(result: &rmcp::model::CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "{result:?}");
    result.structured_content.clone().expect("structured content")
}

#[tokio::test]
async fn an_agent_asks_for_a_link_and_the_admin_stores_the_key_in_the_browser() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let agent = connect(&app, &app.api_key).await;
    let answer =
        call(&agent, "add_provider_key", json!({"provider": "openai", "name": "Production", "environment": "live"}))
            .await;
    let answer = structured(&answer);
    let url = answer["connect_link"]["url"].as_str().expect("a connect link").to_owned();
    assert!(url.starts_with(&format!("{}/connect/", app.base_url)), "{url}");
    assert!(answer["next_step"].as_str().unwrap().contains(&url));
    assert_eq!(answer["connect_link"]["name"], "Production");
    assert!(answer.get("id").is_none(), "nothing stored yet");

    let admin = signed_in(&app, &app.api_key).await;
    let page = admin.get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for words in ["Connect OpenAI", "Production", "default", &owner_email(&app).await, "Test before saving"] {
        assert!(page.body.contains(words), "the page names {words}: {}", page.body);
    }
    assert_eq!(admin.get(&url).await.status, 200, "opening the page twice consumes nothing");

    let secret = valid_key(Provider::Openai);
    let saved = admin.submit(&url, &url, &[("api_key", secret), ("test", "1")]).await;
    assert_eq!((saved.status, saved.location()), (303, Some("/settings/integrations")), "{}", saved.body);
    let saved = admin.follow(saved).await;
    assert!(saved.body.contains("Saved Production") && saved.body.contains("Connection successful"), "{}", saved.body);
    assert!(!saved.body.contains(secret), "the secret is never rendered back");

    let listed = structured(&call(&agent, "list_provider_keys", json!({"provider": "openai"})).await);
    assert_eq!(listed["data"][0]["name"], "Production");
    assert_eq!((listed["data"][0]["active"].clone(), listed["data"][0]["status"].clone()), (json!(true), json!("ok")));

    // Used: the same link is refused, opened or posted.
    let reopened = admin.get(&url).await;
    assert_eq!(reopened.status, 404);
    assert!(reopened.body.contains("This link is no longer valid"), "{}", reopened.body);
    let csrf = admin.get("/settings/integrations").await.csrf();
    assert_eq!(admin.post(&url, &[("csrf", &csrf), ("api_key", secret)]).await.status, 404);
}

#[tokio::test]
async fn a_link_is_refused_to_other_organizations_to_members_and_after_ten_minutes() {
    let app = spawn_app_with(Options::sqlite_file()).await;
    let link = app
        .post("/api/v1/provider-keys/connect-links", &app.api_key, json!({"provider": "anthropic", "name": "Claude"}))
        .await;
    assert_eq!(link.status, 201, "{}", link.text);
    let url = link.body["url"].as_str().unwrap().to_owned();

    let stranger = app.new_org("globex", Plan::Free).await;
    assert_eq!(signed_in(&app, &stranger).await.get(&url).await.status, 404, "another organization's admin");
    let (_, member) = app.member_key(&app.api_key, "member@default.example", "member").await;
    let refused = signed_in(&app, &member).await.get(&url).await;
    assert_eq!(refused.status, 403, "a plain member");
    assert!(Visitor::new(&app).get(&url).await.location() == Some("/sign-in"), "nobody signed in");
    // Members cannot ask for one either.
    let asked =
        app.post("/api/v1/provider-keys/connect-links", &member, json!({"provider": "openai", "name": "x"})).await;
    assert_eq!((asked.status, asked.body["error"]["code"].as_str()), (403, Some("FORBIDDEN")));

    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.execute("UPDATE web_tokens SET expires_at = 1", []).unwrap();
    assert_eq!(signed_in(&app, &app.api_key).await.get(&url).await.status, 404, "expired");
    let token = url.rsplit('/').next().unwrap();
    assert!(!String::from_utf8_lossy(&app.raw_database()).contains(token), "stored hashed");
}

#[tokio::test]
async fn a_rejected_key_keeps_the_link_usable_and_stores_nothing() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let link = app
        .sdk(&app.api_key)
        .provider_keys()
        .connect_link(converra::CreateConnectLink::new(Provider::Openai, "Production"))
        .await
        .unwrap();
    let admin = signed_in(&app, &app.api_key).await;
    let refused = admin
        .submit(
            &link.url,
            &link.url,
            &[("api_key", converra_test_kit::providers::revoked_key(Provider::Openai)), ("test", "1")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Invalid API key: the key was not saved."), "{}", refused.body);
    assert_eq!(app.get("/api/v1/provider-keys", &app.api_key).await.body, json!({"data": []}));
    let saved = admin.submit(&link.url, &link.url, &[("api_key", valid_key(Provider::Openai)), ("test", "1")]).await;
    assert_eq!(saved.status, 303, "the link still works for the right key: {}", saved.body);
}

#[tokio::test]
async fn a_link_for_a_project_key_names_the_project_and_stores_the_key_there() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let project = app.post("/api/v1/projects", &app.api_key, json!({"name": "Website"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ask = json!({"provider": "gemini", "name": "Site", "project_id": project, "environment": "test"});
    let link = app.post("/api/v1/provider-keys/connect-links", &app.api_key, ask).await;
    assert_eq!((link.status, link.body["project_id"].as_str()), (201, Some(project.as_str())), "{}", link.text);
    let url = link.body["url"].as_str().unwrap();
    let admin = signed_in(&app, &app.api_key).await;
    let page = admin.get(url).await;
    assert!(page.body.contains("Scope: Project Website · Environment: test"), "{}", page.body);
    let saved = admin.submit(url, url, &[("api_key", valid_key(Provider::Gemini))]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let keys = app.get(&format!("/api/v1/provider-keys?project_id={project}"), &app.api_key).await.body;
    assert_eq!(
        (keys["data"][0]["scope"].as_str(), keys["data"][0]["status"].as_str()),
        (Some("project"), Some("untested"))
    );
    // A link for a project that does not exist is never made.
    let ghost = json!({"provider": "gemini", "name": "x", "project_id": "prj_00000000000000000000000000000000"});
    assert_eq!(app.post("/api/v1/provider-keys/connect-links", &app.api_key, ghost).await.status, 404);
}
