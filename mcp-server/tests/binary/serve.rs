//! The real `converra` binary, as an operator runs it: first start, master-key handling,
//! `init` and `admin`, `kill -9`, and what ends up in the logs at `CONVERRA_LOG=trace`.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Instant;

use base64::Engine;
use converra_test_kit::process::START_TIMEOUT;
use converra_test_kit::{PrivatePostgres, Server, free_port, random_master_key, run, stderr_of};

use serde_json::{Value, json};

use crate::CONVERRA;

/// PostgreSQL tests run one replica: per-replica rate limits are what it has anyway.
const LOCAL_LIMITS: (&str, &str) = ("CONVERRA_LOCAL_RATE_LIMITS", "1");

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("converra.db")
}

/// `serve` on a fresh database in `dir` with a random master key from the environment: the
/// database, the master key, the server and its bootstrap key.
async fn serving_with_master_key(dir: &tempfile::TempDir) -> (PathBuf, String, Server, String) {
    let db = db_in(dir);
    let master = random_master_key();
    let server = Server::start(CONVERRA, &db, &[("CONVERRA_MASTER_KEY", master.as_str())]).await;
    let owner = server.bootstrap_key().await;
    (db, master, server, owner)
}

fn fails_to_start(db: &Path, envs: &[(&str, &str)], extra: &[&str]) -> (ExitStatus, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--addr", &addr, "--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = run(CONVERRA.command(&args, envs));
    assert!(!output.status.success(), "serve started: {}", stderr_of(&output));
    (output.status, stderr_of(&output))
}

#[tokio::test]
async fn the_first_start_creates_a_private_key_file_and_prints_a_working_bootstrap_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let started = Instant::now();
    let mut server = Server::start(CONVERRA, &db, &[]).await;
    let ready_in = started.elapsed();
    assert!(ready_in < START_TIMEOUT);

    let key_file = dir.path().join("converra.db.master.key");
    let metadata = std::fs::metadata(&key_file).expect("a key file beside the database");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "the key file is private");
    }
    let master = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(master.trim()).unwrap().len(), 32);

    let key = server.bootstrap_key().await;
    let log = server.log();
    assert!(log.contains("WARN"), "a warning: {log}");
    assert!(log.contains("master key file"), "the warning names the key file: {log}");
    assert!(log.contains("claude mcp add --transport http converra"), "how to use the key: {log}");
    assert!(!log.contains(master.trim()), "the master key is never printed");

    let (status, me) = server.get("/api/v1/me", &key).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["organization"]["name"], "default");
    assert_eq!(me["organization"]["plan"], "free");
    assert_eq!(me["member"]["role"], "owner");
    assert_eq!(me["api_key"]["environment"], "test");
    let (status, _) = server.get("/healthz", "").await;
    assert_eq!(status, 200);
    server.finish();

    // The second start reuses the key file and prints no new key.
    let mut again = Server::start(CONVERRA, &db, &[]).await;
    let (status, _) = again.get("/api/v1/me", &key).await;
    assert_eq!(status, 200);
    let log = again.finish();
    assert!(!log.contains("sk_test_"), "no second bootstrap key: {log}");
    assert!(!log.contains("generated a development master key"), "{log}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), master, "the key file is unchanged");
}

#[tokio::test]
async fn a_malformed_master_key_refuses_to_start_and_never_prints_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let short = base64::engine::general_purpose::STANDARD.encode(b"sixteen byte key");
    for value in ["not-base64!!", short.as_str()] {
        let (_, stderr) = fails_to_start(&db, &[("CONVERRA_MASTER_KEY", value)], &[]);
        assert!(stderr.contains("CONVERRA_MASTER_KEY"), "the message names the variable: {stderr}");
        assert!(stderr.contains("32"), "the message says what is expected: {stderr}");
        assert!(!stderr.contains(value), "the value is printed: {stderr}");
    }
    // A key file with garbage in it, likewise.
    let file = dir.path().join("bad.key");
    std::fs::write(&file, "this-is-no-key-SECRETVALUE\n").unwrap();
    private(&file);
    let (_, stderr) = fails_to_start(&db, &[], &["--master-key-file", file.to_str().unwrap()]);
    assert!(stderr.contains("master key"), "{stderr}");
    assert!(!stderr.contains("SECRETVALUE"), "{stderr}");
    assert!(!dir.path().join("converra.db.master.key").exists(), "no key file was generated instead");
}

