//! Runs every example in `examples/` against a real server with wiremock providers, so the
//! code users copy from cannot rot: each runs as the compiled example binary, with the
//! environment its header documents, and must exit 0 and print what it promises, without ever
//! printing a provider key.
//!
//! The binaries are the ones cargo builds next to this test (`target/<profile>/examples/`).
//! A plain `cargo test` builds every example of the package before running the tests; a
//! filtered `cargo test --test examples` does not, so then run `cargo build --examples` first.
//! A missing or outdated binary fails the test with that advice rather than testing old code.
//! (Building them from inside the test would wait forever on the build-directory lock that the
//! running `cargo test` holds.)

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use converra::{AddProviderKey, KeyScope, KeySource, Provider, ProviderKeyFilter, ResolveQuery};
use converra_test_kit::providers::{chat_stream, revoked_key, valid_key};
use converra_test_kit::{Options, TestApp, app_with_mocks, spawn_app_with};

/// Every example in `examples/`; a new one needs a test here (see `every_example_is_tested`).
const EXAMPLES: [&str; 4] = ["project_override", "quickstart", "rotate_key", "stream"];
const MODEL: &str = "gpt-4o-mini";
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// A second OpenAI key the mock accepts, for rotation.
const NEW_OPENAI: &str = "sk-proj-NEWopenaiKEY0123456789rotatedkey";
/// The project's own OpenAI key (stored, never called).
const PROJECT_OPENAI: &str = "sk-proj-PROJECTopenaiKEY0123456789prjk";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The newest modification time of the Rust sources under `dir`.
fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            modified(&path)
        } else {
            continue;
        };
        newest = newest.max(time);
    }
    newest
}

/// The compiled example `name`, built by `cargo test` next to this test's own binary
/// (`target/debug/deps/examples-HASH` → `target/debug/examples/NAME`).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test binary lives in <target>/<profile>/deps");
    let binary = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let advice = "run the whole suite with `cargo test` (which builds every example first), or \
                  `cargo build --examples` before `cargo test --test examples`";
    assert!(binary.is_file(), "the example binary {} is missing: {advice}", binary.display());
    let built = modified(&binary);
    let source = manifest_dir().join("examples").join(format!("{name}.rs"));
    let newest = modified(&source).max(newest_source(&manifest_dir().join("sdk/src")));
    assert!(built >= newest, "the example binary {} is older than its sources: {advice}", binary.display());
    binary
}

/// What an example printed, and how it ended.
struct Run {
    output: Output,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "the example failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status,
            self.stdout,
            self.stderr
        );
    }

    fn assert_failure(&self) {
        assert!(!self.output.status.success(), "the example should have failed:\n{}", self.stdout);
        assert!(self.stderr.starts_with("error: ") || self.stderr.contains("\nerror: "), "stderr: {}", self.stderr);
    }

    /// The line of stdout starting with `prefix`.
    fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with `{prefix}` in:\n{}", self.stdout))
    }

    fn assert_never_shows(&self, secrets: &[&str]) {
        for secret in secrets {
            // The whole key and any long stretch of it (a masked preview shows only the ends).
            let middle = &secret[8..secret.len() - 4];
            for text in [&self.stdout, &self.stderr] {
                assert!(!text.contains(secret) && !text.contains(middle), "a provider key was printed:\n{text}");
            }
        }
    }
}

