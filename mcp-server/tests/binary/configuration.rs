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
