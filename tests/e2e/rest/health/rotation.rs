//! Rotation due: every key shows its age; owners set the organization's period (default 90
//! days) in the AI settings; a key older than it is `rotation_due`, and the webhook hears it once.

use converra_test_kit::providers::MockProviders;

use super::*;

#[tokio::test]
async fn a_key_older_than_the_rotation_period_is_due_and_announced_once() {
    let mocks = MockProviders::start().await;
    let (webhook, received) = webhook_receiver().await;
    // The test ages the row in the SQLite file itself.
    let app = health_app(&mocks, &webhook, true).await;
    let id = add_key(&app).await;

    let settings = app.get("/api/v1/settings/ai", &app.api_key).await;
    assert_eq!(settings.body["key_rotation_days"], 90, "the default period: {}", settings.text);
    let key = &listed(&app, "").await[0];
    assert_eq!((key["health"]["age_days"].as_u64(), key["health"]["rotation_due"].as_bool()), (Some(0), Some(false)));

    let refused = app.put("/api/v1/settings/ai", &app.api_key, json!({"key_rotation_days": 0})).await;
    refused.assert_code(400, "VALIDATION_ERROR");
    assert_eq!(refused.body["error"]["field"], "key_rotation_days");
    let (_, member) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    let forbidden = app.put("/api/v1/settings/ai", &member, json!({"key_rotation_days": 30})).await;
    forbidden.assert_code(403, "FORBIDDEN");
    let set = app.put("/api/v1/settings/ai", &app.api_key, json!({"key_rotation_days": 30})).await;
    assert_eq!(set.body["key_rotation_days"], 30, "{}", set.text);

    // The key was stored 31 days ago.
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    let stored = converra_test_kit::rfc3339(unix_now() - 31 * 86_400);
    db.execute("UPDATE provider_keys SET created_at = ?1 WHERE id = ?2", rusqlite::params![stored, id]).unwrap();

    // A write by another connection, as the operator's CLI would make: the list is cached, and
    // the change watch (a poll every 250 ms on SQLite) notices the write and drops it.
    let mut key = listed(&app, "").await.remove(0);
    for _ in 0..40 {
        if key["health"]["age_days"].as_u64() == Some(31) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        key = listed(&app, "").await.remove(0);
    }
    assert_eq!((key["health"]["age_days"].as_u64(), key["health"]["rotation_due"].as_bool()), (Some(31), Some(true)));
    assert_eq!(listed(&app, "?health=rotation_due").await.len(), 1);
    let member_view = app.get("/api/v1/provider-keys", &member).await;
    assert_eq!(member_view.body["data"][0]["health"]["rotation_due"], true, "members see health: {}", member_view.text);

    let events = events(&received, 1).await;
    assert_eq!(events[0]["type"], "key.rotation_due");
    assert_eq!(
        (events[0]["data"]["age_days"].as_u64(), events[0]["data"]["rotation_days"].as_u64()),
        (Some(31), Some(30))
    );
    assert_eq!(events[0]["data"]["key"]["last_four"], "qrst");
    assert_no_secret(&received.lock().unwrap()[0].1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(received.lock().unwrap().len(), 1, "announced once, not on every scan");
}
