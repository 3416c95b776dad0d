//! Usage roll-ups, the audit log's order, counts, and what one store handle sees of another's
//! writes (another replica, or the operator's CLI).

use std::sync::Arc;
use std::time::{Duration, Instant};

use converra::{Environment, Provider};

use super::{api_key, contract, create_org, event, now};
use crate::{Store, UsageBatch, UsageBucket, UsageCounts, UsageGroupBy};

contract!(
    usage_batches_add_up_and_group,
    usage_counts_cached_and_reasoning_tokens_and_a_copy_carries_them,
    the_audit_log_reads_newest_first_within_its_organization,
    counts_cover_every_table,
    another_handle_sees_a_revocation_within_a_second,
    a_dump_loads_into_an_empty_store_whole_and_replaces_a_used_one,
    one_holder_at_a_time_has_a_lease_until_it_expires,
);

fn bucket(org_id: &str, day: &str, provider: &'static str, source: &'static str, status: &'static str) -> UsageBucket {
    UsageBucket {
        org_id: org_id.to_owned(),
        day: day.to_owned(),
        project_id: None,
        api_key_id: "key_1".into(),
        provider,
        model: format!("{provider}-model"),
        key_source: source,
        status,
    }
}

async fn usage_batches_add_up_and_group(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let mut batch = UsageBatch::default();
    batch.insert(
        bucket(org, "2026-11-02", "openai", "organization", "ok"),
        UsageCounts::one(10, 5, 100).with_cost(Some(7)),
    );
    batch.insert(
        bucket(org, "2026-11-02", "anthropic", "platform", "ok"),
        UsageCounts::one(100, 50, 80).with_cost(None),
    );
    batch.insert(bucket(org, "2026-11-03", "openai", "organization", "invalid_key"), UsageCounts::one(0, 0, 20));
    batch.insert(bucket(org, "2026-10-31", "openai", "platform", "ok"), UsageCounts::one(7, 7, 10));
    store.add_usage("batch-1", Arc::new(batch.clone()), Arc::default()).await.unwrap();
    // A second batch with the same buckets adds to them.
    store.add_usage("batch-2", Arc::new(batch.clone()), Arc::default()).await.unwrap();
    // A retry of a batch already written (its commit was reported lost) adds nothing.
    store.add_usage("batch-2", Arc::new(batch), Arc::default()).await.unwrap();

    assert_eq!(store.platform_tokens_used(org, "2026-11").await.unwrap(), 300);
    assert_eq!(store.platform_tokens_used(org, "2026-10").await.unwrap(), 28);
    assert_eq!(store.platform_tokens_used("org_other", "2026-11").await.unwrap(), 0);
    // The model names a month holds (the usage writer bounds them), each once.
    let mut models = store.usage_models(org, "2026-11").await.unwrap();
    models.sort();
    assert_eq!(models, ["anthropic-model", "openai-model"]);
    assert_eq!(store.usage_models(org, "2026-10").await.unwrap(), ["openai-model"]);
    // Across organizations, the successful calls per provider and model.
    let b = create_org(&store, "bravo").await;
    let mut other = UsageBatch::default();
    other.insert(bucket(&b.org.id, "2026-11-04", "openai", "organization", "ok"), UsageCounts::one(1, 1, 5));
    store.add_usage("batch-3", Arc::new(other), Arc::default()).await.unwrap();
    let seen = store.models_seen("2026-11").await.unwrap();
    let seen: Vec<_> =
        seen.iter().map(|m| (m.provider.as_str(), m.model.as_str(), m.requests, m.organizations)).collect();
    assert_eq!(
        seen,
        [("anthropic", "anthropic-model", 2, 1), ("openai", "openai-model", 3, 2)],
        "failed calls are not seen"
    );
    assert!(store.models_seen("2026-09").await.unwrap().is_empty());

    let total = store.usage_groups(org, "2026-11", None).await.unwrap();
    assert_eq!(total.len(), 1);
    let t = &total[0].totals;
    assert_eq!((t.requests, t.input_tokens, t.output_tokens), (4, 220, 110), "failed completions are not in totals");
    // The priced completions' cost adds up; the unpriced ones are counted apart, never as 0.
    assert_eq!((t.cost_micro_usd, t.unpriced_requests, t.cost_known), (14, 2, false));
    let by_provider = store.usage_groups(org, "2026-11", Some(UsageGroupBy::Provider)).await.unwrap();
    let keys: Vec<_> = by_provider.iter().map(|g| (g.key.clone(), g.totals.requests)).collect();
    assert_eq!(keys, [(Some("anthropic".into()), 2), (Some("openai".into()), 2)]);
    let costs: Vec<_> = by_provider.iter().map(|g| (g.totals.cost_micro_usd, g.totals.cost_known)).collect();
    assert_eq!(costs, [(0, false), (14, true)]);
    let by_project = store.usage_groups(org, "2026-11", Some(UsageGroupBy::Project)).await.unwrap();
    assert_eq!(by_project.iter().map(|g| g.key.clone()).collect::<Vec<_>>(), [None], "no project reads as null");
    let by_source = store.usage_groups(org, "2026-11", Some(UsageGroupBy::KeySource)).await.unwrap();
    assert_eq!(by_source.len(), 2);
    assert_eq!(store.usage_groups(org, "2026-11", Some(UsageGroupBy::Model)).await.unwrap().len(), 2);
}

