//! On PostgreSQL: `admin migrate` from SQLite (verified before it serves), an explicit master
//! key, an outage answered as unavailable and recovered without a restart, replicas starting
//! together.

use super::*;

#[tokio::test]
#[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL), installed and started by .ci/run"]
async fn admin_migrate_copies_a_sqlite_vault_into_postgres_verifies_it_and_the_copy_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (db, master, mut server, owner) = serving_with_master_key(&dir).await;
    let secret = "sk-proj-MIGRATEkey0123456789abcdefwxyz";
    let (status, added) = server
        .post("/api/v1/provider-keys", &owner, json!({"provider": "openai", "name": "moved", "api_key": secret}))
        .await;
    assert_eq!(status, 201, "{added}");
    let (status, _) = server.post("/api/v1/projects", &owner, json!({"name": "mobile"})).await;
    assert_eq!(status, 201);
    server.finish();

    let url = converra_test_kit::fresh_postgres_database().await;
    let db_arg = db.to_str().unwrap();
    let envs = [("CONVERRA_MASTER_KEY", master.as_str()), ("CONVERRA_DATABASE_URL", url.as_str()), LOCAL_LIMITS];
    // A password on the command line is refused before anything is read.
    let exposed =
        run(CONVERRA.command(&["admin", "migrate", "--from", db_arg, "--to", "postgres://u:hunter2@h/db"], &envs));
    assert_eq!(exposed.status.code(), Some(3), "{}", stderr_of(&exposed));
    assert!(stderr_of(&exposed).contains("CONVERRA_DATABASE_URL"), "{}", stderr_of(&exposed));

    let moved = run(CONVERRA.command(&["admin", "migrate", "--from", db_arg], &envs));
    let said = stderr_of(&moved);
    assert!(moved.status.success(), "{said}");
    assert!(said.contains("Copied 1 organization(s)") && said.contains("all 1 provider key(s) decrypt"), "{said}");
    assert!(!said.contains(secret) && !said.contains(&master), "{said}");

    // The copy serves: the same key authenticates, the provider key is listed and still opens.
    let mut on_postgres = Server::start(CONVERRA, &dir.path().join("unused.db"), &envs).await;
    let (status, keys) = on_postgres.get("/api/v1/provider-keys", &owner).await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["data"][0]["name"], "moved");
    let (status, projects) = on_postgres.get("/api/v1/projects", &owner).await;
    assert_eq!((status, projects["data"][0]["name"].as_str()), (200, Some("mobile")));
    on_postgres.finish();
    assert!(!dir.path().join("unused.db").exists(), "PostgreSQL was used, not a new SQLite file");

    // A second run into the now-used database is refused: it already holds a vault.
    let again = run(CONVERRA.command(&["admin", "migrate", "--from", db_arg], &envs));
    assert_eq!(again.status.code(), Some(1), "{}", stderr_of(&again));
    assert!(stderr_of(&again).contains("already holds a vault"), "{}", stderr_of(&again));
}

#[tokio::test]
#[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL), installed and started by .ci/run"]
async fn postgres_needs_an_explicit_master_key_and_an_unverified_copy_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let url = converra_test_kit::fresh_postgres_database().await;
    let db = db_in(&dir);
    let (_, stderr) = fails_to_start(&db, &[("CONVERRA_DATABASE_URL", url.as_str()), LOCAL_LIMITS], &[]);
    assert!(stderr.contains("master key must be given explicitly"), "{stderr}");
    // Without Redis, replicas would each keep their own buckets: only on the operator's word.
    let master = random_master_key();
    let (status, stderr) =
        fails_to_start(&db, &[("CONVERRA_DATABASE_URL", url.as_str()), ("CONVERRA_MASTER_KEY", master.as_str())], &[]);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("set CONVERRA_REDIS_URL, or start with --local-rate-limits"), "{stderr}");
    assert!(!dir.path().join("converra.db.master.key").exists(), "no key file was generated");

    // A copy that an interrupted migration left behind is refused at start.
    let envs = [("CONVERRA_MASTER_KEY", master.as_str()), ("CONVERRA_DATABASE_URL", url.as_str()), LOCAL_LIMITS];
    let mut first = Server::start(CONVERRA, &db, &envs).await;
    first.bootstrap_key().await;
    first.finish();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.execute("INSERT INTO meta (key, value) VALUES ('migration', 'unverified')", &[]).await.unwrap();
    let (_, stderr) = fails_to_start(&db, &envs, &[]);
    assert!(stderr.contains("was not verified: run the migration again"), "{stderr}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (its binaries), installed by .ci/run"]