/// `chmod 600 file`.
fn private(file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[cfg(unix)]
fn mode(file: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn a_master_key_file_others_can_read_is_refused_and_the_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let key_file = dir.path().join("shared.key");
    std::fs::write(&key_file, format!("{}\n", random_master_key())).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (status, stderr) = fails_to_start(&db, &[], &["--master-key-file", key_file.to_str().unwrap()]);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("readable by other users"), "{stderr}");
    assert!(stderr.contains(&format!("chmod 600 {}", key_file.display())), "the fix is given: {stderr}");

    private(&key_file);
    let mut server = Server::start(CONVERRA, &db, &[("CONVERRA_MASTER_KEY_FILE", key_file.to_str().unwrap())]).await;
    server.bootstrap_key().await;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        assert_eq!(mode(&file), 0o600, "{} is private", file.display());
    }
    server.finish();
}

#[tokio::test]
async fn a_wrong_master_key_for_an_existing_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let (right, wrong) = (random_master_key(), random_master_key());
    let init = run(CONVERRA.command(
        &["init", "--org", "acme", "--owner", "a@acme.example", "--db", db.to_str().unwrap()],
        &[("CONVERRA_MASTER_KEY", &right)],
    ));
    assert!(init.status.success(), "{}", stderr_of(&init));

    let (_, stderr) = fails_to_start(&db, &[("CONVERRA_MASTER_KEY", &wrong)], &[]);
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(!stderr.contains(&wrong) && !stderr.contains(&right), "a master key is printed: {stderr}");
    // And the admin commands refuse it too.
    let list =
        run(CONVERRA
            .command(&["admin", "org", "list", "--db", db.to_str().unwrap()], &[("CONVERRA_MASTER_KEY", &wrong)]));
    assert!(!list.status.success());
    assert!(stderr_of(&list).contains("does not match"), "{}", stderr_of(&list));

    // The right key still starts it.
    let mut server = Server::start(CONVERRA, &db, &[("CONVERRA_MASTER_KEY", &right)]).await;
    server.finish();
}

#[tokio::test]
async fn init_prints_a_live_key_that_works_and_admin_lists_every_organization() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let db_arg = db.to_str().unwrap();
    let mut server = Server::start(CONVERRA, &db, &[]).await;
    server.bootstrap_key().await;

    // The operator runs init beside the running server (same database and key file).
    let init =
        run(CONVERRA
            .command(&["init", "--org", "acme", "--owner", "a@acme.example", "--plan", "pro", "--db", db_arg], &[]));
    assert!(init.status.success(), "{}", stderr_of(&init));
    let stdout = String::from_utf8(init.stdout.clone()).unwrap();
    let key = stdout.trim();
    assert!(key.starts_with("sk_live_") && !key.contains(char::is_whitespace), "stdout is the key alone: {stdout:?}");
    assert!(!stderr_of(&init).contains(key), "the key is printed once, on stdout");

    let (status, me) = server.get("/api/v1/me", key).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["organization"]["name"], "acme");
    assert_eq!(me["organization"]["plan"], "pro");
    assert_eq!(me["member"]["email"], "a@acme.example");
    assert_eq!(me["member"]["role"], "owner");
    assert_eq!(me["api_key"]["environment"], "live");

    let again = run(CONVERRA.command(&["init", "--org", "acme", "--owner", "b@acme.example", "--db", db_arg], &[]));
    assert!(!again.status.success(), "a second `acme` is refused");
    assert!(stderr_of(&again).contains("already exists"), "{}", stderr_of(&again));
    assert!(!String::from_utf8_lossy(&again.stdout).contains("sk_"), "no key for a refused init");

    let list = run(CONVERRA.command(&["admin", "org", "list", "--json", "--db", db_arg], &[]));
    assert!(list.status.success(), "{}", stderr_of(&list));
    let orgs: Value = serde_json::from_slice(&list.stdout).expect("JSON on stdout");
    let mut summary: Vec<(String, String, u64)> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_owned(),
                o["plan"].as_str().unwrap().to_owned(),
                o["rate_limit_per_min"].as_u64().unwrap(),
            )
        })
        .collect();
    summary.sort();
    assert_eq!(summary, [("acme".into(), "pro".into(), 300), ("default".into(), "free".into(), 60)]);
    assert_eq!(orgs[0]["id"].as_str().map(|id| id.starts_with("org_")), Some(true));
    server.finish();
}

