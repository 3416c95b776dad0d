//! Settings → Projects over HTTP: an admin creates a project, adds its own key from its row and
//! replaces it from there, and deletes the project after a confirmation naming its keys; a
//! member reads the table and changes nothing.

use converra::Provider;
use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::{Options, spawn_app_with};
use serde_json::json;

use super::signed_in;

const PATH: &str = "/settings/projects";

#[tokio::test]
async fn an_admin_creates_a_project_adds_its_own_key_from_its_row_and_deletes_it_after_a_confirmation() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await;
    let owner = signed_in(&app, &app.api_key).await;
    let created = owner.submit(PATH, PATH, &[("name", "Website")]).await;
    assert_eq!((created.status, created.location()), (303, Some(PATH)), "{}", created.body);
    let page = owner.follow(created).await;
    assert!(page.body.contains("Created project Website."), "{}", page.body);
    let taken = owner.submit(PATH, PATH, &[("name", "Website")]).await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(taken.body.contains("A project named `Website` already exists"), "{}", taken.body);

    let projects = app.get("/api/v1/projects", &app.api_key).await.body;
    let id = projects["data"][0]["id"].as_str().unwrap().to_owned();
    let add = format!("{PATH}/{id}/keys/openai");
    assert!(page.body.contains(&format!(r#"href="{add}""#)), "Add own key on the row: {}", page.body);
    let form = owner.get(&add).await;
    assert!(form.body.contains("Add OpenAI key for Website"), "{}", form.body);
    assert!(
        form.body.contains(&format!(r#"<option value="{id}" selected"#)),
        "the scope is the project: {}",
        form.body
    );
    let fields = [
        ("provider", "openai"),
        ("name", "Website-OpenAI"),
        ("api_key", valid_key(Provider::Openai)),
        ("scope", id.as_str()),
        ("environment", "test"),
        ("test", "1"),
        ("back", PATH),
    ];
    let saved = owner.submit(&add, "/settings/integrations/keys", &fields).await;
    assert_eq!((saved.status, saved.location()), (303, Some(PATH)), "back to Projects: {}", saved.body);
    let page = owner.follow(saved).await;
    assert!(page.body.contains("Saved Website-OpenAI") && page.body.contains("Own key"), "{}", page.body);
    let keys = app.get(&format!("/api/v1/provider-keys?project_id={id}"), &app.api_key).await.body;
    let key_id = keys["data"][0]["id"].as_str().unwrap();
    assert!(page.body.contains(&format!("/settings/integrations/keys/{key_id}/replace")), "Replace on the row");

    let confirm = owner.get(&format!("{PATH}/{id}/delete")).await;
    assert!(
        confirm.body.contains("Delete project Website?") && confirm.body.contains("Website-OpenAI"),
        "{}",
        confirm.body
    );
    let deleted = owner.submit_and_follow(PATH, &format!("{PATH}/{id}/delete"), &[]).await;
    assert!(deleted.body.contains("Deleted project Website and its own keys."), "{}", deleted.body);
    assert_eq!(app.get("/api/v1/projects", &app.api_key).await.body, json!({"data": []}));

    // A member reads, and is offered nothing to change.
    app.post("/api/v1/projects", &app.api_key, json!({"name": "Docs"})).await;
    let (_, member_key) = app.member_key(&app.api_key, "member@default.example", "member").await;
    let member = signed_in(&app, &member_key).await;
    let seen = member.get(PATH).await;
    assert!(seen.body.contains("Docs") && !seen.body.contains("Create project") && !seen.body.contains("/delete"));
    let refused = member.submit(PATH, PATH, &[("name", "Mine")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}
