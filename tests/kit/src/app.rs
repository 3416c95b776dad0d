//! The end-to-end harness: `spawn_app()` starts the real server on a random local port with a
//! fresh database and master key, and returns a handle with the bootstrap owner's key.
//! wiremock stands in for the AI providers only (see [`crate::providers`]).
//!
//! The database is a fresh SQLite file, or, with `CONVERRA_TEST_BACKEND=postgres`, a fresh
//! database on the PostgreSQL server `CONVERRA_TEST_DATABASE_URL` names (`.ci/run` runs the
//! suite both ways). Tests that read the SQLite file itself ask for it with
//! [`Options::sqlite_file`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use converra::{Environment, Plan, Provider};
use converra_core::Core;
use converra_server::app::App;
use converra_server::config::{Config, MasterKeySource};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::process::random_master_key;

use crate::providers::MockProviders;

/// How to start the app.
#[derive(Clone, Default)]
pub struct Options {
    /// Provider base URLs (point them at wiremock servers).
    pub base_urls: HashMap<Provider, String>,
    /// The operator's platform keys behind the allowance.
    pub platform_keys: HashMap<Provider, String>,
    /// Largest request body, in bytes.
    pub body_limit: Option<usize>,
    /// The test reads or writes the SQLite file itself: always SQLite, whatever the backend.
    pub sqlite_file: bool,
    /// Adjusts the configuration last (timeouts, allowance caps, …), as the operator's
    /// environment would.
    pub configure: Option<fn(&mut Config)>,
    /// The operator's webhook: URL and signing secret (`CONVERRA_WEBHOOK_URL`/`_SECRET`).
    pub webhook: Option<(String, String)>,
}

impl Options {
    /// Options for a test that inspects the SQLite file directly.
    pub fn sqlite_file() -> Self {
        Self { sqlite_file: true, ..Self::default() }
    }
}

/// Whether this run tests the PostgreSQL backend (`CONVERRA_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("CONVERRA_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// Creates an empty database on the test PostgreSQL server (`CONVERRA_TEST_DATABASE_URL`,
/// started by `.ci/run`) and returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var("CONVERRA_TEST_DATABASE_URL")
        .expect("CONVERRA_TEST_DATABASE_URL names a PostgreSQL server to test against (.ci/run starts one)");
    fresh_postgres_database_on(&admin).await
}

/// Creates an empty database on the PostgreSQL server at `admin` and returns its URL.
pub async fn fresh_postgres_database_on(admin: &str) -> String {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{name}")
}

/// A running server with its own database and master key.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    /// The bootstrap owner's `sk_test_` key of organization `default`.
    pub api_key: String,
    pub org_id: String,
    pub owner_id: String,
    pub db_path: PathBuf,
    /// The PostgreSQL database, when the run tests that backend.
    pub database_url: Option<String>,
    pub master_key: String,
    pub core: Arc<Core>,
    pub http: reqwest::Client,
    /// Where `/metrics` is served alone, when the options configured `metrics_addr`.
    pub metrics_addr: Option<SocketAddr>,
    options: Options,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    // Dropped last: the database lives in it.
    _dir: Arc<tempfile::TempDir>,
}

fn config(db_path: &std::path::Path, database_url: Option<&str>, master_key: &str, options: &Options) -> Config {
    let mut config = Config::from_lookup(|_| None).expect("defaults are valid");
    config.addr = "127.0.0.1:0".parse().unwrap();
    config = config.with_db(db_path.to_owned());
    config.database_url = database_url.map(|url| SecretString::from(url.to_owned()));
    // One app per database: its own rate-limit buckets are the shared ones (PostgreSQL without
    // Redis refuses to start otherwise).
    config.local_rate_limits = database_url.is_some();
    config.master_key = MasterKeySource::Env(SecretString::from(master_key.to_owned()));
    config.master_key_configured = true;
    config.providers.base_urls = options.base_urls.clone();
    config.providers.platform_keys =
        options.platform_keys.iter().map(|(p, k)| (*p, SecretString::from(k.clone()))).collect();
    config.providers.test_timeout = Some(std::time::Duration::from_secs(2));
    if let Some(limit) = options.body_limit {
        config.body_limit = limit;
    }
    if let Some((url, secret)) = &options.webhook {
        config.health.webhook = Some((url.clone(), SecretString::from(secret.clone())));
    }
    if let Some(configure) = options.configure {
        configure(&mut config);
    }
    config
}