async fn while_postgres_is_down_the_server_says_unavailable_and_recovers_without_a_restart() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let master = random_master_key();
    let url = pg.url();
    let envs = [("CONVERRA_MASTER_KEY", master.as_str()), ("CONVERRA_DATABASE_URL", url.as_str()), LOCAL_LIMITS];
    let mut server = Server::start(CONVERRA, &db_in(&dir), &envs).await;
    let owner = server.bootstrap_key().await;
    assert_eq!(server.get("/readyz", "").await.0, 200);
    assert_eq!(server.get("/api/v1/projects", &owner).await.0, 200);

    pg.stop();
    let (status, _) = server.get("/readyz", "").await;
    assert_eq!(status, 503, "not ready while the database is down");
    let (status, body) = server.get("/api/v1/projects", &owner).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
    assert_eq!(server.get("/healthz", "").await.0, 200, "the process itself is alive");

    pg.start_again();
    let started = Instant::now();
    while server.get("/readyz", "").await.0 != 200 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "did not recover without a restart");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = server.get("/api/v1/projects", &owner).await;
    assert_eq!(status, 200, "{body}");
    let log = server.finish();
    assert!(!log.contains(&master), "the master key is never logged");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL), installed and started by .ci/run"]
async fn replicas_starting_together_migrate_once_bootstrap_once_and_agree_on_one_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = converra_test_kit::fresh_postgres_database().await;
    let (a, b) = (random_master_key(), random_master_key());
    let db = db_in(&dir);
    let env_a = [("CONVERRA_MASTER_KEY", a.as_str()), ("CONVERRA_DATABASE_URL", url.as_str()), LOCAL_LIMITS];
    let env_b = [("CONVERRA_MASTER_KEY", b.as_str()), ("CONVERRA_DATABASE_URL", url.as_str()), LOCAL_LIMITS];
    // Four first starts at once: three with key A, one with key B.
    let (r1, r2, r3, r4) = tokio::join!(
        Server::try_start(CONVERRA, &db, &env_a),
        Server::try_start(CONVERRA, &db, &env_a),
        Server::try_start(CONVERRA, &db, &env_a),
        Server::try_start(CONVERRA, &db, &env_b),
    );
    let with_a = [r1, r2, r3];
    let a_started = with_a.iter().filter(|r| r.is_ok()).count();
    let b_started = r4.is_ok();
    // One key won the vault; every start with the other key was refused.
    assert!(
        (a_started == 3 && !b_started) || (a_started == 0 && b_started),
        "the vault was split between two master keys: {a_started} with A started, B started: {b_started}"
    );
    let refusals: Vec<String> = with_a.into_iter().chain([r4]).filter_map(|r| r.err()).collect();
    assert!(refusals.iter().all(|log| log.contains("does not match")), "{refusals:?}");
    let winner = if b_started { &env_b } else { &env_a };
    let list = run(CONVERRA.command(&["admin", "org", "list", "--json"], winner));
    assert!(list.status.success(), "{}", stderr_of(&list));
    let orgs: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(orgs.as_array().map(Vec::len), Some(1), "one default organization: {orgs}");

    // A schema newer than this binary knows is refused with a message that says so.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.execute("UPDATE converra_schema SET version = 999", &[]).await.unwrap();
    let (_, stderr) = fails_to_start(&db, winner, &[]);
    assert!(stderr.contains("schema is version 999, newer than this binary knows"), "{stderr}");
}
