//! The web face's security rules over plain HTTP: cookies and their flags, CSRF tokens on
//! every form, the headers of every page, the session cookie refused by the APIs, login links
//! used once and only in time, sessions that end with their member or API key, the `Host`
//! check, and the sign-in attempts bucket (per client address, behind a trusted proxy too).

use converra_faces::web::TrustedProxies;
use converra_test_kit::{Options, spawn_app, spawn_app_with};
use serde_json::json;

use super::{Visitor, login_link, owner_email, signed_in};

#[tokio::test]
async fn an_api_key_signs_in_with_a_session_cookie_that_scripts_cannot_read() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    let form = visitor.get("/sign-in").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"type="password" name="api_key""#), "the key goes into a password field");
    let csrf_cookie = form.set_cookie("converra_csrf").expect("a CSRF cookie for the sign-in form");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));

    let signed = visitor.sign_in_with_key(&app.api_key).await;
    assert_eq!((signed.status, signed.location()), (303, Some("/settings/integrations")));
    let cookie = signed.set_cookie("converra_session").expect("a session cookie");
    assert!(cookie.contains("; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "http://127.0.0.1 is local use: no Secure flag");
    assert!(!cookie.contains(&app.api_key), "the cookie is a session id, not the key");

    let page = visitor.get("/settings/integrations").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&owner_email(&app).await) && page.body.contains("Settings → Integrations"));
    assert!(!page.body.contains(&app.api_key), "the key is never rendered back");

    // Signing in again gives a new session id and ends the one this browser had.
    let first = visitor.session().unwrap();
    visitor.sign_in_with_key(&app.api_key).await;
    assert_ne!(visitor.session().unwrap(), first, "a new id at every sign-in");
    let replay = Visitor::new(&app);
    replay.cookies.lock().unwrap().insert("converra_session".into(), first);
    assert_eq!(replay.get("/settings/integrations").await.location(), Some("/sign-in"));

    // Sign-out ends the session in the store: the old cookie no longer works.
    let old = visitor.session().unwrap();
    let out = visitor.submit("/settings/integrations", "/sign-out", &[]).await;
    assert_eq!((out.status, out.location()), (303, Some("/sign-in")));
    let notice = visitor.follow(out).await;
    assert!(notice.body.contains("You are signed out."), "{}", notice.body);
    let replay = Visitor::new(&app);
    replay.cookies.lock().unwrap().insert("converra_session".into(), old);
    assert_eq!(replay.get("/settings/integrations").await.location(), Some("/sign-in"));
}