/// Starts the app with default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// Starts the app with the providers at `mocks`.
pub async fn spawn_app_on(mocks: &MockProviders) -> TestApp {
    spawn_app_with(Options { base_urls: mocks.base_urls(), ..Default::default() }).await
}

/// Starts the four provider mocks and the app in front of them, with the operator's platform
/// keys `platform` behind the allowance.
pub async fn app_with_mocks(platform: &[(Provider, &str)]) -> (TestApp, MockProviders) {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        platform_keys: platform.iter().map(|(p, k)| (*p, (*k).to_owned())).collect(),
        ..Default::default()
    })
    .await;
    (app, mocks)
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db_path = dir.path().join("converra.db");
    let database_url = if on_postgres() && !options.sqlite_file { Some(fresh_postgres_database().await) } else { None };
    let master_key = random_master_key();
    let app = App::build(config(&db_path, database_url.as_deref(), &master_key, &options)).await.expect("app starts");
    let bootstrap = app.bootstrap.as_ref().expect("an empty database bootstraps");
    let (api_key, org_id, owner_id) =
        (bootstrap.api_key.expose_secret().to_owned(), bootstrap.organization.id.clone(), bootstrap.owner_id.clone());
    start(app, dir, db_path, database_url, master_key, options, api_key, org_id, owner_id)
}

