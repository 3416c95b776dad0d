//! The client commands of the real `converra` binary (`keys`, `complete`, `api-keys`,
//! `projects`, `usage`) against a real `converra serve` on a free port, with a wiremock OpenAI
//! behind it: what they print, that `--json` parses, that a provider key piped on stdin is never
//! echoed, the exit codes scripts branch on, and messages that say what to do next.

use std::process::{Output, Stdio};
use std::time::Duration;

use converra::Provider;
use converra_test_kit::providers::{chat_answer, chat_path, invalid_key_answer, models_body, models_path};
use converra_test_kit::random_master_key;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::CONVERRA;

const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// The OpenAI key the mock accepts; only ever piped on stdin.
pub(crate) const SECRET: &str = "sk-proj-CLItestOPENAIkey0123456789wxyz";
/// A format-valid OpenAI key the mock rejects.
const REJECTED: &str = "sk-proj-REJECTEDopenaiKEY0123456789zzzz";
const MODEL: &str = "gpt-4o-mini";

/// A wiremock OpenAI: the models list and chat completions accept [`SECRET`] with OpenAI's
/// real bodies; any other key gets OpenAI's real 401.
pub(crate) async fn mock_openai() -> MockServer {
    let server = MockServer::start().await;
    let auth = format!("Bearer {SECRET}");
    Mock::given(method("GET"))
        .and(path(models_path(Provider::Openai)))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(models_body(Provider::Openai)))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(chat_path(Provider::Openai, MODEL, false)))
        .and(header("authorization", auth.as_str()))
        .respond_with(chat_answer(Provider::Openai, MODEL, "Hello from the mock!"))
        .with_priority(1)
        .mount(&server)
        .await;
    let unauthorized = invalid_key_answer(Provider::Openai, REJECTED);
    Mock::given(wiremock::matchers::any()).respond_with(unauthorized).with_priority(10).mount(&server).await;
    server
}

/// A running `converra serve` with a fresh database and OpenAI at a mock, killed when dropped.
pub(crate) struct Server {
    inner: converra_test_kit::Server,
    pub(crate) owner_key: String,
    pub(crate) dir: tempfile::TempDir,
    /// The master key it runs with, for the operator commands run on its database.
    pub(crate) master: String,
}

impl Server {
    /// Starts `converra serve` with OpenAI at `openai` and takes the bootstrap owner's key.
    pub(crate) async fn start(openai: &MockServer) -> Server {
        Self::start_with_openai_at(format!("{}/v1", openai.uri())).await
    }