#[tokio::test]
async fn acknowledged_writes_survive_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (db, master, mut server, owner) = serving_with_master_key(&dir).await;
    let envs = [("CONVERRA_MASTER_KEY", master.as_str())];

    let (status, project) = server.post("/api/v1/projects", &owner, json!({"name": "durable"})).await;
    assert_eq!(status, 201, "{project}");
    let (status, member) =
        server.post("/api/v1/members", &owner, json!({"email": "d@example.com", "role": "admin"})).await;
    assert_eq!(status, 201, "{member}");
    let (status, created) =
        server.post("/api/v1/api-keys", &owner, json!({"name": "durable", "environment": "live"})).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    server.finish(); // SIGKILL: no graceful shutdown, no checkpoint.

    let mut server = Server::start(CONVERRA, &db, &envs).await;
    let (status, got) = server.get(&format!("/api/v1/projects/{}", project["id"].as_str().unwrap()), &owner).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["name"], "durable");
    let (_, members) = server.get("/api/v1/members", &owner).await;
    assert!(members["data"].as_array().unwrap().iter().any(|m| m["email"] == "d@example.com" && m["role"] == "admin"));
    let (status, me) = server.get("/api/v1/me", &key).await;
    assert_eq!(status, 200, "the key created before the kill works: {me}");
    assert_eq!(me["api_key"]["name"], "durable");
    let (_, events) = server.get("/api/v1/audit-events", &owner).await;
    assert!(events.to_string().contains("project.created"));
    server.finish();
}

#[tokio::test]
async fn trace_logs_never_contain_an_api_key_a_provider_key_or_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let master = random_master_key();
    // The provider is unreachable (nothing listens), so a key test goes out and fails fast.
    let closed = format!("http://127.0.0.1:{}/v1", free_port());
    let envs = [("CONVERRA_MASTER_KEY", master.as_str()), ("CONVERRA_OPENAI_BASE_URL", closed.as_str())];
    let mut server = Server::start(CONVERRA, &db, &envs).await;
    let owner = server.bootstrap_key().await;
    let provider_key = "sk-proj-LOGSCANproviderSECRET0123456789wxyz";

    let (status, created) =
        server.post("/api/v1/api-keys", &owner, json!({"name": "scripts", "environment": "live"})).await;
    assert_eq!(status, 201, "{created}");
    let api_key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(server.get("/api/v1/me", &api_key).await.0, 200);
    let (status, added) = server
        .post("/api/v1/provider-keys", &api_key, json!({"provider": "openai", "name": "prod", "api_key": provider_key}))
        .await;
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().unwrap();
    let (status, tested) = server.post(&format!("/api/v1/provider-keys/{id}/test"), &api_key, json!({})).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["status"], "unreachable");
    let (status, listed) = server.get("/api/v1/provider-keys", &owner).await;
    assert_eq!(status, 200, "{listed}");
    let (status, _) = server.get("/api/v1/provider-keys/resolve?provider=openai", &api_key).await;
    assert_eq!(status, 200);
    // Failed attempts: a typo of a real key, and a key in the query string.
    let typo = format!("{}x", &api_key[..api_key.len() - 1]);
    assert_eq!(server.get("/api/v1/me", &typo).await.0, 401);
    let query = server.http.get(format!("{}/api/v1/me?api_key={api_key}", server.base)).send().await.unwrap();
    assert_eq!(query.status(), 401);

    let log = server.finish();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "the log ran at trace level: {log}");
    assert!(log.contains("/api/v1/provider-keys"), "requests were logged: {log}");
    let master_bytes = base64::engine::general_purpose::STANDARD.decode(&master).unwrap();
    let forbidden = [
        ("the new API key", api_key.clone()),
        ("the new API key's secret part", api_key[14..40].to_owned()),
        ("a typo of the API key", typo),
        ("the provider key", provider_key.to_owned()),
        ("part of the provider key", "LOGSCANproviderSECRET".to_owned()),
        ("the master key", master.clone()),
        ("the master key in hex", master_bytes.iter().map(|b| format!("{b:02x}")).collect()),
    ];
    for (what, secret) in forbidden {
        assert!(!log.contains(&secret), "{what} is in the log");
    }
    // The bootstrap key appears only in the banner that hands it over.
    let banner: Vec<&str> = log.lines().filter(|l| l.contains(&owner)).map(str::trim).collect();
    assert_eq!(banner.len(), 3, "{banner:#?}");
    for line in banner {
        assert!(
            line == owner || line.starts_with("export CONVERRA_API_KEY=") || line.starts_with("claude mcp add"),
            "the bootstrap key is in a log line: {line}"
        );
    }
}