async fn usage_counts_cached_and_reasoning_tokens_and_a_copy_carries_them(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let mut batch = UsageBatch::default();
    batch.insert(
        bucket(org, "2026-11-02", "openai", "organization", "ok"),
        UsageCounts::one(100, 40, 5).with_parts(60, 0, 30),
    );
    batch.insert(
        bucket(org, "2026-11-02", "anthropic", "organization", "ok"),
        UsageCounts::one(50, 10, 5).with_parts(20, 25, 0),
    );
    batch.insert(
        bucket(org, "2026-11-03", "openai", "organization", "invalid_key"),
        UsageCounts::one(9, 9, 5).with_parts(9, 9, 9),
    );
    // Counts without parts (as before they were counted) add nothing to them.
    batch.insert(bucket(org, "2026-11-04", "openai", "organization", "ok"), UsageCounts::one(7, 7, 5));
    store.add_usage("batch-1", Arc::new(batch.clone()), Arc::default()).await.unwrap();
    store.add_usage("batch-2", Arc::new(batch), Arc::default()).await.unwrap();

    let parts = |t: &converra::UsageTotals| (t.cache_read_tokens, t.cache_write_tokens, t.reasoning_tokens);
    let total = store.usage_groups(org, "2026-11", None).await.unwrap();
    assert_eq!(parts(&total[0].totals), (160, 50, 60), "failed completions are not in totals");
    let by_provider = store.usage_groups(org, "2026-11", Some(UsageGroupBy::Provider)).await.unwrap();
    let by_provider: Vec<_> = by_provider.iter().map(|g| (g.key.clone().unwrap(), parts(&g.totals))).collect();
    assert_eq!(by_provider, [("anthropic".into(), (40, 50, 0)), ("openai".to_owned(), (120, 0, 60))]);
    // The platform allowance counts the totals only (the parts are within them).
    assert_eq!(store.platform_tokens_used(org, "2026-11").await.unwrap(), 0);

    let dump = store.dump().await.unwrap();
    let row = dump.usage.iter().find(|u| u.provider == "anthropic").unwrap();
    assert_eq!((row.counts.cache_read_tokens, row.counts.cache_write_tokens, row.counts.reasoning_tokens), (40, 50, 0));
    let (copy, _dir) = super::empty_like(&store).await;
    copy.load(dump.clone(), false).await.unwrap();
    assert_eq!(copy.dump().await.unwrap(), dump, "the copy holds the parts too");
    assert_eq!(copy.usage_groups(org, "2026-11", None).await.unwrap(), total);
}

async fn the_audit_log_reads_newest_first_within_its_organization(store: Store) {
    let a = create_org(&store, "acme").await;
    let b = create_org(&store, "globex").await;
    let org = &a.org.id;
    for action in ["project.created", "project.removed"] {
        let project = converra::Project { id: super::id("prj"), name: action.into(), created_at: now() };
        store.insert_project(org, project, event(org, action, "prj")).await.unwrap();
    }
    let events = store.audit_events(org, 2).await.unwrap();
    assert_eq!(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["project.removed", "project.created"]);
    assert_eq!(events[0].detail, serde_json::json!({"n": 1}));
    assert_eq!(events[0].actor.email.as_deref(), Some("operator@example.com"));
    assert_eq!(store.audit_events(&b.org.id, 100).await.unwrap().len(), 1, "only its own organization's events");
}

