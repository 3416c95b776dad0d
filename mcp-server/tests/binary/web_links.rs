//! The web face's links from the real binary: `converra admin login-link` (the operator, on the
//! database) and `converra keys link` (a client, over the API) print URLs built from the public
//! URL; a login link written by one process signs a browser in on the server (the token is a
//! row in the store); the server's trace log never shows a token that a path carries; and a
//! later start says how to get a new link.

use converra_test_kit::{Server, random_master_key, run};

use crate::CONVERRA;

/// The value of `name="csrf"` in a page.
fn csrf(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a CSRF field") + r#"name="csrf" value=""#.len();
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn printed_links_follow_the_public_url_and_their_tokens_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("converra.db");
    let master = random_master_key();
    let server = Server::start(CONVERRA, &db, &[("CONVERRA_MASTER_KEY", master.as_str())]).await;
    let owner_key = server.bootstrap_key().await;

    // The operator's command, in another process, on the same database.
    let db_text = db.to_str().unwrap();
    let envs = [("CONVERRA_MASTER_KEY", master.as_str()), ("CONVERRA_PUBLIC_URL", server.base.as_str())];
    let output = run(CONVERRA.command(
        &["admin", "login-link", "--org", "default", "--db", db_text, "--email", "owner@converra.local"],
        &envs,
    ));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let link = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(link.starts_with(&format!("{}/sign-in/link/", server.base)), "{link}");
    let token = link.rsplit('/').next().unwrap().to_owned();

    // The server signs a browser in with it.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(&link).send().await.unwrap();
    let csrf_cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let signed = http
        .post(&link)
        .header("cookie", csrf_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", csrf(&body)))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    assert!(signed.headers()["set-cookie"].to_str().unwrap().starts_with("converra_session="));

    // A client asks for a connect link over the API.
    let client = [("CONVERRA_BASE_URL", server.base.as_str()), ("CONVERRA_API_KEY", owner_key.as_str())];
    let output = run(CONVERRA.command(&["keys", "link", "openai", "--name", "Production"], &client));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let connect = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(connect.starts_with(&format!("{}/connect/", server.base)), "{connect}");
    assert_eq!(
        http.get(&connect).send().await.unwrap().headers()["location"],
        "/sign-in",
        "the link alone grants nothing"
    );

    // The log is read line by line from the server's stderr: wait for the last request's line.
    let log = server.wait_for_log("path=/connect/{token}").await;
    assert!(
        log.contains("/sign-in/link/{token}") && log.contains("/connect/{token}"),
        "paths are logged as templates: {log}"
    );
    assert!(!log.contains(&token), "the login token is never logged");
    assert!(!log.contains(connect.rsplit('/').next().unwrap()), "the connect token is never logged");
}

/// The first start's link is long expired by the next start, which says how to print a new
/// one, with the flag that finds this vault from any folder; that line works as printed.
#[tokio::test]
async fn a_second_start_says_how_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("converra.db");
    let master = random_master_key();
    let envs = [("CONVERRA_MASTER_KEY", master.as_str())];
    let mut first = Server::start(CONVERRA, &db, &envs).await;
    first.bootstrap_key().await;
    first.finish();

    let second = Server::start(CONVERRA, &db, &envs).await;
    let log = second.wait_for_log("converra is listening").await;
    assert!(!log.contains("Created organization"), "{log}");
    let hint = format!("converra admin login-link --org ORG --email EMAIL --db {}", db.display());
    assert!(log.contains(&hint), "{log}");

    let elsewhere = tempfile::tempdir().unwrap();
    let line = hint.replace("ORG", "default").replace("EMAIL", "owner@converra.local");
    let args: Vec<&str> = line.split(' ').skip(1).collect();
    let mut command = CONVERRA.command(&args, &envs);
    command.current_dir(elsewhere.path());
    let output = run(command);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("/sign-in/link/"));
}
