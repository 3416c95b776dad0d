//! The real `converra` binary, as an operator runs it: `init` and `admin`, backups, `kill -9`,
//! worker threads, and what ends up in the logs at `CONVERRA_LOG=trace`; the master key and
//! PostgreSQL in their own modules.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Instant;

use base64::Engine;
use converra_test_kit::process::START_TIMEOUT;
use converra_test_kit::{PrivatePostgres, Server, free_port, random_master_key, run, stderr_of};
use serde_json::{Value, json};

use crate::CONVERRA;

mod master_key;
mod postgres;

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

/// `--workers 1` is tokio's single-threaded scheduler: the accept loop, every request, the
/// provider calls and the background work share one thread. A burst of concurrent completions,
/// each held by a slow provider, is served in full, and so is a stream.
#[tokio::test]
async fn one_worker_serves_a_burst_of_concurrent_completions_and_a_stream() {
    use converra::Provider;
    use converra_test_kit::providers::{chat_answer, chat_stream};
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer};

    let provider = MockServer::start().await;
    let slow = chat_answer(Provider::Openai, "gpt-4o-mini", "Hello").set_delay(std::time::Duration::from_millis(200));
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(chat_stream(Provider::Openai, "gpt-4o-mini", &["Hel", "lo"]))
        .mount(&provider)
        .await;
    Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(slow).mount(&provider).await;
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", provider.uri());
    let envs = [("CONVERRA_WORKERS", "1"), ("CONVERRA_OPENAI_BASE_URL", base_url.as_str())];
    let server = Server::start(CONVERRA, &db_in(&dir), &envs).await;
    assert!(server.wait_for_log("converra is listening").await.contains("workers=1"), "{}", server.log());
    let owner = server.bootstrap_key().await;
    let key = json!({"provider": "openai", "name": "Production", "api_key": "sk-proj-ONEworker0123456789abcdefwxyz"});
    assert_eq!(server.post("/api/v1/provider-keys", &owner, key).await.0, 201);

    let ask = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    let started = Instant::now();
    let calls = (0..30).map(|_| server.post("/v1/chat/completions", &owner, ask.clone()));
    for (status, answer) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["choices"][0]["message"]["content"], "Hello", "{answer}");
    }
    // Served side by side, not one after another (30 × 200 ms = 6 s).
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "{:?}", started.elapsed());

    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let sse = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&owner)
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let text = sse.text().await.unwrap();
    assert!(text.contains(r#""content":"Hel""#) && text.trim_end().ends_with("data: [DONE]"), "{text}");
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
    assert!(stderr_of(&missing).contains("no Converra database at /nonexistent/converra.db"));
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