async fn counts_cover_every_table(store: Store) {
    store.ping().await.unwrap();
    let a = create_org(&store, "acme").await;
    let key = api_key(&a.org.id, &a.owner.id);
    assert!(store.insert_api_key(key, 10, event(&a.org.id, "api_key.created", "k")).await.unwrap());
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.organizations, counts.members, counts.api_keys, counts.data_keys, counts.audit_events),
        (1, 1, 2, 1, 2)
    );
    assert_eq!((counts.projects, counts.provider_keys, counts.usage_rollups), (0, 0, 0));
}

/// A second handle on the same database (another replica or the CLI) caches its own reads;
/// the change watch must invalidate them when the first handle commits.
async fn another_handle_sees_a_revocation_within_a_second(store: Store) {
    let a = create_org(&store, "acme").await;
    let other = store.reopen().await;
    other.watch_changes();
    let lookup = &a.key.lookup_id;
    assert!(other.api_key_for_auth(lookup).await.unwrap().unwrap().0.revoked_at.is_none(), "cached as live");
    // Let the watch start before the write it must see.
    tokio::time::sleep(Duration::from_millis(400)).await;

    store.revoke_api_key(&a.org.id, &a.key.id, &now(), event(&a.org.id, "api_key.revoked", &a.key.id)).await.unwrap();
    let started = Instant::now();
    loop {
        let seen = other.api_key_for_auth(lookup).await.unwrap().unwrap();
        if seen.0.revoked_at.is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "the other handle still serves the key as live after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A change of another kind (a provider key) reaches the other handle's slot cache too.
    let active = other.active_provider_key(&a.org.id, None, Environment::Live, Provider::Openai).await.unwrap();
    assert!(active.is_none(), "cached as empty");
    let key = super::provider_key(&a.org.id, None, Provider::Openai, "new");
    store.insert_provider_key(key.clone(), event(&a.org.id, "pk.added", &key.id)).await.unwrap();
    let started = Instant::now();
    while other.active_provider_key(&a.org.id, None, Environment::Live, Provider::Openai).await.unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(1), "the other handle still has the slot empty after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_dump_loads_into_an_empty_store_whole_and_replaces_a_used_one(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let project = converra::Project { id: super::id("prj"), name: "Mobile".into(), created_at: now() };
    store.insert_project(org, project.clone(), event(org, "project.created", &project.id)).await.unwrap();
    let key = super::provider_key(org, Some(&project.id), Provider::Openai, "mobile");
    store.insert_provider_key(key, event(org, "pk.added", "pk")).await.unwrap();
    let mut batch = UsageBatch::default();
    batch.insert(bucket(org, "2026-11-02", "openai", "project", "ok"), UsageCounts::one(3, 4, 5));
    store.add_usage("batch-1", Arc::new(batch), Arc::default()).await.unwrap();
    store.set_meta("master_key_version", "1").await.unwrap();
    let dump = store.dump().await.unwrap();
    assert_eq!((dump.organizations.len(), dump.audit_events.len(), dump.usage.len()), (1, 3, 1));

    let (copy, _dir) = super::empty_like(&store).await;
    copy.load(dump.clone(), false).await.unwrap();
    assert_eq!(copy.dump().await.unwrap(), dump, "the copy holds exactly what was dumped");
    assert_eq!(copy.counts().await.unwrap(), store.counts().await.unwrap());

    // Loading again with `replace` leaves one copy, not two.
    copy.load(dump.clone(), true).await.unwrap();
    assert_eq!(copy.dump().await.unwrap(), dump);
    // Without `replace`, a used store refuses (the rows exist), and nothing is half-written.
    let e = copy.load(dump.clone(), false).await.expect_err("rows already exist");
    assert!(e.is_unique_violation(), "{e}");
    assert_eq!(copy.dump().await.unwrap(), dump);
}

async fn one_holder_at_a_time_has_a_lease_until_it_expires(store: Store) {
    assert!(store.try_lease("retest", "replica-a", 1_000, 30).await.unwrap(), "a free lease is taken");
    assert!(!store.try_lease("retest", "replica-b", 1_010, 30).await.unwrap(), "held by A until 1030");
    assert!(store.try_lease("retest", "replica-a", 1_020, 30).await.unwrap(), "A renews its own");
    assert!(!store.try_lease("retest", "replica-b", 1_049, 30).await.unwrap(), "renewed until 1050");
    assert!(store.try_lease("retest", "replica-b", 1_050, 30).await.unwrap(), "expired: B takes it");
    assert!(!store.try_lease("retest", "replica-a", 1_060, 30).await.unwrap(), "now B's");
    assert!(store.try_lease("webhooks", "replica-a", 1_060, 30).await.unwrap(), "another lease is another row");
}
