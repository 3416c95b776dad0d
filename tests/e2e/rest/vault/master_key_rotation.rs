//! Master-key and data-key rotation: every key readable after a restart with the new key,
//! the retired key refused, an interrupted rotation resumed, nothing the old key opens left
//! behind.

use super::*;

/// Three organizations, each with keys; returns (owner key, key id, expected test status) per key.
async fn three_orgs_with_keys(app: &TestApp) -> Vec<(String, String, &'static str)> {
    let mut keys = Vec::new();
    let owners = [app.api_key.clone(), app.new_org("second", Plan::Pro).await, app.new_org("third", Plan::Free).await];
    for (i, owner) in owners.iter().enumerate() {
        for p in [Provider::ALL[i], Provider::ALL[i + 1]] {
            keys.push((owner.clone(), id_of(&app.add_provider_key(owner, p, valid_key(p), json!({})).await), "ok"));
        }
        keys.push((
            owner.clone(),
            id_of(&app.add_provider_key(owner, Provider::Gemini, revoked_key(Provider::Gemini), json!({})).await),
            "invalid_key",
        ));
    }
    keys
}

async fn assert_every_key_tests(app: &TestApp, keys: &[(String, String, &str)]) {
    for (owner, id, status) in keys {
        let answer = test_key(app, owner, id).await;
        assert_eq!(answer.status, 200, "key {id}: {}", answer.text);
        assert_eq!(answer.body["status"], *status, "key {id}: {}", answer.text);
    }
}

fn b64(key: &Key) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.expose_bytes())
}

#[tokio::test]
async fn after_a_master_key_rotation_the_app_restarted_with_the_new_key_reads_every_key() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    assert_every_key_tests(&app, &keys).await;

    let new = Key::random();
    let mut seen = Vec::new();
    let report = app.core.rotate_master_key(&new, |org, i, n| seen.push((org.to_owned(), i, n))).await.unwrap();
    assert_eq!(report, MasterRotation { new_version: 2, organizations_rewrapped: 3, organizations_already_done: 0 });
    assert_eq!(seen.iter().map(|(_, i, n)| (*i, *n)).collect::<Vec<_>>(), [(1, 3), (2, 3), (3, 3)]);

    let new_b64 = b64(&new);
    let app = app.restart_with_master_key(new_b64.clone()).await;
    assert_every_key_tests(&app, &keys).await;
    // Keys added after the rotation work too, and survive another restart.
    let later =
        id_of(&app.add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), json!({})).await);
    let app = app.restart().await;
    assert_eq!(app.master_key, new_b64);
    assert_every_key_tests(&app, &keys).await;
    assert_eq!(test_key(&app, &app.api_key, &later).await.body["status"], "ok");
    assert!(!contains(&app.raw_database(), new.expose_bytes()), "the new master key is not in the database");
}

#[tokio::test]
async fn after_a_completed_rotation_the_retired_master_key_is_refused_at_start() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();

    // Starting on this database with the retired key must fail like any wrong key, rather than
    // start and then fail every decryption.
    let db = app.db_path.display().to_string();
    let old_b64 = app.master_key.clone();
    let config = converra_server::config::Config::from_lookup(|name| match name {
        "CONVERRA_DB" => Some(db.clone()),
        "CONVERRA_MASTER_KEY" => Some(old_b64.clone()),
        _ => None,
    })
    .unwrap();
    let opened = converra_server::app::open(&config).await;
    let error = opened.err().map(|e| e.to_string());
    assert!(
        error.as_deref().is_some_and(|e| e.contains("does not match")),
        "the retired master key was accepted at start (error: {error:?})"
    );

    let app = app.restart_with_master_key(b64(&new)).await;
    assert_every_key_tests(&app, &keys).await;
}

