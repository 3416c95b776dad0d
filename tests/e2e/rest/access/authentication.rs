//! Authentication: the four 401 bodies, byte for byte, expiry and revocation on the very next
//! request, and who the caller is.

use super::*;

#[tokio::test]
async fn a_request_without_an_authorization_header_is_told_the_header_is_required() {
    let app = spawn_app().await;
    assert_unauthorized(&me_with_header(&app, None).await, MISSING);

    // A key in the query string is not a header: still "required", and never accepted.
    for query in [format!("?api_key={}", app.api_key), format!("?access_token={}", app.api_key)] {
        let answer = Answer::of(app.http.get(app.url(&format!("/api/v1/me{query}"))).send().await.unwrap()).await;
        assert_unauthorized(&answer, MISSING);
    }

    // Authentication comes before the body is read: a broken body without a key is still a 401.
    let answer = Answer::of(
        app.http
            .post(app.url("/api/v1/projects"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_unauthorized(&answer, MISSING);
}

#[tokio::test]
async fn a_malformed_authorization_header_is_an_invalid_key_never_a_server_error() {
    let app = spawn_app().await;
    let key = app.api_key.clone();
    let shapes: Vec<Vec<u8>> = vec![
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        format!("Bearer  {key}").into_bytes(),
        format!("Basic {key}").into_bytes(),
        key.clone().into_bytes(),
        format!("Bearer {key} extra").into_bytes(),
        b"Bearer sk_live_\xe9\xe8\xff".to_vec(),
        [b"Bearer ".as_slice(), key.as_bytes(), b"\xe9".as_slice()].concat(),
        b"Bearer x".to_vec(),
    ];
    for shape in shapes {
        let answer = me_with_header(&app, Some(&shape)).await;
        assert_eq!(answer.status, 401, "header {:?}: {}", String::from_utf8_lossy(&shape), answer.text);
        assert_unauthorized(&answer, INVALID);
    }
    // The well-formed header with the same key works.
    assert_eq!(app.get("/api/v1/me", &key).await.status, 200);
}

#[tokio::test]
async fn an_unknown_key_and_a_one_character_typo_of_a_real_key_are_invalid() {
    let app = spawn_app().await;

    // Well formed with a valid checksum, but no such key exists here.
    let stranger = converra_core::access::token::generate(Environment::Live);
    let stranger = secrecy::ExposeSecret::expose_secret(&stranger.token).to_owned();
    assert_unauthorized(&app.get("/api/v1/me", &stranger).await, INVALID);

    // Random text in the right shape.
    assert_unauthorized(&app.get("/api/v1/me", "sk_live_0123456789abcdefghijABCDEFGHIJ0123456789ab").await, INVALID);

    // The real key with one character changed, in the lookup id, the secret and the checksum.
    let real = app.api_key.clone();
    for position in [10, 30, real.len() - 1] {
        let mut bytes = real.clone().into_bytes();
        bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert_unauthorized(&app.get("/api/v1/me", &typo).await, INVALID);
    }
    // A live-looking twin of a test key is not the key either.
    assert_unauthorized(&app.get("/api/v1/me", &real.replacen("sk_test_", "sk_live_", 1)).await, INVALID);
    assert_eq!(app.get("/api/v1/me", &real).await.status, 200);
}

#[tokio::test]
async fn a_key_stops_working_once_its_expiry_passes() {
    let app = spawn_app().await;
    let expires = unix_now() + 2;
    let created = app
        .post("/api/v1/api-keys", &app.api_key, json!({"name": "short-lived", "expires_at": rfc3339(expires)}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["expires_at"], rfc3339(expires));
    let key = str_of(&created.body, "key").to_owned();
    assert_eq!(app.get("/api/v1/me", &key).await.status, 200, "works before it expires");

    // Wait (at most ~2 s) until the expiry second has passed.
    while unix_now() <= expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_unauthorized(&app.get("/api/v1/me", &key).await, EXPIRED);

    // An expiry in the past is refused at creation.
    let past = app
        .post("/api/v1/api-keys", &app.api_key, json!({"name": "past", "expires_at": rfc3339(unix_now() - 60)}))
        .await;
    past.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(past.body["error"]["field"], "expires_at");
}

#[tokio::test]
async fn a_revoked_key_fails_on_the_very_next_request() {
    let app = spawn_app().await;
    let (id, key) = create_api_key(&app, &app.api_key, json!({"name": "ci"})).await;
    assert_eq!(app.get("/api/v1/me", &key).await.status, 200);

    let revoked = app.delete(&format!("/api/v1/api-keys/{id}"), &app.api_key).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_unauthorized(&app.get("/api/v1/me", &key).await, REVOKED);
    assert_unauthorized(&app.get("/api/v1/projects", &key).await, REVOKED);

    // The list keeps it, marked revoked; revoking again changes nothing.
    let list = app.get("/api/v1/api-keys", &app.api_key).await;
    let listed = list.body["data"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap().clone();
    assert!(listed["revoked_at"].is_string(), "{listed}");
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &app.api_key).await.status, 204);
    assert_unauthorized(&app.get("/api/v1/me", &key).await, REVOKED);
}

#[tokio::test]
async fn a_key_revoking_itself_is_refused_on_its_next_request() {
    let app = spawn_app().await;
    let (id, key) = create_api_key(&app, &app.api_key, json!({"name": "self"})).await;
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &key).await.status, 204);
    assert_unauthorized(&app.get("/api/v1/me", &key).await, REVOKED);
}

// ---------------------------------------------------------------------------------------------
// Who am I, and rate limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn me_names_the_organization_the_member_and_the_key() {
    let app = spawn_app().await;
    let me = app.get("/api/v1/me", &app.api_key).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let api_key_id = str_of(&me.body["api_key"], "id").to_owned();
    assert_eq!(
        me.body,
        json!({
            "organization": {"id": app.org_id, "name": "default", "plan": "free"},
            "member": {"id": app.owner_id, "email": "owner@converra.local", "role": "owner"},
            "api_key": {"id": api_key_id, "name": "Default", "environment": "test"},
        })
    );
    assert!(!me.text.contains(&app.api_key), "me never shows the secret");
}