#[tokio::test]
async fn every_page_forbids_framing_inline_script_referrers_and_caching() {
    let app = spawn_app().await;
    let visitor = signed_in(&app, &app.api_key).await;
    for path in [
        "/sign-in",
        "/settings/integrations",
        "/settings/projects",
        "/settings/ai",
        "/settings/usage",
        "/settings/api-keys",
    ] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(page.headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
        assert!(!page.body.contains("<script>"), "{path}: no inline script");
    }
    // The stylesheet is served by the binary itself (works offline).
    let css = visitor.get("/assets/style.css").await;
    assert_eq!((css.status, css.headers["content-type"].to_str().unwrap()), (200, "text/css; charset=utf-8"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_origin_is_refused() {
    let app = spawn_app().await;
    // Sign-in forms too.
    let visitor = Visitor::new(&app);
    visitor.get("/sign-in").await;
    let no_token = visitor.post("/sign-in", &[("api_key", &app.api_key)]).await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    assert!(no_token.set_cookie("converra_session").is_none());

    let visitor = signed_in(&app, &app.api_key).await;
    let add = [
        ("provider", "openai"),
        ("name", "x"),
        ("api_key", "sk-proj-VALIDopenaiKEY0123456789wxyz"),
        ("scope", "organization"),
        ("environment", "live"),
    ];
    let refused = visitor.post("/settings/integrations/keys", &add).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("This form did not come from this page"), "{}", refused.body);
    let wrong = visitor
        .post("/settings/integrations/keys", &[&[("csrf", "0123456789abcdef0123456789abcdef")][..], &add].concat())
        .await;
    assert_eq!(wrong.status, 403);

    // The right token from another origin (a cross-site form): refused too.
    let csrf = visitor.get("/settings/integrations").await.csrf();
    let cross = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = cross
        .post(app.url("/settings/integrations/keys"))
        .header("cookie", format!("converra_session={}", visitor.session().unwrap()))
        .header("origin", "https://evil.example")
        .form(&[&[("csrf", csrf.as_str())][..], &add].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let post = |origin: &'static str, fetch_site: &'static str| {
        cross
            .post(app.url("/settings/ai"))
            .header("cookie", format!("converra_session={}", visitor.session().unwrap()))
            .header("origin", origin)
            .header("sec-fetch-site", fetch_site)
            .form(&[("csrf", csrf.as_str()), ("tone", "casual")])
            .send()
    };
    assert_eq!(post("null", "cross-site").await.unwrap().status(), 403, "the browser says another site sent it");
    assert_eq!(app.get("/api/v1/provider-keys", &app.api_key).await.body, json!({"data": []}), "nothing stored");
    // Under `Referrer-Policy: no-referrer` a browser's own form says `Origin: null`: the token decides.
    assert_eq!(post("null", "same-origin").await.unwrap().status(), 303);
}

#[tokio::test]
async fn the_session_cookie_means_nothing_to_the_apis() {
    let app = spawn_app().await;
    let visitor = signed_in(&app, &app.api_key).await;
    let cookie = format!("converra_session={}", visitor.session().unwrap());
    let http = reqwest::Client::new();
    for (method, path) in [("GET", "/api/v1/me"), ("GET", "/v1/models"), ("POST", "/api/mcp")] {
        let request = http.request(method.parse().unwrap(), app.url(path)).header("cookie", &cookie);
        let request = if method == "POST" {
            request
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body("{}")
        } else {
            request
        };
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401, "{path}");
        assert!(answer.text().await.unwrap().contains("Authorization header required"), "{path}");
    }
}

#[tokio::test]
async fn a_login_link_signs_in_once_and_not_after_ten_minutes() {
    let app = spawn_app_with(Options::sqlite_file()).await;
    let email = owner_email(&app).await;
    let link = login_link(&app, &email).await;
    assert!(link.starts_with(&format!("{}/sign-in/link/", app.base_url)), "built from the public URL: {link}");

    // Opening the link signs nobody in (link previews open links); its button does.
    let visitor = Visitor::new(&app);
    let opened = visitor.get(&link).await;
    assert_eq!(opened.status, 200);
    assert!(visitor.session().is_none());
    let signed = visitor.sign_in_with_link(&link).await;
    assert_eq!((signed.status, signed.location()), (303, Some("/settings/integrations")), "{}", signed.body);
    assert!(visitor.get("/settings/integrations").await.body.contains(&email));

    // Used: refused, in the page's words.
    let again = Visitor::new(&app).sign_in_with_link(&link).await;
    assert_eq!(again.status, 401);
    assert!(again.body.contains("This sign-in link is invalid, already used or expired"), "{}", again.body);

    // Expired: refused.
    let late = login_link(&app, &email).await;
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    db.execute("UPDATE web_tokens SET expires_at = 1 WHERE used_at IS NULL", []).unwrap();
    assert_eq!(Visitor::new(&app).sign_in_with_link(&late).await.status, 401);

    // Only hashes are stored.
    let token = link.rsplit('/').next().unwrap();
    assert!(!String::from_utf8_lossy(&app.raw_database()).contains(token), "the token itself is never stored");
    let session = visitor.session().unwrap();
    assert!(!String::from_utf8_lossy(&app.raw_database()).contains(&session), "nor the session id");
}

#[tokio::test]
async fn a_session_ends_with_its_api_key_or_its_member() {
    let app = spawn_app().await;
    let (member_id, member_key) = app.member_key(&app.api_key, "admin@default.example", "admin").await;
    let by_key = signed_in(&app, &member_key).await;
    let by_link = Visitor::new(&app);
    by_link.sign_in_with_link(&login_link(&app, "admin@default.example").await).await;
    assert_eq!(by_link.get("/settings/integrations").await.status, 200);

    let keys = app.get("/api/v1/api-keys", &member_key).await.body;
    let key_id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{key_id}"), &app.api_key).await.status, 204);
    assert_eq!(by_key.get("/settings/integrations").await.location(), Some("/sign-in"), "revoked key: session over");
    assert_eq!(by_link.get("/settings/integrations").await.status, 200, "a link session has no key to lose");

    assert_eq!(app.delete(&format!("/api/v1/members/{member_id}"), &app.api_key).await.status, 204);
    assert_eq!(
        by_link.get("/settings/integrations").await.location(),
        Some("/sign-in"),
        "member removed: session over"
    );
}

#[tokio::test]
async fn a_page_asked_for_under_another_host_name_is_refused() {
    let app = spawn_app().await;
    let visitor = signed_in(&app, &app.api_key).await;
    let answer = reqwest::Client::new()
        .get(app.url("/settings/integrations"))
        .header("host", "converra.attacker.example")
        .header("cookie", format!("converra_session={}", visitor.session().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_client_address() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    for _ in 0..10 {
        let wrong = visitor.sign_in_with_key("sk_test_not_a_real_key").await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
        assert!(wrong.body.contains("Invalid API key"));
    }
    let limited = visitor.sign_in_with_key(&app.api_key).await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("Too many attempts"), "{}", limited.body);
    assert!(limited.set_cookie("converra_session").is_none(), "not even the right key gets in");
    // No proxy is trusted by default: a client cannot pick another bucket by naming an address.
    let spoofer = Visitor::forwarded_for(&app, "198.51.100.20");
    assert_eq!(spoofer.sign_in_with_key(&app.api_key).await.status, 429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_address_has_its_own_sign_in_bucket() {
    let options = Options {
        configure: Some(|c| c.trusted_proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap()),
        ..Default::default()
    };
    let app = spawn_app_with(options).await;
    let guesser = Visitor::forwarded_for(&app, "203.0.113.7, 10.1.2.3");
    for _ in 0..10 {
        assert_eq!(guesser.sign_in_with_key("sk_test_not_a_real_key").await.status, 401);
    }
    assert_eq!(guesser.sign_in_with_key(&app.api_key).await.status, 429, "the guesser is limited");
    // Another person behind the same proxy still signs in.
    let colleague = Visitor::forwarded_for(&app, "198.51.100.20");
    let page = colleague.sign_in_with_key(&app.api_key).await;
    assert_eq!((page.status, page.location()), (303, Some("/settings/integrations")), "{}", page.body);
    // What the guesser writes left of what the proxy appended changes nothing.
    let forger = Visitor::forwarded_for(&app, "198.51.100.20, 203.0.113.7");
    assert_eq!(forger.sign_in_with_key(&app.api_key).await.status, 429);
}

#[tokio::test]
async fn behind_https_the_cookies_are_host_only_and_secure_and_links_use_the_public_url() {
    let options = Options {
        configure: Some(|c| c.public_url = Some("https://converra.example.com/".into())),
        ..Default::default()
    };
    let app = spawn_app_with(options).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let host = "converra.example.com";
    let form = http.get(app.url("/sign-in")).header("host", host).send().await.unwrap();
    let csrf_cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(csrf_cookie.starts_with("__Host-converra_csrf=") && csrf_cookie.ends_with("; Secure"), "{csrf_cookie}");
    let body = form.text().await.unwrap();
    let page = super::Page { status: 200, headers: Default::default(), body };
    let signed = http
        .post(app.url("/sign-in"))
        .header("host", host)
        .header("origin", "https://converra.example.com")
        .header("cookie", csrf_cookie.split(';').next().unwrap())
        .form(&[("csrf", page.csrf().as_str()), ("api_key", app.api_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-converra_session="))
        .expect("the session cookie");
    assert!(session.contains("; Path=/;") && session.ends_with("HttpOnly; SameSite=Lax; Secure"), "{session}");
    // The request's own Host (here 127.0.0.1:port) is not the public URL's: refused.
    let cookie = session.split(';').next().unwrap().to_owned();
    let wrong_host = http.get(app.url("/settings/integrations")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(wrong_host.status(), 400);
    let page = http
        .get(app.url("/settings/integrations"))
        .header("host", host)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    let link =
        app.post("/api/v1/provider-keys/connect-links", &app.api_key, json!({"provider": "gemini", "name": "G"})).await;
    assert!(link.body["url"].as_str().unwrap().starts_with("https://converra.example.com/connect/"), "{}", link.text);
}

#[tokio::test]
async fn on_plain_http_to_another_host_the_web_face_stays_off() {
    let options =
        Options { configure: Some(|c| c.public_url = Some("http://10.1.2.3:8080".into())), ..Default::default() };
    let app = spawn_app_with(options).await;
    assert_eq!(reqwest::get(app.url("/sign-in")).await.unwrap().status(), 404);
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 200, "the APIs are unaffected");
}