/// Runs example `name` with a clean environment: the server's address and `key`, plus `envs`.
async fn run_example(name: &str, app: &TestApp, key: Option<&str>, envs: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(example_binary(name));
    command.env_clear().env("CONVERRA_BASE_URL", &app.base_url).args(args).kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    if let Some(key) = key {
        command.env("CONVERRA_API_KEY", key);
    }
    for (var, value) in envs {
        command.env(var, value);
    }
    let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the example `{name}` did not finish within {RUN_TIMEOUT:?}"))
        .expect("the example starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Run { output, stdout, stderr }
}

async fn add_org_key(app: &TestApp, secret: &str) -> String {
    let sdk = app.sdk(&app.api_key);
    sdk.provider_keys().add(AddProviderKey::new(Provider::Openai, "OpenAI-Production", secret)).await.unwrap().id
}

#[test]
fn every_example_is_tested() {
    let mut found: Vec<String> = std::fs::read_dir(manifest_dir().join("examples"))
        .expect("examples/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, EXAMPLES, "every example in examples/ needs a test in tests/e2e/sdk/examples.rs");
    for name in EXAMPLES {
        example_binary(name);
    }
}

#[tokio::test]
async fn quickstart_stores_tests_and_uses_the_openai_key() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let secret = valid_key(Provider::Openai);
    mocks.answer_text(Provider::Openai, secret, MODEL, "Hello, Converra!").await;

    let run = run_example("quickstart", &app, Some(&app.api_key), &[("OPENAI_API_KEY", secret)], &[]).await;
    run.assert_success();
    assert!(run.line("Connected to ").contains("organization `default`"), "{}", run.stdout);
    let stored = run.line("Stored OpenAI key pk_");
    assert!(stored.ends_with("wxyz"), "the masked preview ends with the key's last four: {stored}");
    assert_eq!(run.line("Test: ").split(" (").next(), Some("Test: ok - Connection successful"));
    assert_eq!(run.line("Answer: "), "Answer: Hello, Converra!");
    let source = run.line("Key source: ");
    assert!(source.starts_with("Key source: organization pk_"), "{source}");
    assert!(source.ends_with("(12 input + 5 output tokens)"), "{source}");
    run.assert_never_shows(&[secret]);

    // What it did is what the server has.
    let keys = app.sdk(&app.api_key).provider_keys().list(ProviderKeyFilter::default()).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].active);
    assert!(stored.contains(&keys[0].id), "{stored}");
    assert!(source.contains(&keys[0].id), "{source}");
}

#[tokio::test]
async fn quickstart_exits_non_zero_with_the_reason_when_the_provider_rejects_the_key() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let secret = revoked_key(Provider::Openai);
    let run = run_example("quickstart", &app, Some(&app.api_key), &[("OPENAI_API_KEY", secret)], &[]).await;
    run.assert_failure();
    let reason = "error: storing the key with a test: The key was not stored: Invalid API key";
    assert!(run.stderr.contains(reason), "{}", run.stderr);
    run.assert_never_shows(&[secret]);
    let keys = app.sdk(&app.api_key).provider_keys().list(ProviderKeyFilter::default()).await.unwrap();
    assert!(keys.is_empty(), "a rejected key is not stored: {keys:?}");

    // Without its configuration it says what is missing.
    let run = run_example("quickstart", &app, None, &[("OPENAI_API_KEY", secret)], &[]).await;
    run.assert_failure();
    assert!(run.stderr.contains("CONVERRA_API_KEY"), "{}", run.stderr);
    let run = run_example("quickstart", &app, Some(&app.api_key), &[], &[]).await;
    run.assert_failure();
    assert!(run.stderr.contains("OPENAI_API_KEY"), "{}", run.stderr);
}

#[tokio::test]
async fn rotate_key_replaces_the_active_key_and_removes_the_old_one() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let old_secret = valid_key(Provider::Openai);
    let old = add_org_key(&app, old_secret).await;
    mocks.accept_models(Provider::Openai, NEW_OPENAI).await;

    let run = run_example("rotate_key", &app, Some(&app.api_key), &[("NEW_OPENAI_API_KEY", NEW_OPENAI)], &[]).await;
    run.assert_success();
    assert!(run.line("Old key: ").starts_with(&format!("Old key: {old} ")), "{}", run.stdout);
    let new_line = run.line("New key: pk_");
    assert!(new_line.ends_with("dkey"), "masked preview of the new key: {new_line}");
    assert_eq!(run.line("Test: "), "Test: ok - Connection successful");
    assert!(run.line("Active: ").ends_with(&format!("inactive: {old} (old)")), "{}", run.stdout);
    assert_eq!(run.line("Removed old key "), format!("Removed old key {old}"));
    run.assert_never_shows(&[old_secret, NEW_OPENAI]);

    let sdk = app.sdk(&app.api_key);
    let keys = sdk.provider_keys().list(ProviderKeyFilter::default()).await.unwrap();
    assert_eq!(keys.len(), 1, "only the new key is left: {keys:?}");
    assert!(keys[0].active && keys[0].id != old && new_line.contains(&keys[0].id));
    assert_eq!(keys[0].name.as_deref(), Some("OpenAI-Production (rotated)"));
    let resolved = sdk.provider_keys().resolve(ResolveQuery { provider: Provider::Openai, project_id: None }).await;
    assert_eq!(resolved.unwrap().key_id.as_deref(), Some(keys[0].id.as_str()));
}

