//! The master key as an operator handles it: generated into a private file on first start,
//! refused when malformed, readable by others or wrong for the database, never printed.

use super::*;

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
    // The welcome is read line by line from stderr: wait for its last line, the sign-in link.
    let log = server.wait_for_log("/sign-in/link/").await;
    assert!(log.contains("WARN"), "a warning: {log}");
    assert!(log.contains("master key file"), "the warning names the key file: {log}");
    assert!(log.contains("claude mcp add --transport http converra"), "how to use the key: {log}");
    assert!(!log.contains(master.trim()), "the master key is never printed");
    // A one-time link that signs the owner in to the web face, on the address it listens on.
    let link = log.lines().map(str::trim).find(|l| l.contains("/sign-in/link/")).expect("a sign-in link").to_owned();
    let path = link.split_once("127.0.0.1:").and_then(|(_, rest)| rest.split_once('/')).map(|(_, p)| format!("/{p}"));
    let path = path.expect("a link on this machine's address");
    assert_eq!(server.get(&path, "").await.0, 200, "the link opens the sign-in page: {link}");

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
