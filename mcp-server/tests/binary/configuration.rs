//! What the real binary accepts on its command line and from its environment: each flag only on
//! the commands it applies to, help that names the environment a command reads, and a master
//! key that is set but empty refused instead of becoming a new vault, and no vault made by a
//! command run away from the real one. (That every flag has a description is a unit test of
//! `cli/mod.rs`.)

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
    for command in [
        &["keys", "list"][..],
        &["keys", "add"],
        &["keys", "test"],
        &["complete"],
        &["api-keys", "create"],
        &["projects", "create"],
        &["projects", "list"],
        &["usage"],
    ] {
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

/// `command`, run in `dir`.
fn in_dir(mut command: std::process::Command, dir: &std::path::Path) -> std::process::Command {
    command.current_dir(dir);
    command
}

/// Every file in `dir`, by name.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// Only `serve` and `init` create a vault. The first start's `admin login-link` line pasted in
/// another folder, `admin org list` or `converra mcp` there say which database they looked for
/// and how to point at the real one, with the configuration code, and leave the folder empty.
#[test]
fn commands_run_away_from_the_vault_name_the_path_and_create_nothing() {
    let elsewhere = tempfile::tempdir().unwrap();
    let looked_for = elsewhere.path().join("converra.db");
    let fake_key = [("CONVERRA_API_KEY", "sk_test_notAkey")];
    for args in [
        &["admin", "org", "list"][..],
        &["admin", "login-link", "--org", "default", "--email", "owner@converra.local"],
        &["mcp"],
    ] {
        let output = run(in_dir(CONVERRA.command(args, &fake_key), elsewhere.path()));
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(3), "`converra {}`: {stderr}", args.join(" "));
        assert!(
            stderr.contains(&format!("error: no Converra database at {}: ", looked_for.display())),
            "`converra {}` names the path it looked for: {stderr}",
            args.join(" ")
        );
        assert!(stderr.contains("--db PATH (or CONVERRA_DB)"), "and how to point at the vault: {stderr}");
        assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
        assert_eq!(files_in(elsewhere.path()), Vec::<String>::new(), "`converra {}` made files", args.join(" "));
    }

    // CONVERRA_DB pointing at nothing is named as given.
    let missing = elsewhere.path().join("moved.db");
    let output = run(CONVERRA.command(&["admin", "org", "list"], &[("CONVERRA_DB", missing.to_str().unwrap())]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains(&format!("no Converra database at {}", missing.display())));

    // Pointed at the real vault, the same command works from anywhere; pointed at a master key
    // file that is not there, it says so instead of generating a key that opens nothing.
    let vault = tempfile::tempdir().unwrap();
    let db = vault.path().join("converra.db");
    let db_arg = db.to_str().unwrap();
    let init = run(CONVERRA.command(&["init", "--org", "acme", "--owner", "o@acme.example", "--db", db_arg], &[]));
    assert!(init.status.success(), "{}", stderr_of(&init));
    let list = run(in_dir(CONVERRA.command(&["admin", "org", "list", "--db", db_arg], &[]), elsewhere.path()));
    assert!(list.status.success(), "{}", stderr_of(&list));
    assert!(String::from_utf8_lossy(&list.stdout).contains("acme"));
    let key_file = vault.path().join("elsewhere.key");
    let output = run(CONVERRA
        .command(&["admin", "org", "list", "--db", db_arg, "--master-key-file", key_file.to_str().unwrap()], &[]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains(&format!("no master key file at {}", key_file.display())),
        "{}",
        stderr_of(&output)
    );
    assert!(!key_file.exists(), "no new master key was generated");
    assert_eq!(files_in(elsewhere.path()), Vec::<String>::new());
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
