//! API keys bound to a project: a bound key's calls act in its project whether or not they name
//! it (so its usage and budget are that project's), naming another is refused on REST and on
//! the agent endpoints, a key it creates is bound too, and a project of another organization
//! cannot be bound.

use converra::Provider;
use converra_test_kit::providers::{chat_answer, valid_key};
use converra_test_kit::{app_with_mocks, id_of};
use serde_json::{Value, json};

const REFUSED: &str =
    "This API key is bound to a project and cannot act in another: leave the project out, or use a key of that project";

#[tokio::test]
async fn a_bound_keys_calls_belong_to_its_project_and_cannot_name_another() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    mocks
        .answer_chat(Provider::Openai, key, "gpt-4o-mini", false, chat_answer(Provider::Openai, "gpt-4o-mini", "Hi"))
        .await;
    let agents = id_of(&app.post("/api/v1/projects", &app.api_key, json!({"name": "agents"})).await.body);
    let billing = id_of(&app.post("/api/v1/projects", &app.api_key, json!({"name": "billing"})).await.body);

    let created = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "agent", "project_id": agents})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["project_id"], agents.as_str());
    let bound = created.body["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &bound).await.body["api_key"]["project_id"], agents.as_str());

    let ask = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}]});
    assert_eq!(app.post("/api/v1/completions", &bound, ask.clone()).await.status, 200, "no project named: its own");
    let mut own = ask.clone();
    own["project_id"] = json!(agents);
    assert_eq!(app.post("/api/v1/completions", &bound, own).await.status, 200, "its own, named");
    let mut other = ask.clone();
    other["project_id"] = json!(billing);
    app.post("/api/v1/completions", &bound, other.clone()).await.assert_error(403, "FORBIDDEN", REFUSED);
    let agent = app
        .request(reqwest::Method::POST, "/v1/chat/completions", &bound)
        .header("x-converra-project", &billing)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(agent.status(), 403, "the agent endpoint refuses another project too");
    // An unbound key may name any project of its organization.
    assert_eq!(app.post("/api/v1/completions", &app.api_key, other).await.status, 200);

    let usage = app.get("/api/v1/usage", &app.api_key).await;
    let by_project: Vec<(Value, Value)> = usage.body["by_project"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), g["requests"].clone()))
        .collect();
    assert_eq!(by_project, [(json!(agents), json!(2)), (json!(billing), json!(1))], "{}", usage.text);

    // A key the bound key creates is bound to the same project; it cannot make an unbound one.
    let child = app.post("/api/v1/api-keys", &bound, json!({"name": "child"})).await;
    assert_eq!(child.status, 201, "{}", child.text);
    assert_eq!(child.body["project_id"], agents.as_str());
    app.post("/api/v1/api-keys", &bound, json!({"name": "escape", "project_id": billing})).await.assert_error(
        403,
        "FORBIDDEN",
        REFUSED,
    );
}

#[tokio::test]
async fn a_key_cannot_be_bound_to_another_organizations_project() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let rival = app.new_org("rival", converra::Plan::Free).await;
    let theirs = id_of(&app.post("/api/v1/projects", &rival, json!({"name": "theirs"})).await.body);
    app.post("/api/v1/api-keys", &app.api_key, json!({"name": "x", "project_id": theirs})).await.assert_error(
        404,
        "NOT_FOUND",
        "Project not found",
    );
}
