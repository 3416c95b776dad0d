//! The usage recorder's own tests: months, a store that refuses usage (kept, bounded, written
//! once it answers), and the bound on model names.

use super::*;

/// The shipped price table, as a server without an operator file has it.
fn shipped() -> Arc<PriceTable> {
    Arc::new(PriceTable::shipped())
}

#[test]
fn months_are_checked() {
    assert!(super::valid_month("2026-11"));
    for bad in ["2026-13", "2026-00", "26-11", "2026/11", "2026-1x", ""] {
        assert!(!super::valid_month(bad), "{bad}");
    }
}

fn bucket(model: &str) -> UsageBucket {
    UsageBucket {
        org_id: "org_outage".into(),
        day: String::new(),
        project_id: None,
        api_key_id: "key_outage".into(),
        provider: "openai",
        model: model.into(),
        key_source: "organization",
        status: "ok",
    }
}

/// A store that refuses every usage write (its batch ids' table is away), as in an outage,
/// until the returned connection puts it back.
async fn refusing_store(dir: &tempfile::TempDir) -> (Store, rusqlite::Connection) {
    let path = dir.path().join("usage.db");
    let store = Store::open_sqlite(&path).await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(Duration::from_secs(5)).unwrap();
    raw.execute_batch("ALTER TABLE usage_batches RENAME TO batches_away").unwrap();
    (store, raw)
}

async fn requests_written(store: &Store) -> u64 {
    let groups = store.usage_groups("org_outage", &ids::current_month(), None).await.unwrap();
    groups.first().map_or(0, |g| g.totals.requests)
}

/// Waits (at most 10 s) until `check` holds.
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn usage_the_store_refused_is_written_once_it_answers_with_no_completion_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, raw) = refusing_store(&dir).await;
    let recorder = UsageRecorder::start(store.clone(), Metrics::default(), shipped());
    for _ in 0..3 {
        drop(recorder.meter(bucket("gpt-4o-mini"), 10, None, None));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Counted while the first batch is refused: waits behind it.
    drop(recorder.meter(bucket("gpt-4o-mini"), 10, None, None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.lag().0, 2, "both kept in memory");

    raw.execute_batch("ALTER TABLE batches_away RENAME TO usage_batches").unwrap();
    // No completion, no flush: the writer retries on its own.
    assert!(eventually(async || requests_written(&store).await == 4).await, "all four written");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((requests_written(&store).await, recorder.lag().0), (4, 0), "written once");
}

#[tokio::test]
async fn while_the_store_refuses_usage_memory_is_bounded_and_then_new_completions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, raw) = refusing_store(&dir).await;
    let recorder = UsageRecorder::start(store.clone(), Metrics::default(), shipped());
    for n in 0..MAX_WAITING_BUCKETS - 1 {
        drop(recorder.meter(UsageBucket { api_key_id: format!("key-{n}"), ..bucket("gpt-4o-mini") }, 10, None, None));
    }
    assert!(!recorder.flush().await, "the store refused the batch");
    assert!(!recorder.full());
    drop(recorder.meter(bucket("one-more"), 10, None, None));
    assert!(recorder.full(), "as much waits as memory may hold");

    raw.execute_batch("ALTER TABLE batches_away RENAME TO usage_batches").unwrap();
    assert!(eventually(async || !recorder.full()).await, "served again once the store answers");
    assert!(eventually(async || requests_written(&store).await == MAX_WAITING_BUCKETS as u64).await);
}

#[tokio::test]
async fn an_organization_holds_a_bounded_number_of_model_names_a_month_and_only_a_success_adds_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("usage.db")).await.unwrap();
    let recorder = UsageRecorder::start(store.clone(), Metrics::default(), shipped());
    let month = ids::current_month();
    // A failed call does not bring its name.
    recorder.meter(bucket("not-a-model"), 10, None, None).refused("invalid_key");
    assert!(recorder.flush().await);
    assert_eq!(store.usage_models("org_outage", &month).await.unwrap(), [OTHER_MODEL]);
    // Successes bring names up to the bound; later new names are counted as one other row.
    for n in 0..MAX_MODELS_PER_MONTH + 3 {
        drop(recorder.meter(bucket(&format!("model-{n:03}")), 10, None, None));
    }
    assert!(recorder.flush().await);
    // A name already held keeps its row, failed or not.
    recorder.meter(bucket("model-000"), 10, None, None).refused("invalid_key");
    assert!(recorder.flush().await);
    // Another replica (its own memory) reads the names held: no room for a new one.
    let replica = UsageRecorder::start(store.clone(), Metrics::default(), shipped());
    drop(replica.meter(bucket("dated-2026-12-01"), 10, None, None));
    drop(replica.meter(bucket("model-001"), 10, None, None));
    assert!(replica.flush().await);

    let mut names = store.usage_models("org_outage", &month).await.unwrap();
    names.sort();
    assert_eq!(names.len(), MAX_MODELS_PER_MONTH + 1, "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("model-099"));
    assert!(names.contains(&OTHER_MODEL.to_owned()));
    let by_model = store.usage_groups("org_outage", &month, Some(UsageGroupBy::Model)).await.unwrap();
    let requests = |model: &str| by_model.iter().find(|g| g.key.as_deref() == Some(model)).map(|g| g.totals.requests);
    assert_eq!(requests(OTHER_MODEL), Some(4), "three names past the bound here, one on the replica");
    assert_eq!(requests("model-001"), Some(2));
    assert_eq!(requests_written(&store).await, MAX_MODELS_PER_MONTH as u64 + 5, "every success counted");
}

