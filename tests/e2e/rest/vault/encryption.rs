//! Encryption at rest: the database never holds a provider key or the master key, and a
//! ciphertext moved to another row never decrypts.

use super::*;

#[tokio::test]
async fn the_database_file_never_contains_a_provider_key_or_the_master_key() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let web = project(&app, &app.api_key, "web").await;
    for p in Provider::ALL {
        app.add_provider_key(&app.api_key, p, valid_key(p), json!({})).await;
        app.add_provider_key(&app.api_key, p, revoked_key(p), json!({"project_id": web, "environment": "live"})).await;
    }
    let rotated = id_of(&app.add_provider_key(&app.api_key, Provider::Openai, SECOND_OPENAI, json!({})).await);
    let replacement = "sk-proj-REPLACEMENTopenaiKEY01234567rrrr";
    let put = app.put(&format!("/api/v1/provider-keys/{rotated}"), &app.api_key, json!({"api_key": replacement})).await;
    assert_eq!(put.status, 200, "{}", put.text);
    let refused = "sk-proj-REFUSEDbyTESTopenaiKEY0123456xxxx";
    app.try_add_provider_key(&app.api_key, Provider::Openai, refused, json!({"test": true}))
        .await
        .assert_code(422, "KEY_REJECTED");

    let raw = app.raw_database();
    assert!(raw.len() > 4096, "the database file was read");
    assert!(contains(&raw, b"provider_keys"), "the file is the database");
    let mut secrets: Vec<&str> = Provider::ALL.into_iter().flat_map(|p| [valid_key(p), revoked_key(p)]).collect();
    secrets.extend([SECOND_OPENAI, replacement, refused]);
    for s in secrets {
        assert!(!contains(&raw, s.as_bytes()), "{}… is in the database file", &s[..10]);
        assert!(!contains(&raw, secret_middle(s).as_bytes()), "part of {}… is in the database file", &s[..10]);
    }
    let master = base64::engine::general_purpose::STANDARD.decode(&app.master_key).unwrap();
    assert!(!contains(&raw, &master), "the master key bytes are in the database file");
    assert!(!contains(&raw, app.master_key.as_bytes()), "the master key is in the database file");
    assert!(!contains(&raw, app.api_key.as_bytes()), "a Converra API key is in the database file");
}

fn ciphertext(conn: &rusqlite::Connection, id: &str) -> Vec<u8> {
    conn.query_row("SELECT ciphertext FROM provider_keys WHERE id = ?1", [id], |r| r.get(0)).expect("the row exists")
}

fn set_ciphertext(conn: &rusqlite::Connection, id: &str, blob: &[u8]) {
    let n =
        conn.execute("UPDATE provider_keys SET ciphertext = ?1 WHERE id = ?2", rusqlite::params![blob, id]).unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails_to_decrypt_and_never_acts_as_the_other_key() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let web = project(&app, &app.api_key, "web").await;
    // Same organization, provider and environment; different rows (one of them in a project).
    let good =
        id_of(&app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await);
    let bad = id_of(
        &app.add_provider_key(
            &app.api_key,
            Provider::Openai,
            revoked_key(Provider::Openai),
            json!({"project_id": web}),
        )
        .await,
    );
    // Another organization's key of the same provider and environment.
    let b = app.new_org("bcorp", Plan::Free).await;
    let foreign = id_of(&app.add_provider_key(&b, Provider::Openai, revoked_key(Provider::Openai), json!({})).await);
    assert_eq!(test_key(&app, &app.api_key, &good).await.body["status"], "ok");
    let calls = requests_to(&mocks, Provider::Openai).await.len();

    let conn = sqlite(&app);
    let (good_blob, bad_blob) = (ciphertext(&conn, &good), ciphertext(&conn, &bad));
    set_ciphertext(&conn, &good, &bad_blob);
    set_ciphertext(&conn, &bad, &good_blob);
    set_ciphertext(&conn, &foreign, &good_blob);

    for (key, id) in [(&app.api_key, &good), (&app.api_key, &bad), (&b, &foreign)] {
        let answer = test_key(&app, key, id).await;
        assert_eq!(answer.status, 500, "{}", answer.text);
        assert_eq!(answer.text, INTERNAL, "no detail leaks");
    }
    assert_eq!(
        requests_to(&mocks, Provider::Openai).await.len(),
        calls,
        "no provider call was made with another row's key"
    );
    // The failed attempts recorded nothing on the keys.
    let got = app.get(&format!("/api/v1/provider-keys/{bad}"), &app.api_key).await;
    assert_eq!(got.body["status"], "untested", "{}", got.text);

    // Put the blobs back where they belong: both work again.
    set_ciphertext(&conn, &good, &good_blob);
    set_ciphertext(&conn, &bad, &bad_blob);
    assert_eq!(test_key(&app, &app.api_key, &good).await.body["status"], "ok");
    assert_eq!(test_key(&app, &app.api_key, &bad).await.body["status"], "invalid_key");
}