#[allow(clippy::too_many_arguments)]
fn start(
    app: App,
    dir: Arc<tempfile::TempDir>,
    db_path: PathBuf,
    database_url: Option<String>,
    master_key: String,
    options: Options,
    api_key: String,
    org_id: String,
    owner_id: String,
) -> TestApp {
    let (tx, rx) = oneshot::channel::<()>();
    let (addr, core, metrics_addr) = (app.addr, app.core.clone(), app.metrics_addr);
    let handle = tokio::spawn(async move {
        app.run(async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        base_url: format!("http://{addr}"),
        api_key,
        org_id,
        owner_id,
        db_path,
        database_url,
        master_key,
        core,
        http: reqwest::Client::new(),
        metrics_addr,
        options,
        shutdown: Some(tx),
        handle: Some(handle),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// An SDK client for `key` against this server (no retries, so tests see every answer).
    pub fn sdk(&self, key: &str) -> converra::Converra {
        converra::Converra::builder().api_key(key).base_url(&self.base_url).max_retries(0).build().expect("sdk client")
    }

    /// A request with `Authorization: Bearer key`.
    pub fn request(&self, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(key)
    }

    pub async fn get(&self, path: &str, key: &str) -> Answer {
        Answer::of(self.request(reqwest::Method::GET, path, key).send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        Answer::of(self.request(reqwest::Method::POST, path, key).json(&body).send().await.expect("request sent")).await
    }

    /// POSTs `body` as it is, labelled `application/json`: for malformed JSON and streamed bodies.
    pub async fn post_raw(&self, path: &str, key: &str, body: impl Into<reqwest::Body>) -> Answer {
        let request = self.request(reqwest::Method::POST, path, key).header("content-type", "application/json");
        Answer::of(request.body(body).send().await.expect("request sent")).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> Answer {
        Answer::of(self.request(reqwest::Method::PUT, path, key).json(&body).send().await.expect("request sent")).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> Answer {
        Answer::of(self.request(reqwest::Method::PATCH, path, key).json(&body).send().await.expect("request sent"))
            .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Answer {
        Answer::of(self.request(reqwest::Method::DELETE, path, key).send().await.expect("request sent")).await
    }

    /// Creates another organization (as the operator would with `converra init`) and returns
    /// its owner's key.
    pub async fn new_org(&self, name: &str, plan: Plan) -> String {
        let b = self
            .core
            .create_organization(name, &format!("owner@{name}.example"), plan, Environment::Test)
            .await
            .unwrap();
        b.api_key.expose_secret().to_owned()
    }

    /// Adds a member with `role` to the caller's organization and returns a key acting as them.
    pub async fn member_key(&self, owner_key: &str, email: &str, role: &str) -> (String, String) {
        let member = self.post("/api/v1/members", owner_key, serde_json::json!({"email": email, "role": role})).await;
        assert_eq!(member.status, 201, "{}", member.body);
        let id = member.body["id"].as_str().unwrap().to_owned();
        let key = self
            .post("/api/v1/api-keys", owner_key, serde_json::json!({"name": format!("{role} key"), "member_id": id}))
            .await;
        assert_eq!(key.status, 201, "{}", key.body);
        (id, key.body["key"].as_str().unwrap().to_owned())
    }

    /// Adds a provider key named `<provider> key` over REST, with the fields of `extra` (a JSON
    /// object, or null) added to the body.
    pub async fn try_add_provider_key(&self, key: &str, provider: Provider, secret: &str, extra: Value) -> Answer {
        let mut body =
            serde_json::json!({"provider": provider.as_str(), "name": format!("{provider} key"), "api_key": secret});
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        self.post("/api/v1/provider-keys", key, body).await
    }

    /// [`Self::try_add_provider_key`], asserting it was created; the key's listed form.
    pub async fn add_provider_key(&self, key: &str, provider: Provider, secret: &str, extra: Value) -> Value {
        let answer = self.try_add_provider_key(key, provider, secret, extra).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.body
    }

    /// Stops the server gracefully and starts it again on the same database and master key.
    pub async fn restart(self) -> TestApp {
        let key = self.master_key.clone();
        self.restart_with_master_keys(key, None).await
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }

    /// Runs `sql` on the app's PostgreSQL database (stop the app first: what its caches hold
    /// would go stale), e.g. to take its schema back a version. The SQLite file is at `db_path`.
    pub async fn run_postgres_sql(&self, sql: &str) {
        let url = self.database_url.as_deref().expect("the app runs on PostgreSQL");
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client.batch_execute(sql).await.expect("the SQL runs on PostgreSQL");
    }

    /// The raw bytes of the database file and its WAL (a test that reads them starts with
    /// [`Options::sqlite_file`]).
    pub fn raw_database(&self) -> Vec<u8> {
        assert!(self.database_url.is_none(), "raw_database reads the SQLite file: start with Options::sqlite_file()");
        let mut bytes = std::fs::read(&self.db_path).unwrap_or_default();
        let mut wal = self.db_path.clone().into_os_string();
        wal.push("-wal");
        bytes.extend(std::fs::read(wal).unwrap_or_default());
        bytes
    }

    /// Stops the server and starts it again on the same database with another master key
    /// (base64), e.g. after `rotate_master_key`. Panics if the app refuses to start.
    pub async fn restart_with_master_key(self, key_b64: String) -> TestApp {
        self.restart_with_master_keys(key_b64, None).await
    }

    /// Another app on this one's database, master key and options, serving beside it as a
    /// second replica would (its own background work, caches and change watch).
    pub async fn replica(&self) -> TestApp {
        let config = config(&self.db_path, self.database_url.as_deref(), &self.master_key, &self.options);
        let app = App::build(config).await.expect("a replica starts");
        assert!(app.bootstrap.is_none(), "a used database is not bootstrapped again");
        start(
            app,
            self._dir.clone(),
            self.db_path.clone(),
            self.database_url.clone(),
            self.master_key.clone(),
            self.options.clone(),
            self.api_key.clone(),
            self.org_id.clone(),
            self.owner_id.clone(),
        )
    }

    /// Restarts with a new master key and, during a rotation, the previous one.
    pub async fn restart_with_master_keys(mut self, key_b64: String, previous_b64: Option<String>) -> TestApp {
        self.stop().await;
        let mut config = config(&self.db_path, self.database_url.as_deref(), &key_b64, &self.options);
        config.previous_master_key = previous_b64.map(|p| MasterKeySource::Env(SecretString::from(p)));
        let app = App::build(config).await.expect("app restarts");
        assert!(app.bootstrap.is_none(), "a used database is not bootstrapped again");
        let dir = self._dir.clone();
        start(
            app,
            dir,
            self.db_path.clone(),
            self.database_url.clone(),
            key_b64,
            self.options.clone(),
            self.api_key.clone(),
            self.org_id.clone(),
            self.owner_id.clone(),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    pub async fn of(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, headers, text, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error answer: status, code and exact message.
    pub fn assert_error(&self, status: u16, code: &str, message: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(self.body["error"]["code"], code, "code of {}", self.text);
        assert_eq!(self.body["error"]["message"], message, "message of {}", self.text);
    }

    pub fn assert_code(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(self.body["error"]["code"], code, "code of {}", self.text);
    }
}

/// The string `field` of `v`, or a panic naming it.
pub fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("`{field}` is a string in {v}"))
}

/// The `id` of a created resource.
pub fn id_of(v: &Value) -> String {
    str_of(v, "id").to_owned()
}

/// Now, in unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `unix` seconds as RFC 3339 UTC (`2027-01-31T00:00:00Z`), the form every `*_at` field takes.
pub fn rfc3339(unix: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix as i64).expect("a representable time");
    converra_base::ids::format_time(at)
}
