//! What the real binary accepts on its command line and from its environment: each flag only on
//! the commands it applies to, help that names the environment a command reads, and a master
//! key that is set but empty refused instead of becoming a new vault. (That every flag has a
//! description is a unit test of `cli/mod.rs`.)

use converra_test_kit::{free_port, run, stderr_of};

use crate::CONVERRA;

/// `converra ARGS --help`, as printed.
fn help(args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.push("--help");
    let output = run(CONVERRA.command(&args, &[]));
    assert!(output.status.success(), "{args:?}: {}", stderr_of(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SERVER_FLAGS: [&str; 3] = ["--db", "--master-key-file", "--previous-master-key-file"];

#[test]
fn client_commands_offer_client_flags_and_name_their_environment() {
    for command in
        [&["keys", "list"][..], &["keys", "add"], &["keys", "test"], &["complete"], &["api-keys", "create"], &["usage"]]
    {
        let text = help(command);
        for flag in SERVER_FLAGS {
            assert!(!text.contains(flag), "`{}` offers the server flag {flag}:\n{text}", command.join(" "));
        }
        assert!(text.contains("--json"), "{text}");
        assert!(text.contains("CONVERRA_API_KEY") && text.contains("CONVERRA_BASE_URL"), "{text}");
    }
}

#[test]
fn server_commands_offer_the_vault_flags_and_not_the_client_ones() {
    for command in [&["serve"][..], &["init"], &["mcp"], &["admin", "backup"], &["admin", "rotate-data-key"]] {
        let text = help(command);
        for flag in SERVER_FLAGS {
            assert!(text.contains(flag), "`{}` lacks {flag}:\n{text}", command.join(" "));
        }
        assert!(!text.contains("CONVERRA_BASE_URL"), "{text}");
    }
    assert!(!help(&["serve"]).contains("--json"), "serve has no JSON output");
}

#[test]
fn a_master_key_that_is_set_but_empty_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("converra.db");
    let addr = format!("127.0.0.1:{}", free_port());
    for value in ["", "  "] {
        let output = run(CONVERRA
            .command(&["serve", "--addr", &addr, "--db", db.to_str().unwrap()], &[("CONVERRA_MASTER_KEY", value)]));
        assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
        let stderr = stderr_of(&output);
        assert!(stderr.contains("error: CONVERRA_MASTER_KEY is set but empty"), "{stderr}");
        assert!(!dir.path().join("converra.db.master.key").exists(), "no development key was generated");
    }
}

#[test]
fn admin_migrate_refuses_a_password_in_the_target_in_any_form_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("converra.db");
    // Port 1 on loopback: nothing listens there, so a run that connected would fail otherwise.
    for to in ["postgres://u@127.0.0.1:1/db?password=hunter2", "host=127.0.0.1 port=1 user=u password=hunter2"] {
        let output = run(CONVERRA.command(&["admin", "migrate", "--from", db.to_str().unwrap(), "--to", to], &[]));
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(3), "{to}: {stderr}");
        assert!(stderr.contains("must not hold a password") && stderr.contains("CONVERRA_DATABASE_URL"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "the password was repeated: {stderr}");
    }
}

#[tokio::test]
async fn a_short_webhook_secret_refuses_to_start_and_plain_http_to_another_host_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("converra.db");
    let addr = format!("127.0.0.1:{}", free_port());
    let short = [("CONVERRA_WEBHOOK_URL", "https://hooks.example.com/c"), ("CONVERRA_WEBHOOK_SECRET", "k")];
    let output = run(CONVERRA.command(&["serve", "--addr", &addr, "--db", db.to_str().unwrap()], &short));
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error: CONVERRA_WEBHOOK_SECRET is not valid: must be at least 32 characters"), "{stderr}");

    let secret = "whsec_0123456789abcdef0123456789abcdef";
    for (url, warned) in [("http://hooks.example.com/c?token=t0ken", true), ("http://127.0.0.1:9/hook", false)] {
        let envs = [("CONVERRA_WEBHOOK_URL", url), ("CONVERRA_WEBHOOK_SECRET", secret), ("CONVERRA_LOG", "info")];
        let mut server = converra_test_kit::Server::start(CONVERRA, &db, &envs).await;
        let log = server.finish();
        assert_eq!(log.contains("CONVERRA_WEBHOOK_URL is plain http"), warned, "{url}: {log}");
        assert!(!log.contains("t0ken") && !log.contains(secret), "{log}");
    }
}