    /// Starts `converra serve` with OpenAI's base URL at `url`.
    async fn start_with_openai_at(url: String) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("converra.db");
        let master = random_master_key();
        let envs = [
            ("CONVERRA_MASTER_KEY", master.as_str()),
            ("CONVERRA_OPENAI_BASE_URL", url.as_str()),
            ("CONVERRA_LOG", "info"),
        ];
        let inner = converra_test_kit::Server::start(CONVERRA, &db, &envs).await;
        let owner_key = inner.bootstrap_key().await;
        Server { inner, owner_key, dir, master }
    }

    fn log(&self) -> String {
        self.inner.log()
    }

    /// Runs `converra ARGS` as a client with a clean environment: this server's address and
    /// `key` (if any) in `CONVERRA_BASE_URL` / `CONVERRA_API_KEY`, `stdin` piped in.
    pub(crate) async fn cli(&self, args: &[&str], key: Option<&str>, stdin: Option<&str>) -> Cli {
        let mut command = tokio::process::Command::new(CONVERRA.path());
        command
            .env_clear()
            .env("CONVERRA_BASE_URL", &self.inner.base)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        if let Some(key) = key {
            command.env("CONVERRA_API_KEY", key);
        }
        let mut child = command.spawn().expect("converra runs");
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.unwrap();
        }
        drop(pipe);
        let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`converra {}` did not finish in {RUN_TIMEOUT:?}", args.join(" ")))
            .unwrap();
        Cli::new(args, output)
    }

    /// `cli` as the bootstrap owner with `stdin`, for arguments built at run time.
    async fn cli_owned(&self, args: Vec<&str>, stdin: &str) -> Cli {
        self.cli(&args, Some(&self.owner_key), Some(stdin)).await
    }

    /// `cli` as the bootstrap owner.
    pub(crate) async fn owner(&self, args: &[&str]) -> Cli {
        self.cli(args, Some(&self.owner_key), None).await
    }

    /// A new member with `role` and a key acting as them, over REST.
    pub(crate) async fn member_key(&self, email: &str, role: &str) -> String {
        let post = |path: &str, body: Value| {
            self.inner
                .http
                .post(format!("{}/api/v1/{path}", self.inner.base))
                .bearer_auth(&self.owner_key)
                .json(&body)
                .send()
        };
        let member: Value = post("members", json!({"email": email, "role": role})).await.unwrap().json().await.unwrap();
        let id = member["id"].as_str().unwrap_or_else(|| panic!("member created: {member}"));
        let key: Value = post("api-keys", json!({"name": format!("{role} key"), "member_id": id}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        key["key"].as_str().unwrap_or_else(|| panic!("key created: {key}")).to_owned()
    }
}

/// What a client command printed and how it exited.
pub(crate) struct Cli {
    command: String,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Cli {
    pub(crate) fn new(args: &[&str], output: Output) -> Self {
        Self {
            command: format!("converra {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code of `{}`\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub(crate) fn ok(&self) -> &Self {
        self.assert_code(0)
    }

    /// A failure: the exit code and `error: <message>` on stderr, nothing on stdout.
    #[track_caller]
    pub(crate) fn assert_fails(&self, code: i32, message: &str) {
        self.assert_code(code);
        assert!(self.stderr.contains(&format!("error: {message}")), "stderr of `{}`: {}", self.command, self.stderr);
    }

    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {}", self.command, self.stdout))
    }

    /// Neither output contains the provider key, whole or in part.
    #[track_caller]
    fn assert_no_secret(&self) {
        for text in [&self.stdout, &self.stderr] {
            assert!(
                !text.contains(SECRET) && !text.contains(&SECRET[8..30]),
                "`{}` printed the key: {text}",
                self.command
            );
        }
    }
}

#[tokio::test]
async fn keys_complete_api_keys_and_usage_against_a_running_server() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;

    // keys add: the secret from stdin, never echoed.
    let added = server
        .cli(&["keys", "add", "openai", "--name", "Main"], Some(&server.owner_key), Some(&format!("{SECRET}\n")))
        .await;
    added.ok().assert_no_secret();
    assert!(added.stderr.contains("Stored openai key pk_"), "{}", added.stderr);
    let row = added.stdout.lines().nth(1).expect("a table row");
    assert!(row.starts_with("pk_") && row.contains("Main") && row.contains("active"), "{}", added.stdout);

    // keys list, as a table and as JSON.
    let table = server.owner(&["keys", "list"]).await;
    table.ok().assert_no_secret();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("PROVIDER") && lines[0].contains("STATUS"),
        "{}",
        table.stdout
    );
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    let listed = server.owner(&["keys", "list", "--json"]).await;
    listed.ok().assert_no_secret();
    let keys = listed.json()["data"].as_array().cloned().expect("{data: [...]}");
    assert_eq!(keys.len(), 1);
    let id = keys[0]["id"].as_str().unwrap().to_owned();
    assert!(lines[1].starts_with(&id), "{}", table.stdout);
    assert_eq!((keys[0]["provider"].as_str(), keys[0]["name"].as_str()), (Some("openai"), Some("Main")));
    assert_eq!((keys[0]["active"].as_bool(), keys[0]["environment"].as_str()), (Some(true), Some("test")));
    assert!(keys[0]["masked"].as_str().unwrap().ends_with("wxyz"), "{}", keys[0]);

    // keys test, keys resolve.
    let tested = server.owner(&["keys", "test", &id]).await;
    tested.ok().assert_no_secret();
    assert!(tested.stdout.starts_with("ok: Connection successful ("), "{}", tested.stdout);
    let tested = server.owner(&["keys", "test", &id, "--json"]).await;
    assert_eq!(tested.ok().json()["status"], "ok");
    let resolved = server.owner(&["keys", "resolve", "openai"]).await;
    resolved.ok().assert_no_secret();
    assert!(resolved.stdout.starts_with(&format!("organization: {id} (")), "{}", resolved.stdout);
    let resolved = server.owner(&["keys", "resolve", "openai", "--json"]).await;
    assert_eq!(resolved.ok().json()["source"], "organization");

    // complete: the answer on stdout, the key source on stderr.
    let answer = server.owner(&["complete", "hi", "--model", "openai/gpt-4o-mini"]).await;
    answer.ok().assert_no_secret();
    assert_eq!(answer.stdout, "Hello from the mock!\n");
    assert!(answer.stderr.contains("organization key"), "{}", answer.stderr);
    assert!(answer.stderr.contains("12 input + 5 output tokens"), "{}", answer.stderr);
    let sent = openai.received_requests().await.unwrap();
    let chat = sent.iter().rfind(|r| r.url.path() == "/v1/chat/completions").expect("OpenAI was called");
    let body: Value = serde_json::from_slice(&chat.body).unwrap();
    assert_eq!((body["model"].as_str(), &body["messages"]), (Some(MODEL), &json!([{"role": "user", "content": "hi"}])));
    let answer = server.owner(&["complete", "hi", "--model", "gpt-4o-mini", "--json"]).await;
    let answer = answer.ok().json();
    assert_eq!(answer["content"], "Hello from the mock!");
    assert_eq!(answer["key_source"]["key_id"], id.as_str());

    // api-keys create: the new key alone on stdout, and it works.
    let created = server.owner(&["api-keys", "create", "--name", "ci"]).await;
    created.ok();
    let ci_key = created.stdout.trim().to_owned();
    assert!(ci_key.starts_with("sk_test_") && !ci_key.contains(char::is_whitespace), "{}", created.stdout);
    assert!(created.stderr.contains("shown only this once"), "{}", created.stderr);
    server.cli(&["keys", "list"], Some(&ci_key), None).await.ok();

    let table = server.owner(&["api-keys", "list"]).await;
    table.ok();
    assert!(table.stdout.lines().any(|l| l.contains(" ci ") && l.contains("active")), "{}", table.stdout);
    assert!(!table.stdout.contains(&ci_key) && !table.stdout.contains(&server.owner_key), "{}", table.stdout);
    let listed = server.owner(&["api-keys", "list", "--json"]).await.ok().json();
    let ci = listed["data"].as_array().unwrap().iter().find(|k| k["name"] == "ci").expect("ci listed").clone();
    let ci_id = ci["id"].as_str().unwrap().to_owned();
    assert!(ci.get("key").is_none(), "a listed key has no secret: {ci}");

    // api-keys revoke: the key fails on its very next use, with exit code 4.
    let revoked = server.owner(&["api-keys", "revoke", &ci_id]).await;
    revoked.ok();
    assert!(revoked.stderr.contains(&format!("Revoked API key {ci_id}")), "{}", revoked.stderr);
    let refused = server.cli(&["keys", "list"], Some(&ci_key), None).await;
    refused.assert_fails(4, "Converra rejected your API key (CONVERRA_API_KEY): API key has been revoked");
    let listed = server.owner(&["api-keys", "list", "--json"]).await.ok().json();
    let ci = listed["data"].as_array().unwrap().iter().find(|k| k["id"] == ci_id.as_str()).unwrap().clone();
    assert!(ci["revoked_at"].is_string(), "{ci}");

    // usage, as JSON and as a table.
    let usage = server.owner(&["usage", "--json"]).await.ok().json();
    // Each completion: 12 × 0.15 + 5 × 0.60 = 4.8 micro-USD by gpt-4o-mini's row, rounded once: 5.
    let totals = json!({"requests": 2, "input_tokens": 24, "output_tokens": 10, "cache_read_tokens": 0,
        "cache_write_tokens": 0, "reasoning_tokens": 0, "cost_micro_usd": 10, "unpriced_requests": 0, "cost_known": true});
    assert_eq!(usage["totals"], totals);
    assert_eq!(usage["by_key_source"][0]["key"], "organization");
    assert!(usage.get("allowance").is_none(), "no platform key on this server, so no allowance: {usage}");
    let month = usage["month"].as_str().unwrap().to_owned();
    let table = server.owner(&["usage", "--month", &month]).await;
    table.ok();
    assert!(
        table.stdout.starts_with(&format!("Usage in {month}: 2 completions, 24 input and 10 output tokens")),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("Of the input, 0 tokens read from the provider's cache"), "{}", table.stdout);
    assert!(table.stdout.contains("\nCost: $0.000010 by the price table\n"), "{}", table.stdout);
    assert!(table.stdout.contains("No platform allowance on this server"), "{}", table.stdout);
    assert!(!table.stdout.contains("0 of 100000"), "no allowance is shown where none exists: {}", table.stdout);

    // keys revoke removes it.
    server.owner(&["keys", "revoke", &id]).await.ok();
    assert_eq!(server.owner(&["keys", "list", "--json"]).await.ok().json(), json!({"data": []}));
    server.owner(&["keys", "test", &id]).await.assert_fails(6, "not found");

    assert!(!server.log().contains(SECRET), "the server logged the provider key");
}

#[tokio::test]
async fn exit_codes_scripts_can_branch_on() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;

    // 2: bad usage (clap).
    server.owner(&["keys", "add", "openai"]).await.assert_code(2);
    // 3: no API key configured.
    server.cli(&["keys", "list"], None, None).await.assert_fails(3, "invalid Converra client configuration");
    let none = server.cli(&["usage"], None, None).await;
    none.assert_code(3);
    assert!(none.stderr.contains("CONVERRA_API_KEY is not set"), "{}", none.stderr);
    assert!(none.stderr.contains("the one `converra serve` prints on its first start"), "{}", none.stderr);
    // 4: an unknown key, said as Converra's refusal, never in the words a provider's uses.
    let unknown = server.cli(&["keys", "list"], Some("sk_test_notarealkey"), None).await;
    unknown.assert_fails(4, "Converra rejected your API key (CONVERRA_API_KEY)\n");
    assert!(!unknown.stderr.contains("Invalid API key"), "{}", unknown.stderr);
    // 5: a member may not add provider keys; the piped secret is still never echoed.
    let member = server.member_key("dev@example.com", "member").await;
    let refused = server.cli(&["keys", "add", "openai", "--name", "Mine"], Some(&member), Some(SECRET)).await;
    refused.assert_fails(5, "forbidden");
    refused.assert_no_secret();
    // ...but may list, with status only.
    server.cli(&["keys", "list"], Some(&member), None).await.ok();
    // 6: an id that does not exist.
    server.owner(&["keys", "test", "pk_doesnotexist"]).await.assert_fails(6, "not found");
    server.owner(&["api-keys", "revoke", "key_doesnotexist"]).await.assert_fails(6, "not found");
    // 7: invalid input: no secret on stdin, a key of the wrong format.
    server.cli(&["keys", "add", "openai", "--name", "Empty"], Some(&server.owner_key), Some("")).await.assert_code(7);
    let wrong = "AIzaSyWRONGproviderKEY0123456789efgh";
    let invalid = server.cli(&["keys", "add", "openai", "--name", "Wrong"], Some(&server.owner_key), Some(wrong)).await;
    invalid.assert_fails(7, "invalid request");
    assert!(!invalid.stderr.contains(wrong) && invalid.stderr.contains("api_key"), "{}", invalid.stderr);
    // 9: no provider key for the model's provider.
    let no_key = server.owner(&["complete", "hi", "--model", "anthropic/claude-sonnet-4-5"]).await;
    no_key.assert_fails(9, "no provider key");
    assert!(no_key.stdout.is_empty(), "{}", no_key.stdout);
    // 10: the provider rejects the key (added with --test, or tested later).
    let rejected = server
        .cli(&["keys", "add", "openai", "--name", "Bad", "--test"], Some(&server.owner_key), Some(REJECTED))
        .await;
    rejected.assert_fails(10, "The key was not stored: Invalid API key");
    assert!(!rejected.stderr.contains("Incorrect API key provided"), "{}", rejected.stderr);
    let stored = server
        .cli(&["keys", "add", "openai", "--name", "Bad", "--json"], Some(&server.owner_key), Some(REJECTED))
        .await;
    let bad_id = stored.ok().json()["id"].as_str().unwrap().to_owned();
    let tested = server.owner(&["keys", "test", &bad_id]).await;
    tested.assert_fails(10, "the provider rejected the key: Invalid API key");
    assert!(tested.stdout.starts_with("invalid_key: Invalid API key"), "{}", tested.stdout);
    // And the failed completion on that key, too.
    server.owner(&["complete", "hi", "--model", "openai/gpt-4o-mini"]).await.assert_fails(10, "provider error");
}

