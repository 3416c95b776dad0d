//! One replica at a time: the background lease holds through a round of slow webhook
//! deliveries (renewed before each), so a second replica on the same database never delivers
//! an event the first one is still working through.

use std::collections::HashMap;

use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::rfc3339;
use wiremock::MockServer;

use super::*;

/// The background looks every 100 ms, and its lease lasts 3 s without renewal.
fn short_lease(config: &mut converra_server::config::Config) {
    fast_health(config);
    config.health.lease = Duration::from_secs(3);
}

#[tokio::test]
async fn a_round_of_slow_deliveries_keeps_its_lease_and_no_replica_delivers_an_event_twice() {
    let mocks = MockProviders::start().await;
    // Each delivery takes 400 ms: twelve of them, one round of 4.8 s, outlast a 3 s lease.
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(400)))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        webhook: Some((format!("{}/hooks/converra", receiver.uri()), WEBHOOK_SECRET.to_owned())),
        configure: Some(short_lease),
        // The test ages the keys in the SQLite file itself.
        sqlite_file: true,
        ..Default::default()
    })
    .await;
    let replica = app.replica().await;

    // Twelve active keys: the four providers in the organization and in two projects.
    let mut scopes = vec![json!({})];
    for name in ["web", "mobile"] {
        let project = app.post("/api/v1/projects", &app.api_key, json!({"name": name})).await;
        assert_eq!(project.status, 201, "{}", project.text);
        scopes.push(json!({"project_id": project.body["id"]}));
    }
    for scope in &scopes {
        for p in Provider::ALL {
            app.add_provider_key(&app.api_key, p, valid_key(p), scope.clone()).await;
        }
    }
    // All stored 200 days ago (the default period is 90): the next scan queues twelve events.
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.execute("UPDATE provider_keys SET created_at = ?1", [rfc3339(unix_now() - 200 * 86_400)]).unwrap();

    let delivered = || async {
        let mut ids: HashMap<String, usize> = HashMap::new();
        for request in receiver.received_requests().await.unwrap_or_default() {
            let id = request.headers.get("converra-event-id").map(|v| v.to_str().unwrap().to_owned());
            *ids.entry(id.unwrap_or_default()).or_default() += 1;
        }
        ids
    };
    for _ in 0..200 {
        if delivered().await.len() >= 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Longer than a lease, for a replica that took it over to deliver anything it would.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ids = delivered().await;
    assert_eq!(ids.len(), 12, "one event per key: {ids:?}");
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once (a second replica took the lease mid-round): {twice:?}");
    drop(replica);
}
