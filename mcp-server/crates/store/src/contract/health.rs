//! Live key health: a status change is written once (of two writers seeing the same failure,
//! one wins and queues one event), tallies add up, a replaced secret starts healthy again,
//! re-tests are scheduled, rotation is marked once, and the webhook outbox is a queue.

use std::sync::Arc;

use converra::{Environment, KeyStatus, Provider};

use super::{contract, create_org, event, now, provider_key};
use crate::{HealthChange, HealthTally, OutboxEvent, SecretUpdate, Store};

contract!(
    a_status_change_is_written_once_with_its_event,
    tallies_count_failures_of_a_flagged_key_and_successes,
    a_replaced_secret_clears_health_and_rotation,
    failing_active_keys_come_due_for_a_retest,
    rotation_is_marked_once,
    the_outbox_is_a_retried_queue,
    cached_key_lists_follow_tallies_and_other_replicas,
    running_servers_report_their_master_key_version_until_it_lapses_or_is_withdrawn,
);

fn change(status: KeyStatus, retest_at: Option<u64>) -> HealthChange {
    HealthChange { status, at: now(), last_success_at: None, retest_at }
}

fn outbox(id: &str) -> OutboxEvent {
    OutboxEvent { id: id.into(), body: format!(r#"{{"id":"{id}"}}"#), created_at: 100, attempts: 0 }
}

async fn a_status_change_is_written_once_with_its_event(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "k");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    let flag = change(KeyStatus::InvalidKey, Some(160));
    assert!(store.set_key_health(org, &key.id, flag.clone(), Some(outbox("whe_1"))).await.unwrap());
    let other = store.reopen().await;
    assert!(
        !other.set_key_health(org, &key.id, flag, Some(outbox("whe_2"))).await.unwrap(),
        "a second writer of the same status changes nothing"
    );
    let seen = other.active_provider_key(org, None, Environment::Live, Provider::Openai).await.unwrap().unwrap();
    assert_eq!(seen.health.status, Some(KeyStatus::InvalidKey), "another replica sees the flag");
    let cached = store.active_provider_key(org, None, Environment::Live, Provider::Openai).await.unwrap().unwrap();
    assert_eq!((cached.health.status, cached.status), (Some(KeyStatus::InvalidKey), KeyStatus::InvalidKey));
    assert_eq!((cached.health.failures, cached.health.retest_at), (1, Some(160)));
    assert_eq!(cached.health.last_error, Some(KeyStatus::InvalidKey));
    let queued: Vec<_> = store.due_webhooks(1000, 10).await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(queued, ["whe_1"], "one event per status change");

    assert!(store.set_key_health(org, &key.id, change(KeyStatus::Ok, None), None).await.unwrap());
    let cleared = store.provider_key(org, &key.id).await.unwrap().unwrap();
    assert_eq!((cleared.health.status, cleared.health.failures), (Some(KeyStatus::Ok), 0));
    assert!(cleared.health.last_success_at.is_some() && cleared.health.retest_at.is_none());
    assert_eq!(cleared.health.last_error, Some(KeyStatus::InvalidKey), "the last error stays visible");
    let counts = store.key_health_counts().await.unwrap();
    assert_eq!(counts, [(Some(KeyStatus::Ok), 1)]);
}

async fn tallies_count_failures_of_a_flagged_key_and_successes(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let (good, bad) = (provider_key(org, None, Provider::Openai, "g"), provider_key(org, None, Provider::Gemini, "b"));
    for k in [&good, &bad] {
        store.insert_provider_key(k.clone(), event(org, "pk.added", &k.id)).await.unwrap();
    }
    store.set_key_health(org, &bad.id, change(KeyStatus::QuotaExceeded, None), None).await.unwrap();
    let at = now();
    let tallies = vec![
        HealthTally { key_id: good.id.clone(), last_success_at: Some(at.clone()), ..Default::default() },
        HealthTally {
            key_id: bad.id.clone(),
            failures: 11,
            last_error: Some((KeyStatus::QuotaExceeded, at.clone())),
            ..Default::default()
        },
    ];
    store.add_health_tallies(Arc::new(tallies)).await.unwrap();
    let good = store.provider_key(org, &good.id).await.unwrap().unwrap();
    assert_eq!((good.health.status, good.health.last_success_at.as_deref()), (Some(KeyStatus::Ok), Some(&*at)));
    assert_eq!(good.health.failures, 0);
    let bad = store.provider_key(org, &bad.id).await.unwrap().unwrap();
    assert_eq!((bad.health.status, bad.health.failures), (Some(KeyStatus::QuotaExceeded), 12));
    let mut counts = store.key_health_counts().await.unwrap();
    counts.sort_by_key(|(s, _)| s.map(|s| s.as_str()));
    assert_eq!(counts, [(Some(KeyStatus::Ok), 1), (Some(KeyStatus::QuotaExceeded), 1)]);
}

async fn a_replaced_secret_clears_health_and_rotation(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "k");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    store.set_key_health(org, &key.id, change(KeyStatus::InvalidKey, Some(1)), None).await.unwrap();
    assert!(store.mark_rotation_due(&key.id, &now(), None).await.unwrap());
    let update = SecretUpdate {
        ciphertext: b"new".to_vec(),
        data_key_version: 1,
        masked: "sk-...abcd".into(),
        last_four: "abcd".into(),
        name: None,
        updated_by: "mem".into(),
        at: "2030-01-01T00:00:00Z".into(),
    };
    let row = store.update_provider_key_secret(org, &key.id, update, event(org, "pk.replaced", &key.id)).await;
    let row = row.unwrap().unwrap();
    assert_eq!(row.health.secret_at.as_deref(), Some("2030-01-01T00:00:00Z"), "the secret's age restarts");
    assert_eq!((row.health.status, row.health.retest_at, row.health.rotation_notified_at), (None, None, None));
}