#[tokio::test]
async fn an_unreachable_provider_is_told_apart_from_a_rejected_key() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server::start_with_openai_at(format!("http://127.0.0.1:{port}/v1")).await;
    let add = |test: bool| {
        let mut args = vec!["keys", "add", "openai", "--name", "Main", "--json"];
        if test {
            args.push("--test");
        }
        server.cli_owned(args, SECRET)
    };

    let refused = add(true).await;
    refused.assert_fails(10, &format!("The key was not stored: Provider unreachable (tried 127.0.0.1:{port})"));
    refused.assert_no_secret();
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert_eq!(server.owner(&["keys", "list", "--json"]).await.ok().json(), json!({"data": []}));

    let id = add(false).await.ok().json()["id"].as_str().unwrap().to_owned();
    let tested = server.owner(&["keys", "test", &id]).await;
    tested.assert_fails(10, "the provider could not be reached, so the key was not checked: Provider unreachable");
    assert!(tested.stdout.starts_with("unreachable: Provider unreachable"), "{}", tested.stdout);
}

#[tokio::test]
async fn a_key_rejected_in_traffic_shows_as_failing_in_the_keys_table() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;
    server.cli_owned(vec!["keys", "add", "openai", "--name", "Dead"], &format!("{REJECTED}\n")).await.ok();

    // The provider refuses the key in traffic: the error says how the key fares.
    let failed = server.owner(&["complete", "hi", "--model", "openai/gpt-4o-mini"]).await;
    failed.assert_code(10);
    let json = server.owner(&["complete", "hi", "--model", "openai/gpt-4o-mini", "--json"]).await;
    assert!(!json.stderr.contains(REJECTED) && !failed.stderr.contains(REJECTED), "{}", failed.stderr);

    let table = server.owner(&["keys", "list"]).await;
    table.ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].contains("HEALTH") && lines[0].contains("AGE"), "{}", table.stdout);
    assert!(lines[1].contains("invalid_key ×2") && lines[1].trim_end().ends_with("0d"), "{}", table.stdout);
    let failing = server.owner(&["keys", "list", "--health", "failing", "--json"]).await.ok().json();
    assert_eq!(failing["data"][0]["health"]["status"], "invalid_key", "{failing}");
    let healthy = server.owner(&["keys", "list", "--health", "healthy", "--json"]).await.ok().json();
    assert_eq!(healthy["data"], json!([]));

    // Owners set the rotation period from the command line too.
    let set = server.owner(&["settings", "--key-rotation-days", "30"]).await;
    assert!(set.ok().stdout.contains("Key rotation:       every 30 days"), "{}", set.stdout);
    assert_eq!(server.owner(&["settings", "--json"]).await.ok().json()["key_rotation_days"], 30);

    // The flag was logged, with ids only.
    let log = server.inner.wait_for_log("provider key health changed").await;
    assert!(!log.contains(REJECTED) && !log.contains(&REJECTED[8..30]), "the key in the log: {log}");
}

