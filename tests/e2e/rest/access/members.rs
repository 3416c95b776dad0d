//! Members and roles: who may manage whom, the last owner, duplicates, removal.

use super::*;

#[tokio::test]
async fn an_admin_can_manage_members_but_cannot_make_an_owner() {
    let app = spawn_app().await;
    let (_, admin) = app.member_key(&app.api_key, "admin@example.com", "admin").await;

    let created = app.post("/api/v1/members", &admin, json!({"email": "dev@example.com", "role": "member"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let dev = str_of(&created.body, "id").to_owned();
    assert_eq!(created.body["role"], "member");
    assert_eq!(created.body["email"], "dev@example.com");

    app.post("/api/v1/members", &admin, json!({"email": "boss@example.com", "role": "owner"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.patch(&format!("/api/v1/members/{dev}"), &admin, json!({"role": "owner"})).await.assert_code(403, "FORBIDDEN");
    // ... nor demote or remove the owner.
    app.patch(&format!("/api/v1/members/{}", app.owner_id), &admin, json!({"role": "member"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.delete(&format!("/api/v1/members/{}", app.owner_id), &admin).await.assert_code(403, "FORBIDDEN");

    let promoted = app.patch(&format!("/api/v1/members/{dev}"), &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.body["role"], "admin");

    let members = app.get("/api/v1/members", &admin).await;
    assert_eq!(members.status, 200);
    let roles: Vec<(String, String)> = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (str_of(m, "email").to_owned(), str_of(m, "role").to_owned()))
        .collect();
    assert!(roles.contains(&("owner@converra.local".into(), "owner".into())), "{roles:?}");
    assert!(roles.contains(&("dev@example.com".into(), "admin".into())), "{roles:?}");
    assert!(!roles.iter().any(|(e, _)| e == "boss@example.com"), "the refused owner was not created");
}

#[tokio::test]
async fn a_member_cannot_list_or_manage_members() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    app.get("/api/v1/members", &member).await.assert_code(403, "FORBIDDEN");
    app.post("/api/v1/members", &member, json!({"email": "x@example.com", "role": "member"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.patch(&format!("/api/v1/members/{member_id}"), &member, json!({"role": "admin"}))
        .await
        .assert_code(403, "FORBIDDEN");
    app.delete(&format!("/api/v1/members/{}", app.owner_id), &member).await.assert_code(403, "FORBIDDEN");
    // Nothing changed: the member is still a member.
    assert_eq!(app.get("/api/v1/me", &member).await.body["member"]["role"], "member");
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = spawn_app().await;
    let owner = format!("/api/v1/members/{}", app.owner_id);
    app.patch(&owner, &app.api_key, json!({"role": "admin"})).await.assert_code(409, "CONFLICT");
    app.delete(&owner, &app.api_key).await.assert_code(409, "CONFLICT");
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.body["member"]["role"], "owner");

    // With a second owner, the first may step down.
    let second = app.post("/api/v1/members", &app.api_key, json!({"email": "co@example.com", "role": "owner"})).await;
    assert_eq!(second.status, 201, "{}", second.text);
    let demoted = app.patch(&owner, &app.api_key, json!({"role": "admin"})).await;
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    // The key acts with the member's current role at once.
    let me = app.get("/api/v1/me", &app.api_key).await;
    assert_eq!(me.body["member"]["role"], "admin");
    app.put("/api/v1/settings/ai", &app.api_key, json!({"enabled": false})).await.assert_code(403, "FORBIDDEN");
}

#[tokio::test]
async fn a_duplicate_member_email_is_a_conflict() {
    let app = spawn_app().await;
    let body = json!({"email": "dup@example.com", "role": "member"});
    assert_eq!(app.post("/api/v1/members", &app.api_key, body.clone()).await.status, 201);
    app.post("/api/v1/members", &app.api_key, body).await.assert_code(409, "CONFLICT");
    let bad = app.post("/api/v1/members", &app.api_key, json!({"email": "not-an-email", "role": "member"})).await;
    bad.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(bad.body["error"]["field"], "email");
}

#[tokio::test]
async fn a_removed_member_s_keys_stop_working() {
    let app = spawn_app().await;
    let (member_id, member) = app.member_key(&app.api_key, "leaver@example.com", "member").await;
    assert_eq!(app.get("/api/v1/me", &member).await.status, 200);
    assert_eq!(app.delete(&format!("/api/v1/members/{member_id}"), &app.api_key).await.status, 204);
    let after = app.get("/api/v1/me", &member).await;
    assert_eq!(after.status, 401, "{}", after.text);
}

/// A member whose email reads exactly like another's on every page and in the audit log is
/// refused: a Cyrillic letter, a zero-width space, an accent (composed or not). Emails are
/// ASCII; an international domain is written in its xn-- form.
#[tokio::test]
async fn look_alike_member_emails_are_refused() {
    let app = spawn_app().await;
    let why = "email must be written in ASCII, like name@example.com: letters from other alphabets, accents and \
               invisible characters are refused, as they make look-alikes of another address (write an \
               international domain in its xn-- form)";
    let original =
        app.post("/api/v1/members", &app.api_key, json!({"email": "bob@example.com", "role": "member"})).await;
    assert_eq!(original.status, 201, "{}", original.text);
    for look_alike in [
        "b\u{43e}b@example.com",   // Cyrillic о
        "bob@ex\u{430}mple.com",   // Cyrillic а in the domain
        "bob\u{200b}@example.com", // a zero-width space
        "\u{feff}bob@example.com", // a zero-width no-break space in front
        "jose\u{301}@example.com", // e + a combining acute accent
        "jos\u{e9}@example.com",   // é
    ] {
        let refused = app.post("/api/v1/members", &app.api_key, json!({"email": look_alike, "role": "admin"})).await;
        refused.assert_error(400, "VALIDATION_ERROR", why);
        assert_eq!(refused.body["error"]["field"], "email", "{}", refused.text);
    }
    let members = app.get("/api/v1/members", &app.api_key).await;
    assert_eq!(members.body["data"].as_array().unwrap().len(), 2, "the owner and bob only: {}", members.text);
    // An internationalized domain in its ASCII (IDNA) form is an address like any other.
    let idna = app
        .post("/api/v1/members", &app.api_key, json!({"email": "bob@xn--bcher-kva.example", "role": "member"}))
        .await;
    assert_eq!(idna.status, 201, "{}", idna.text);
    // And the same address in other capitals is the same member.
    let twin = app.post("/api/v1/members", &app.api_key, json!({"email": "Bob@Example.COM", "role": "member"})).await;
    twin.assert_error(409, "CONFLICT", "A member with this email already exists");
}