#[tokio::test]
async fn a_master_key_rotation_killed_half_way_resumes_and_leaves_every_key_readable() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    let new = Key::random();

    // The process "dies" right after the first organization's transaction committed.
    let killed = std::panic::AssertUnwindSafe(app.core.rotate_master_key(&new, |_, i, _| {
        if i == 1 {
            panic!("killed after the first organization");
        }
    }))
    .catch_unwind()
    .await;
    assert!(killed.is_err(), "the rotation was interrupted");

    // A second run with a different new key is refused: one rotation at a time.
    let other = Key::random();
    assert!(app.core.rotate_master_key(&other, |_, _, _| {}).await.is_err());

    // Run again: it finishes the rest and reports what was already done.
    let report = app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();
    assert_eq!(report, MasterRotation { new_version: 2, organizations_rewrapped: 2, organizations_already_done: 1 });

    let app = app.restart_with_master_key(b64(&new)).await;
    assert_every_key_tests(&app, &keys).await;
}

#[tokio::test]
async fn keys_written_while_a_rotation_runs_online_stay_readable_after_the_restart() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let mut keys = three_orgs_with_keys(&app).await;
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();

    // The server was not stopped: it keeps serving and writing during and after the rotation.
    assert_every_key_tests(&app, &keys).await;
    let added =
        app.try_add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), json!({})).await;
    assert_eq!(added.status, 201, "adding a key after an online rotation: {}", added.text);
    keys.push((app.api_key.clone(), id_of(&added.body), "ok"));
    let late = app.new_org("late", Plan::Free).await;
    let late_key = app.try_add_provider_key(&late, Provider::Openai, valid_key(Provider::Openai), json!({})).await;
    assert_eq!(late_key.status, 201, "a new organization's first key after an online rotation: {}", late_key.text);
    keys.push((late.clone(), id_of(&late_key.body), "ok"));

    // The organization created by the old server after the rewrap is sealed by the old key only:
    // the first start with the new key also holds the previous one and adopts it.
    let previous = app.master_key.clone();
    let app = app.restart_with_master_keys(b64(&new), Some(previous)).await;
    assert_every_key_tests(&app, &keys).await;
    // From then on the new key alone reads everything.
    let app = app.restart_with_master_key(b64(&new)).await;
    assert_every_key_tests(&app, &keys).await;
}

/// Every encrypted cell: data-key wrappings (current and previous) and provider-key ciphertexts.
fn encrypted_cells(app: &TestApp) -> i64 {
    let conn = sqlite(app);
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    count("SELECT count(wrapped) + count(wrapped_prev) FROM data_keys") + count("SELECT count(*) FROM provider_keys")
}

/// No 61-byte window of the database file or its WAL unwraps with `old`, for any
/// organization's data key.
fn assert_old_key_opens_nothing(app: &TestApp, old: &Key) {
    let data_keys: Vec<(String, u32)> = {
        let conn = sqlite(app);
        let mut stmt = conn.prepare("SELECT org_id, version FROM data_keys").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    let raw = app.raw_database();
    for (org, version) in &data_keys {
        let opened = raw.windows(61).any(|w| unwrap_data_key(old, org, *version, w).is_ok());
        assert!(!opened, "the old master key still opens a data key of {org} in the database files");
    }
}

#[tokio::test]
async fn a_finished_master_key_rotation_leaves_nothing_the_old_key_opens_in_the_database_files() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    let keys = three_orgs_with_keys(&app).await;
    let old = converra_server::config::decode_master_key(&app.master_key, "old").unwrap();
    let before = encrypted_cells(&app);
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();
    // Finishing is refused while this server still runs with the old key.
    assert!(app.core.finish_master_key_rotation().await.is_err(), "finished with the old key");

    let app = app.restart_with_master_key(b64(&new)).await;
    let deleted = app.core.finish_master_key_rotation().await.unwrap();
    assert_eq!(deleted, 3, "one old wrapping per organization's data key");
    assert_eq!(encrypted_cells(&app), before, "as many encrypted cells as before the rotation");
    assert_every_key_tests(&app, &keys).await;

    assert_old_key_opens_nothing(&app, &old);
    // Nothing left to finish.
    assert_eq!(app.core.finish_master_key_rotation().await.unwrap(), 0);
}