#[tokio::test]
async fn projects_are_listed_created_and_deleted_from_the_command_line() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;
    let none = server.owner(&["projects", "list"]).await;
    assert!(none.ok().stdout.starts_with("ID") && none.stdout.contains("(none)"), "{}", none.stdout);

    // create: the new row on stdout, and where its keys go on stderr.
    let created = server.owner(&["projects", "create", "--name", "mobile"]).await;
    let row = created.ok().stdout.lines().nth(1).expect("a table row").to_owned();
    let id = row.split_whitespace().next().unwrap().to_owned();
    assert!(id.starts_with("prj_") && row.contains("mobile"), "{}", created.stdout);
    assert!(created.stderr.contains(&format!("converra keys add PROVIDER --project {id}")), "{}", created.stderr);
    let web = server.owner(&["projects", "create", "--name", "web", "--json"]).await.ok().json();
    assert_eq!(web["name"], "web");
    let web_id = web["id"].as_str().unwrap().to_owned();

    // list, as a table and as JSON.
    let table = server.owner(&["projects", "list"]).await;
    assert!(table.ok().stdout.lines().any(|l| l.starts_with(&id) && l.contains("mobile")), "{}", table.stdout);
    let listed = server.owner(&["projects", "list", "--json"]).await.ok().json();
    let mut names: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["mobile", "web"]);

    // A name in use is a conflict; a member lists but does not create.
    server.owner(&["projects", "create", "--name", "mobile"]).await.assert_code(7);
    let member = server.member_key("dev@example.com", "member").await;
    server.cli(&["projects", "list"], Some(&member), None).await.ok();
    server.cli(&["projects", "create", "--name", "mine"], Some(&member), None).await.assert_fails(5, "forbidden");

    // delete: the project's own provider keys go with it.
    server.cli_owned(vec!["keys", "add", "openai", "--name", "Mobile", "--project", &id], SECRET).await.ok();
    let mobile_keys = server.owner(&["keys", "list", "--project", &id, "--json"]).await.ok().json();
    assert_eq!(mobile_keys["data"].as_array().unwrap().len(), 1, "{mobile_keys}");
    let deleted = server.owner(&["projects", "delete", &id]).await;
    assert!(deleted.ok().stderr.contains(&format!("Deleted project {id}")), "{}", deleted.stderr);
    assert_eq!(server.owner(&["keys", "list", "--json"]).await.ok().json(), json!({"data": []}));
    server.owner(&["projects", "delete", &id]).await.assert_fails(6, "not found");
    let deleted = server.owner(&["projects", "delete", &web_id, "--json"]).await.ok().json();
    assert_eq!(deleted, json!({"id": web_id, "deleted": true}));
    assert_eq!(server.owner(&["projects", "list", "--json"]).await.ok().json(), json!({"data": []}));
}