#[tokio::test]
async fn rotate_key_keeps_the_old_key_when_the_new_one_is_rejected() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let old = add_org_key(&app, valid_key(Provider::Openai)).await;
    let rejected = revoked_key(Provider::Openai);

    let run = run_example("rotate_key", &app, Some(&app.api_key), &[("NEW_OPENAI_API_KEY", rejected)], &[]).await;
    run.assert_failure();
    let reason = "error: storing the new key with a test: The key was not stored: Invalid API key";
    assert!(run.stderr.contains(reason), "{}", run.stderr);
    run.assert_never_shows(&[valid_key(Provider::Openai), rejected]);
    let keys = app.sdk(&app.api_key).provider_keys().list(ProviderKeyFilter::default()).await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].id == old && keys[0].active, "the old key stays in use: {keys:?}");

    // With nothing to rotate it says so.
    let fresh = spawn_app_with(Options::default()).await;
    let run = run_example("rotate_key", &fresh, Some(&fresh.api_key), &[("NEW_OPENAI_API_KEY", NEW_OPENAI)], &[]).await;
    run.assert_failure();
    assert!(run.stderr.contains("no active OpenAI key"), "{}", run.stderr);
}

#[tokio::test]
async fn project_override_resolves_the_project_key_inside_the_project_only() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let org_secret = valid_key(Provider::Openai);
    let envs = [("OPENAI_API_KEY", org_secret), ("PROJECT_OPENAI_API_KEY", PROJECT_OPENAI)];

    let run = run_example("project_override", &app, Some(&app.api_key), &envs, &["Support bot"]).await;
    run.assert_success();
    assert!(run.line("Stored organization key pk_").contains("…"), "{}", run.stdout);
    assert!(run.line("Created project prj_").ends_with("(Support bot)"), "{}", run.stdout);
    assert!(run.line("Stored project key pk_").contains("…"), "{}", run.stdout);
    let inside = run.line("In project prj_");
    let outside = run.line("Without a project: ");
    assert!(inside.contains(": project key pk_"), "{inside}");
    assert!(outside.starts_with("Without a project: organization key pk_"), "{outside}");
    run.assert_never_shows(&[org_secret, PROJECT_OPENAI]);

    let sdk = app.sdk(&app.api_key);
    let projects = sdk.projects().list().await.unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].name, "Support bot");
    let keys = sdk.provider_keys().list(ProviderKeyFilter::default()).await.unwrap();
    let project_key = keys.iter().find(|k| k.scope == KeyScope::Project).expect("a project key");
    assert_eq!(project_key.project_id.as_deref(), Some(projects[0].id.as_str()));
    assert!(inside.contains(&project_key.id), "{inside}");

    // A second run keeps the organization's key and adds another project.
    let run = run_example("project_override", &app, Some(&app.api_key), &envs[1..], &[]).await;
    run.assert_success();
    assert!(!run.stdout.contains("Stored organization key"), "{}", run.stdout);
    let resolved = sdk.provider_keys().resolve(ResolveQuery { provider: Provider::Openai, project_id: None }).await;
    assert_eq!(resolved.unwrap().source, KeySource::Organization);
    assert_eq!(sdk.projects().list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn stream_prints_the_answer_as_it_arrives() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let secret = valid_key(Provider::Openai);
    add_org_key(&app, secret).await;
    mocks
        .answer_chat(
            Provider::Openai,
            secret,
            MODEL,
            true,
            chat_stream(Provider::Openai, MODEL, &["Keys ", "turn, ", "safe."]),
        )
        .await;

    let run = run_example("stream", &app, Some(&app.api_key), &[], &["Write a haiku about key rotation"]).await;
    run.assert_success();
    assert_eq!(run.stdout, "[key source: organization]\nKeys turn, safe.\n[12 input + 5 output tokens]\n");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    run.assert_never_shows(&[secret]);
    let sent = mocks.chat_bodies(Provider::Openai).await.pop().expect("the provider was called");
    assert_eq!(sent["messages"][0]["content"], "Write a haiku about key rotation");
    assert_eq!(sent["stream"], true);

    // A failure before the answer starts: the error, and a non-zero exit.
    let run =
        run_example("stream", &app, Some(&app.api_key), &[("CONVERRA_MODEL", "anthropic/claude-sonnet-4-5")], &[])
            .await;
    run.assert_failure();
    assert!(run.stderr.contains("no provider key"), "{}", run.stderr);
}
