//! Tenant isolation: another organization's ids answer exactly like missing ids.

use super::*;

#[tokio::test]
async fn another_organization_s_ids_answer_404_exactly_like_missing_ids() {
    let app = spawn_app().await;
    // Organization A (default) has a member, a project and an API key.
    let member = app.post("/api/v1/members", &app.api_key, json!({"email": "a@example.com", "role": "member"})).await;
    let member_id = str_of(&member.body, "id").to_owned();
    let project_id = create_project(&app, &app.api_key, "A's project").await;
    let (key_id, key_a) = create_api_key(&app, &app.api_key, json!({"name": "A's key"})).await;

    let b = app.new_org("bcorp", Plan::Pro).await;
    let random = |prefix: &str| format!("{prefix}_0190000000007000800000000000abcd");

    let cases: Vec<(Method, String, String, Option<Value>)> = vec![
        (Method::PATCH, format!("/api/v1/members/{member_id}"), random("mem"), Some(json!({"role": "admin"}))),
        (Method::DELETE, format!("/api/v1/members/{member_id}"), random("mem"), None),
        (Method::DELETE, format!("/api/v1/members/{}", app.owner_id), random("mem"), None),
        (Method::GET, format!("/api/v1/projects/{project_id}"), random("prj"), None),
        (Method::DELETE, format!("/api/v1/projects/{project_id}"), random("prj"), None),
        (Method::DELETE, format!("/api/v1/api-keys/{key_id}"), random("key"), None),
    ];
    for (method, foreign, missing, body) in cases {
        let send = |path: String| {
            let mut request = app.request(method.clone(), &path, &b);
            if let Some(body) = &body {
                request = request.json(body);
            }
            async move { Answer::of(request.send().await.unwrap()).await }
        };
        let foreign_answer = send(foreign.clone()).await;
        let missing_path = format!("{}/{missing}", foreign.rsplit_once('/').unwrap().0);
        let missing_answer = send(missing_path).await;
        assert_eq!(foreign_answer.status, 404, "{method} {foreign}: {}", foreign_answer.text);
        assert_eq!(foreign_answer.body["error"]["code"], "NOT_FOUND");
        assert_eq!(foreign_answer.text, missing_answer.text, "{method} {foreign}");
    }
    // B cannot create a key for A's member either.
    app.post("/api/v1/api-keys", &b, json!({"name": "x", "member_id": member_id})).await.assert_code(404, "NOT_FOUND");

    // B's lists show none of A's objects.
    for path in ["/api/v1/members", "/api/v1/projects", "/api/v1/api-keys", "/api/v1/audit-events"] {
        let list = app.get(path, &b).await;
        assert_eq!(list.status, 200, "{path}: {}", list.text);
        for id in [&member_id, &project_id, &key_id, &app.owner_id, &app.org_id] {
            assert!(!list.text.contains(id.as_str()), "{path} of B shows A's {id}");
        }
    }
    // And everything of A is untouched.
    assert_eq!(app.get("/api/v1/me", &key_a).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/projects/{project_id}"), &app.api_key).await.status, 200);
    assert!(ids(&app.get("/api/v1/members", &app.api_key).await).contains(&member_id));
    assert_eq!(app.get("/api/v1/me", &b).await.body["organization"]["name"], "bcorp");
}