/// No server where `CONVERRA_BASE_URL` points: where it looked and what to check, not the
/// transport's chain of causes.
#[test]
fn an_unreachable_server_is_named_with_what_to_check() {
    let base = format!("http://127.0.0.1:{}", converra_test_kit::free_port());
    let envs =
        [("CONVERRA_BASE_URL", base.as_str()), ("CONVERRA_API_KEY", "sk_test_anything"), ("CONVERRA_LOG", "warn")];
    let output = converra_test_kit::run(CONVERRA.command(&["keys", "list"], &envs));
    let stderr = converra_test_kit::stderr_of(&output);
    assert_eq!(output.status.code(), Some(11), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!("error: server unreachable at {base}: is `converra serve` running? (CONVERRA_BASE_URL)")
    );
}

#[tokio::test]
async fn a_completion_failing_on_the_active_key_names_it_and_the_ways_out() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;
    let added = server.cli_owned(vec!["keys", "add", "openai", "--name", "Dead", "--json"], REJECTED).await;
    let id = added.ok().json()["id"].as_str().unwrap().to_owned();

    for args in
        [&["complete", "hi", "--model", "gpt-4o-mini"][..], &["complete", "hi", "--model", "gpt-4o-mini", "--stream"]]
    {
        let failed = server.owner(args).await;
        failed.assert_fails(10, "provider error: Invalid API key");
        for said in [
            "the organization's OpenAI key has failed".to_owned(),
            format!("It failed on the active organization key {id} (sk-proj-"),
            format!("check it with `converra keys test {id}`"),
            "make another key active with `converra keys activate <pk_…>`".to_owned(),
        ] {
            assert!(failed.stderr.contains(&said), "`{}` does not say {said:?}: {}", failed.command, failed.stderr);
        }
        assert!(!failed.stderr.contains(REJECTED) && !failed.stderr.contains(&REJECTED[8..30]), "{}", failed.stderr);
    }
}