async fn failing_active_keys_come_due_for_a_retest(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "k");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    store.set_key_health(org, &key.id, change(KeyStatus::InvalidKey, Some(100)), None).await.unwrap();
    assert!(store.keys_due_for_retest(99, 10).await.unwrap().is_empty(), "not before its time");
    let due = store.keys_due_for_retest(100, 10).await.unwrap();
    assert_eq!(due.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), [key.id.as_str()]);
    store.schedule_retest(&key.id, Some(500), 3).await.unwrap();
    assert!(store.keys_due_for_retest(499, 10).await.unwrap().is_empty());
    assert_eq!(store.keys_due_for_retest(500, 10).await.unwrap()[0].health.retest_attempts, 3);
    store.set_key_health(org, &key.id, change(KeyStatus::Ok, None), None).await.unwrap();
    assert!(store.keys_due_for_retest(10_000, 10).await.unwrap().is_empty(), "a healthy key is not re-tested");
}

async fn rotation_is_marked_once(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "k");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    assert_eq!(store.keys_not_yet_due().await.unwrap().len(), 1);
    assert!(store.mark_rotation_due(&key.id, &now(), Some(outbox("whe_r"))).await.unwrap());
    assert!(!store.mark_rotation_due(&key.id, &now(), Some(outbox("whe_r2"))).await.unwrap());
    assert!(store.keys_not_yet_due().await.unwrap().is_empty());
    assert_eq!(store.due_webhooks(1000, 10).await.unwrap().len(), 1);
}

async fn the_outbox_is_a_retried_queue(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "k");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    store.set_key_health(org, &key.id, change(KeyStatus::InvalidKey, None), Some(outbox("whe_a"))).await.unwrap();
    store.set_key_health(org, &key.id, change(KeyStatus::Ok, None), Some(outbox("whe_b"))).await.unwrap();
    store.retry_webhook("whe_a", 1, 200).await.unwrap();
    let due: Vec<_> = store.due_webhooks(150, 10).await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(due, ["whe_b"], "a failed event waits for its retry time");
    let later = store.due_webhooks(200, 10).await.unwrap();
    assert_eq!(later.iter().map(|e| (e.id.as_str(), e.attempts)).collect::<Vec<_>>(), [("whe_a", 1), ("whe_b", 0)]);
    store.remove_webhook("whe_a").await.unwrap();
    assert_eq!(store.due_webhooks(200, 10).await.unwrap().len(), 1);
}

/// The key lists are served from the read cache: this replica's tallies show at once, another
/// replica's write once the change watch has seen it.
async fn cached_key_lists_follow_tallies_and_other_replicas(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "k");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    store.watch_changes();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await; // confirmed: the cache is served
    let listed = store.provider_keys(org, Default::default()).await.unwrap();
    assert_eq!(listed[0].health.last_success_at, None);
    let at = now();
    let tally = HealthTally { key_id: key.id.clone(), last_success_at: Some(at.clone()), ..Default::default() };
    store.add_health_tallies(Arc::new(vec![tally])).await.unwrap();
    let listed = store.provider_keys(org, Default::default()).await.unwrap();
    assert_eq!(listed[0].health.last_success_at.as_deref(), Some(&*at), "this replica's tallies show at once");

    let other = store.reopen().await;
    other.schedule_retest(&key.id, Some(999), 2).await.unwrap();
    let mut seen = None;
    for _ in 0..60 {
        seen = store.provider_keys(org, Default::default()).await.unwrap()[0].health.retest_at;
        if seen == Some(999) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(999), "another replica's write shows once the watch has seen it");
}

async fn running_servers_report_their_master_key_version_until_it_lapses_or_is_withdrawn(store: Store) {
    let now = 1_000_000;
    assert_eq!(store.master_key_versions_in_use(now).await.unwrap(), Vec::<u32>::new());
    store.report_master_key_version("replica_a", 1, now, 30).await.unwrap();
    store.report_master_key_version("replica_b", 2, now, 30).await.unwrap();
    // The background lease is another row of the same table: not a report.
    assert!(store.try_lease("key_health", "replica_a", now, 30).await.unwrap());
    let mut in_use = store.master_key_versions_in_use(now + 29).await.unwrap();
    in_use.sort();
    assert_eq!(in_use, [1, 2]);

    // A report renewed holds on; one that is not lapses; a withdrawn one is gone at once.
    store.report_master_key_version("replica_b", 2, now + 20, 30).await.unwrap();
    assert_eq!(store.master_key_versions_in_use(now + 30).await.unwrap(), [2]);
    store.withdraw_master_key_report("replica_b").await.unwrap();
    assert_eq!(store.master_key_versions_in_use(now + 30).await.unwrap(), Vec::<u32>::new());
    assert!(!store.try_lease("key_health", "replica_b", now + 29, 30).await.unwrap(), "the lease is untouched");
}
