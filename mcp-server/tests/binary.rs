//! The real `converra` binary, as an operator runs it: first start, master-key handling,
//! `init` and `admin`, `kill -9`, and what ends up in the logs at `CONVERRA_LOG=trace`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_converra");
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

fn random_master_key() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `converra` with a clean environment (no `CONVERRA_*` from the caller) and trace logging.
fn converra(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().env("CONVERRA_LOG", "trace").args(args);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

/// Runs a command that must finish on its own within the start timeout.
fn run(mut command: Command) -> Output {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("the command did not finish: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `converra serve`, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    http: reqwest::Client,
}

impl Server {
    /// Starts `converra serve` on a free port with `db` and waits until `/readyz` answers 200.
    async fn start(db: &Path, envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = converra(&["serve", "--addr", &addr, "--db", db.to_str().unwrap()], envs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("converra starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
        });
        let mut server = Server {
            child,
            base: format!("http://{addr}"),
            stderr,
            reader: Some(reader),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("converra serve exited with {status}: {}", server.finish());
            }
            let ready = server.http.get(format!("{}/readyz", server.base)).timeout(Duration::from_secs(1)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(started.elapsed() < START_TIMEOUT, "not ready in {START_TIMEOUT:?}: {}", server.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until the log contains `needle`.
    async fn wait_for_log(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(started.elapsed() < START_TIMEOUT, "`{needle}` never appeared in: {log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The bootstrap key printed once on first start.
    async fn bootstrap_key(&self) -> String {
        let log = self.wait_for_log("export CONVERRA_API_KEY=").await;
        let line = log.lines().find(|l| l.contains("export CONVERRA_API_KEY=")).unwrap();
        let key = line.trim().trim_start_matches("export CONVERRA_API_KEY=").to_owned();
        assert!(key.starts_with("sk_test_"), "bootstrap key: {key}");
        key
    }

    /// `kill -9`, then everything the process wrote to stderr.
    fn finish(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log()
    }

    async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, key, None).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, key, Some(body)).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("converra.db")
}

fn fails_to_start(db: &Path, envs: &[(&str, &str)], extra: &[&str]) -> (ExitStatus, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--addr", &addr, "--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = run(converra(&args, envs));
    assert!(!output.status.success(), "serve started: {}", stderr_of(&output));
    (output.status, stderr_of(&output))
}

#[tokio::test]
async fn the_first_start_creates_a_private_key_file_and_prints_a_working_bootstrap_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let started = Instant::now();
    let mut server = Server::start(&db, &[]).await;
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
    let mut again = Server::start(&db, &[]).await;
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
    let (_, stderr) = fails_to_start(&db, &[], &["--master-key-file", file.to_str().unwrap()]);
    assert!(stderr.contains("master key"), "{stderr}");
    assert!(!stderr.contains("SECRETVALUE"), "{stderr}");
    assert!(!dir.path().join("converra.db.master.key").exists(), "no key file was generated instead");
}

#[tokio::test]
async fn a_wrong_master_key_for_an_existing_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let (right, wrong) = (random_master_key(), random_master_key());
    let init = run(converra(
        &["init", "--org", "acme", "--owner", "a@acme.example", "--db", db.to_str().unwrap()],
        &[("CONVERRA_MASTER_KEY", &right)],
    ));
    assert!(init.status.success(), "{}", stderr_of(&init));

    let (_, stderr) = fails_to_start(&db, &[("CONVERRA_MASTER_KEY", &wrong)], &[]);
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(!stderr.contains(&wrong) && !stderr.contains(&right), "a master key is printed: {stderr}");
    // And the admin commands refuse it too.
    let list =
        run(converra(&["admin", "org", "list", "--db", db.to_str().unwrap()], &[("CONVERRA_MASTER_KEY", &wrong)]));
    assert!(!list.status.success());
    assert!(stderr_of(&list).contains("does not match"), "{}", stderr_of(&list));

    // The right key still starts it.
    let mut server = Server::start(&db, &[("CONVERRA_MASTER_KEY", &right)]).await;
    server.finish();
}

#[tokio::test]
async fn init_prints_a_live_key_that_works_and_admin_lists_every_organization() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    let db_arg = db.to_str().unwrap();
    let mut server = Server::start(&db, &[]).await;
    server.bootstrap_key().await;

    // The operator runs init beside the running server (same database and key file).
    let init =
        run(converra(&["init", "--org", "acme", "--owner", "a@acme.example", "--plan", "pro", "--db", db_arg], &[]));
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

    let again = run(converra(&["init", "--org", "acme", "--owner", "b@acme.example", "--db", db_arg], &[]));
    assert!(!again.status.success(), "a second `acme` is refused");
    assert!(stderr_of(&again).contains("already exists"), "{}", stderr_of(&again));
    assert!(!String::from_utf8_lossy(&again.stdout).contains("sk_"), "no key for a refused init");

    let list = run(converra(&["admin", "org", "list", "--json", "--db", db_arg], &[]));
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
    let db = db_in(&dir);
    let master = random_master_key();
    let envs = [("CONVERRA_MASTER_KEY", master.as_str())];
    let mut server = Server::start(&db, &envs).await;
    let owner = server.bootstrap_key().await;

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

    let mut server = Server::start(&db, &envs).await;
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
    let mut server = Server::start(&db, &envs).await;
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