#[tokio::test]
async fn usage_counts_the_failed_completions_by_outcome() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;
    server.cli_owned(vec!["keys", "add", "openai", "--name", "Dead"], REJECTED).await.ok();
    for _ in 0..3 {
        server.owner(&["complete", "hi", "--model", "gpt-4o-mini"]).await.assert_fails(10, "provider error");
    }
    let usage = server.owner(&["usage", "--json"]).await.ok().json();
    assert_eq!(usage["totals"]["requests"], 0, "{usage}");
    let failed: u64 = usage["by_outcome"].as_array().unwrap().iter().map(|g| g["requests"].as_u64().unwrap()).sum();
    assert_eq!(failed, 3, "{usage}");
    let table = server.owner(&["usage"]).await;
    table.ok();
    assert!(
        table.stdout.contains("Failed: 3 of 3 attempts (invalid_key 3), not in the totals above"),
        "{}",
        table.stdout
    );
}

#[tokio::test]
async fn a_key_that_passed_its_test_is_healthy_in_the_keys_table() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;
    let added = server.cli_owned(vec!["keys", "add", "openai", "--name", "Main", "--json"], SECRET).await;
    let id = added.ok().json()["id"].as_str().unwrap().to_owned();
    server.owner(&["keys", "test", &id]).await.ok();

    let table = server.owner(&["keys", "list"]).await;
    let row = table.ok().stdout.lines().nth(1).expect("a row").to_owned();
    assert_eq!(row.split_whitespace().rev().nth(1), Some("ok"), "HEALTH after a passed test:\n{}", table.stdout);
}