#[tokio::test]
async fn the_number_of_worker_threads_is_configurable_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let (status, stderr) = fails_to_start(&db, &[("CONVERRA_WORKERS", "0")], &[]);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("CONVERRA_WORKERS is not valid: must be a number of threads from 1 to 1024"), "{stderr}");
    let (status, stderr) = fails_to_start(&db, &[], &["--workers", "many"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--workers"), "{stderr}");

    // The flag wins over the environment, and the start-up line says what is running.
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let mut child = CONVERRA
        .command(
            &["serve", "--addr", &addr, "--db", db.to_str().unwrap(), "--workers", "3"],
            &[("CONVERRA_WORKERS", "1")],
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr).lines().map_while(Result::ok).find(|l| l.contains("converra is listening"))
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("a start-up line");
    assert!(line.contains("workers=3"), "{line}");
    assert!(!line.contains('\u{1b}'), "no terminal colours in a pipe: {line:?}");
}

#[tokio::test]
async fn a_backup_taken_while_serving_is_private_checked_and_starts_with_the_same_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let (db, master, mut server, owner) = serving_with_master_key(&dir).await;
    let envs = [("CONVERRA_MASTER_KEY", master.as_str())];
    let secret = "sk-proj-BACKUPkey0123456789abcdefwxyz";
    let (status, added) = server
        .post("/api/v1/provider-keys", &owner, json!({"provider": "openai", "name": "kept", "api_key": secret}))
        .await;
    assert_eq!(status, 201, "{added}");

    let backup = dir.path().join("backup.db");
    let backup_arg = backup.to_str().unwrap();
    let taken = run(CONVERRA.command(&["admin", "backup", backup_arg, "--db", db.to_str().unwrap()], &envs));
    assert!(taken.status.success(), "{}", stderr_of(&taken));
    let said = stderr_of(&taken);
    assert!(said.contains("1 organization(s) and 1 provider key(s)") && said.contains("integrity check ok"), "{said}");
    assert!(said.contains("CONVERRA_MASTER_KEY"), "the master key is not in the backup, and it says so: {said}");
    assert!(!said.contains(&master) && !said.contains(secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let raw = std::fs::read(&backup).unwrap();
    assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()), "the provider key is encrypted in the copy");

    // Never over an existing file; nothing is written or removed.
    let again = run(CONVERRA.command(&["admin", "backup", backup_arg, "--db", db.to_str().unwrap()], &envs));
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr_of(&again).contains("already exists: a backup never overwrites a file"), "{}", stderr_of(&again));
    assert_eq!(std::fs::read(&backup).unwrap(), raw);
    let missing = run(CONVERRA.command(&["admin", "backup", backup_arg, "--db", "/nonexistent/converra.db"], &envs));
    assert_eq!(missing.status.code(), Some(3), "{}", stderr_of(&missing));
    assert!(stderr_of(&missing).contains("no database at /nonexistent/converra.db"));
    server.finish();

    // Restored: the copy serves the same organization, and its provider key still decrypts.
    let mut restored = Server::start(CONVERRA, &backup, &envs).await;
    let (status, keys) = restored.get("/api/v1/provider-keys", &owner).await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["data"][0]["name"], "kept");
    restored.finish();
    let rewrap = run(CONVERRA.command(&["admin", "rotate-data-key", "--org", "default", "--db", backup_arg], &envs));
    assert!(stderr_of(&rewrap).contains("1 provider key(s) re-encrypted"), "{}", stderr_of(&rewrap));
}

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