#[tokio::test]
async fn a_data_key_rotation_racing_a_replaced_secret_never_reverts_it() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    for round in 0..15 {
        let id = id_of(
            &app.add_provider_key(&app.api_key, Provider::Openai, revoked_key(Provider::Openai), json!({})).await,
        );
        let path = format!("/api/v1/provider-keys/{id}");
        let replace = app.put(&path, &app.api_key, json!({"api_key": valid_key(Provider::Openai)}));
        let rotate = app.core.rotate_data_key(&app.org_id);
        let (replaced, rotated) = tokio::join!(replace, rotate);
        assert_eq!(replaced.status, 200, "round {round}: {}", replaced.text);
        rotated.unwrap();
        // The stored secret is the one the PUT wrote, whatever the order.
        let tested = test_key(&app, &app.api_key, &id).await;
        assert_eq!(tested.body["status"], "ok", "round {round}: the rotation reverted the new secret: {}", tested.text);
        app.delete(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
    }
}

#[tokio::test]
async fn keys_added_while_data_key_rotations_run_all_end_under_the_newest_data_key() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    // Room for every add in the plan bucket.
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(1_000_000), None, None).await.unwrap();
    for p in Provider::ALL {
        app.add_provider_key(&app.api_key, p, valid_key(p), json!({})).await;
    }
    let rotating = std::sync::atomic::AtomicBool::new(true);
    let adder = |p: Provider| {
        let rotating = &rotating;
        let app = &app;
        async move {
            while rotating.load(std::sync::atomic::Ordering::Relaxed) {
                app.add_provider_key(&app.api_key, p, valid_key(p), json!({})).await;
            }
        }
    };
    let rotations = async {
        for _ in 0..8 {
            app.core.rotate_data_key(&app.org_id).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        rotating.store(false, std::sync::atomic::Ordering::Relaxed);
    };
    tokio::join!(rotations, adder(Provider::Openai), adder(Provider::Anthropic), adder(Provider::Deepseek));

    let conn = sqlite(&app);
    let (keys, behind): (i64, i64) = conn
        .query_row(
            "SELECT count(*), ifnull(sum(data_key_version < (SELECT max(version) FROM data_keys d WHERE d.org_id = p.org_id)), 0)
             FROM provider_keys p",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(keys > 20, "the adds ran alongside the rotations: {keys} keys");
    assert_eq!(behind, 0, "{behind} of {keys} keys stayed under an older data key");
    // And every key still opens.
    let newest = list(&app, &app.api_key, "?provider=openai").await;
    assert_eq!(test_key(&app, &app.api_key, str_of(&newest[0], "id")).await.body["status"], "ok");
}

#[tokio::test]
async fn finishing_a_master_key_rotation_is_refused_while_a_server_runs_with_the_old_key() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_on(&mocks).await;
    let mut old_server = app.replica().await;
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();
    // This server shuts down and comes back with the new key; the other still runs the old one.
    let app = app.restart_with_master_key(b64(&new)).await;
    let Err(refused) = app.core.finish_master_key_rotation().await else {
        panic!("finished while a server still ran with the old key")
    };
    assert!(refused.to_string().starts_with("1 running server(s) still use the old master key"), "{refused}");
    // The old server still adds keys: its wrappings are all there.
    let added =
        old_server.try_add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await;
    assert_eq!(added.status, 201, "{}", added.text);

    // Once it shut down, nothing runs with the old key.
    old_server.stop().await;
    assert_eq!(app.core.finish_master_key_rotation().await.unwrap(), 1);
}

#[tokio::test]
async fn finishing_is_refused_while_a_reader_keeps_the_old_wrappings_in_the_write_ahead_log() {
    let mocks = MockProviders::start().await;
    let app = sqlite_app_with(&mocks).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), json!({})).await;
    let old = converra_server::config::decode_master_key(&app.master_key, "old").unwrap();
    let new = Key::random();
    app.core.rotate_master_key(&new, |_, _, _| {}).await.unwrap();
    let app = app.restart_with_master_key(b64(&new)).await;

    // Another connection reads (as a backup or a second process would) and stays in its
    // transaction: the checkpoint cannot move the write-ahead log past its snapshot.
    let reader = sqlite(&app);
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM data_keys", [], |r| r.get(0)).unwrap();
    let Err(busy) = app.core.finish_master_key_rotation().await else {
        panic!("finished although the write-ahead log could not be checkpointed")
    };
    assert!(busy.to_string().contains("run --finish again"), "{busy}");

    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    assert_eq!(app.core.finish_master_key_rotation().await.unwrap(), 0, "deleted by the first run");
    assert_old_key_opens_nothing(&app, &old);
}