#[tokio::test]
async fn a_meter_counts_the_parts_the_provider_reported_and_the_old_settle_counts_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("usage.db")).await.unwrap();
    let recorder = UsageRecorder::start(store.clone(), Metrics::default(), shipped());
    let reported = Metered {
        input_tokens: 20,
        output_tokens: 9,
        cache_read_tokens: 8,
        cache_write_tokens: 2,
        reasoning_tokens: 3,
    };
    assert_eq!(recorder.meter(bucket("gpt-4o-mini"), 10, None, None).settle_metered(Some(reported), "ok"), reported);
    // The totals alone (callers that know no parts), and an estimate: no parts.
    let totals = Usage { input_tokens: 5, output_tokens: 1 };
    assert_eq!(recorder.meter(bucket("gpt-4o-mini"), 10, None, None).settle(Some(totals), "ok"), totals);
    let estimated = recorder.meter(bucket("gpt-4o-mini"), 10, None, None).settle_metered(None, "ok");
    assert_eq!(estimated, Metered { input_tokens: 10, ..Metered::default() });
    assert!(recorder.flush().await);

    let groups = store.usage_groups("org_outage", &ids::current_month(), None).await.unwrap();
    let t = &groups[0].totals;
    assert_eq!((t.requests, t.input_tokens, t.output_tokens), (3, 35, 10));
    assert_eq!((t.cache_read_tokens, t.cache_write_tokens, t.reasoning_tokens), (8, 2, 3));
}

/// Each completion is costed by the price table when it is counted: a priced model's tokens at
/// its row's prices (cache reads at theirs), rounded once; a model without a row is counted as
/// unpriced, its cost unknown and never 0; a refused call costs nothing.
#[tokio::test]
async fn each_completion_is_costed_by_the_price_table_or_counted_as_unpriced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("usage.db")).await.unwrap();
    let recorder = UsageRecorder::start(store.clone(), Metrics::default(), shipped());
    // gpt-4o-mini: input 0.15, cache read 0.075, output 0.60 USD per million tokens, that is
    // micro-USD per token. 1,000 prompt tokens of which 400 cached, 200 out:
    // 600 × 0.15 + 400 × 0.075 + 200 × 0.6 = 90 + 30 + 120 = 240 micro-USD.
    let mut meter = recorder.meter(bucket("gpt-4o-mini"), 10, None, None);
    let usage = Metered { input_tokens: 1000, output_tokens: 200, cache_read_tokens: 400, ..Metered::default() };
    meter.settle_metered(Some(usage), "ok");
    // 3 in, 1 out: 0.45 + 0.6 = 1.05, rounded once: 1.
    recorder
        .meter(bucket("gpt-4o-mini"), 10, None, None)
        .settle(Some(Usage { input_tokens: 3, output_tokens: 1 }), "ok");
    recorder
        .meter(bucket("gpt-4o-mini-2024-07-18"), 10, None, None)
        .settle(Some(Usage { input_tokens: 5, output_tokens: 5 }), "ok");
    recorder.meter(bucket("gpt-4o-mini"), 10, None, None).refused("invalid_key");
    assert!(recorder.flush().await);

    let month = ids::current_month();
    let by_model = store.usage_groups("org_outage", &month, Some(UsageGroupBy::Model)).await.unwrap();
    let costs: Vec<_> = by_model
        .iter()
        .map(|g| (g.key.as_deref().unwrap(), g.totals.cost_micro_usd, g.totals.unpriced_requests, g.totals.cost_known))
        .collect();
    assert_eq!(costs, [("gpt-4o-mini", 241, 0, true), ("gpt-4o-mini-2024-07-18", 0, 1, false)]);
    let total = &store.usage_groups("org_outage", &month, None).await.unwrap()[0].totals;
    assert_eq!((total.requests, total.cost_micro_usd, total.unpriced_requests, total.cost_known), (3, 241, 1, false));
}
