//! Converra API keys: shown once, never listed, each member's own, and who may create
//! which.

use super::*;

#[tokio::test]
async fn a_new_key_is_shown_once_and_never_listed() {
    let app = spawn_app().await;
    let created =
        app.post("/api/v1/api-keys", &app.api_key, json!({"name": "Production", "environment": "live"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = str_of(&created.body, "key").to_owned();
    assert!(secret.starts_with("sk_live_"), "{secret}");
    assert_eq!(created.body["name"], "Production");
    assert_eq!(created.body["environment"], "live");
    assert_eq!(created.body["last_four"], &secret[secret.len() - 4..]);
    assert!(secret.starts_with(str_of(&created.body, "prefix")));
    assert!(created.body["created_at"].is_string());

    let test_key = create_api_key(&app, &app.api_key, json!({"name": "Dev"})).await.1;
    assert!(test_key.starts_with("sk_test_"), "defaults to the caller's environment: {test_key}");

    let list = app.get("/api/v1/api-keys", &app.api_key).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 3);
    for answer in [&list, &app.get("/api/v1/me", &secret).await, &app.get("/api/v1/audit-events", &app.api_key).await] {
        for s in [&secret, &test_key, &app.api_key] {
            assert!(!answer.text.contains(s.as_str()), "a secret leaked into {}", answer.text);
            // Not even the random middle of it.
            assert!(!answer.text.contains(&s[14..40]), "part of a secret leaked into {}", answer.text);
        }
        assert!(!answer.text.contains("\"key\""), "{}", answer.text);
    }
    let listed = list.body["data"].as_array().unwrap().iter().find(|k| k["name"] == "Production").unwrap();
    assert_eq!(listed["last_four"], &secret[secret.len() - 4..]);
    assert!(listed["prefix"].as_str().unwrap().starts_with("sk_live_"));
    // The live key works and acts as the owner.
    let me = app.get("/api/v1/me", &secret).await;
    assert_eq!(me.body["api_key"]["environment"], "live");
    assert_eq!(me.body["member"]["role"], "owner");
}

#[tokio::test]
async fn a_member_sees_and_revokes_only_their_own_keys() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let (_, other_member) = app.member_key(&app.api_key, "n@example.com", "member").await;
    let (own_id, _) = create_api_key(&app, &member, json!({"name": "my laptop"})).await;
    let (others_id, _) = create_api_key(&app, &other_member, json!({"name": "their laptop"})).await;
    let owner_key_id = str_of(&app.get("/api/v1/me", &app.api_key).await.body["api_key"], "id").to_owned();

    let list = app.get("/api/v1/api-keys", &member).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body["data"].as_array().unwrap().iter().all(|k| k["member_id"] == member_id.as_str()),
        "{}",
        list.text
    );
    let listed = ids(&list);
    assert_eq!(listed.len(), 2, "the key the owner made for them and their own: {listed:?}");
    assert!(listed.contains(&own_id));

    // Another member's or the owner's key answers exactly like a missing one.
    let missing = app.delete("/api/v1/api-keys/key_00000000000000000000000000000000", &member).await;
    missing.assert_code(404, "NOT_FOUND");
    for id in [&others_id, &owner_key_id] {
        let answer = app.delete(&format!("/api/v1/api-keys/{id}"), &member).await;
        assert_eq!(answer.text, missing.text);
        assert_eq!(answer.status, 404);
    }
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200, "the owner's key still works");
    // A member may not create a key for someone else either.
    app.post("/api/v1/api-keys", &member, json!({"name": "x", "member_id": app.owner_id}))
        .await
        .assert_code(403, "FORBIDDEN");
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{own_id}"), &member).await.status, 204);
}

#[tokio::test]
async fn an_admin_creates_keys_for_members_but_not_for_equal_or_higher_roles() {
    let app = spawn_app().await;
    let (_, admin) = app.member_key(&app.api_key, "admin@example.com", "admin").await;
    let (other_admin_id, _) = app.member_key(&app.api_key, "admin2@example.com", "admin").await;
    let member = app.post("/api/v1/members", &app.api_key, json!({"email": "m@example.com", "role": "member"})).await;
    let member_id = str_of(&member.body, "id").to_owned();

    let for_member = app.post("/api/v1/api-keys", &admin, json!({"name": "for m", "member_id": member_id})).await;
    assert_eq!(for_member.status, 201, "{}", for_member.text);
    assert_eq!(for_member.body["member_id"], member_id.as_str());
    let key = str_of(&for_member.body, "key").to_owned();
    let me = app.get("/api/v1/me", &key).await;
    assert_eq!(me.body["member"]["id"], member_id.as_str());
    assert_eq!(me.body["member"]["role"], "member");

    for target in [&app.owner_id, &other_admin_id] {
        app.post("/api/v1/api-keys", &admin, json!({"name": "escalate", "member_id": target}))
            .await
            .assert_code(403, "FORBIDDEN");
    }
    // The owner may create a key for an admin.
    let by_owner = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "ok", "member_id": other_admin_id})).await;
    assert_eq!(by_owner.status, 201, "{}", by_owner.text);
}

/// An expiry written in a far-west offset is a time like any other: the key counts toward the
/// cap. (`…-23:00` reads a day "earlier" than the same instant in UTC; stored as written, such
/// keys were never counted, and a member on the free plan held as many as they liked.)
#[tokio::test]
async fn keys_expiring_in_a_far_west_offset_count_toward_the_cap() {
    let app = spawn_app().await;
    // Two hours from now, written at -23:00: the wall clock there is 21 hours behind ours.
    let in_two_hours = unix_now() + 2 * 3600;
    let far_west = rfc3339(in_two_hours - 23 * 3600).replace('Z', "-23:00");
    // The free plan allows 10 active keys per member; the owner holds the bootstrap key.
    for i in 0..9 {
        let key =
            app.post("/api/v1/api-keys", &app.api_key, json!({"name": format!("k{i}"), "expires_at": far_west})).await;
        assert_eq!(key.status, 201, "{}", key.text);
        assert_eq!(key.body["expires_at"], rfc3339(in_two_hours), "the expiry answers in UTC");
    }
    let refused =
        app.post("/api/v1/api-keys", &app.api_key, json!({"name": "one too many", "expires_at": far_west})).await;
    refused.assert_error(
        409,
        "API_KEY_LIMIT",
        "This member already has 10 active API keys, the most the plan allows: revoke one first",
    );
    let listed = app.get("/api/v1/api-keys", &app.api_key).await;
    let expiring = listed.body["data"].as_array().unwrap().iter().filter(|k| k["expires_at"] == rfc3339(in_two_hours));
    assert_eq!(expiring.count(), 9, "listed in UTC: {}", listed.text);
}
