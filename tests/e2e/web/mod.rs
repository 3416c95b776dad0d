//! The web face: its security rules over plain HTTP (`security.rs`, `connect.rs`, `pages.rs`,
//! `forms.rs`, `members.rs`, `budgets.rs`, run everywhere), and the pages in a real headless
//! Chromium (`browser.rs`, ignored unless Chromium and chromedriver are installed). `Visitor` is
//! a browser reduced to what the rules need: a cookie jar, no redirects followed, forms posted
//! with their CSRF token.

mod agents;
mod browser;
mod budgets;
mod connect;
mod details;
mod environments;
mod forms;
mod members;
mod pages;
mod projects;
mod removal;
mod security;

use std::collections::HashMap;
use std::sync::Mutex;

use converra_test_kit::TestApp;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

/// One answer, read whole.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `csrf` field of the page's first form.
    pub fn csrf(&self) -> String {
        let at = self.body.find(r#"name="csrf" value=""#).expect("the page has a form with a CSRF field");
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// The value of the field `id` (a key or link shown once).
    pub fn value_of(&self, id: &str) -> String {
        let at = self.body.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("no #{id}: {}", self.body));
        let rest = &self.body[at..];
        let rest = &rest[rest.find(r#"value=""#).unwrap() + r#"value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// The value of the first field named `name` (a hidden field).
    pub fn value_of_name(&self, name: &str) -> String {
        let at = self.body.find(&format!(r#"name="{name}""#)).unwrap_or_else(|| panic!("no {name}: {}", self.body));
        let rest = &self.body[at..];
        let rest = &rest[rest.find(r#"value=""#).unwrap() + r#"value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|l| l.to_str().ok())
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// A browser without a screen.
pub struct Visitor {
    base: String,
    http: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self::with_headers(app, reqwest::header::HeaderMap::new())
    }

    /// A browser behind a reverse proxy: every request carries `X-Forwarded-For: forwarded_for`
    /// (the test server's peer, 127.0.0.1, plays the proxy).
    pub fn forwarded_for(app: &TestApp, forwarded_for: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", forwarded_for.parse().unwrap());
        Self::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: reqwest::header::HeaderMap) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Self { base: app.base_url.clone(), http, cookies: Mutex::default() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// The session cookie's value, if signed in.
    pub fn session(&self) -> Option<String> {
        self.cookies.lock().unwrap().get("converra_session").cloned()
    }

    async fn read(&self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if set.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        Page { status, headers, body: response.text().await.unwrap() }
    }

    fn path_of<'a>(&self, url_or_path: &'a str) -> &'a str {
        url_or_path.strip_prefix(self.base.as_str()).unwrap_or(url_or_path)
    }

    pub async fn get(&self, path: &str) -> Page {
        let url = format!("{}{}", self.base, self.path_of(path));
        self.read(self.http.get(url).header("cookie", self.cookie_header()).send().await.unwrap()).await
    }

    /// Posts `fields` as a browser on this site would (its `Origin`, its cookies).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let url = format!("{}{}", self.base, self.path_of(path));
        let request =
            self.http.post(url).header("cookie", self.cookie_header()).header("origin", &self.base).form(fields);
        self.read(request.send().await.unwrap()).await
    }

    /// Opens `page`, then posts its form to `action` with its CSRF token and `fields`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Where a form's answer leads: the page a `303 See Other` names (post-redirect-get), or the
    /// answer itself.
    pub async fn follow(&self, page: Page) -> Page {
        match (page.status, page.location()) {
            (303, Some(to)) => self.get(to).await,
            _ => page,
        }
    }

    /// [`Visitor::submit`], then the page its answer leads to.
    pub async fn submit_and_follow(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let answer = self.submit(page, action, fields).await;
        self.follow(answer).await
    }

    pub async fn sign_in_with_key(&self, key: &str) -> Page {
        self.submit("/sign-in", "/sign-in", &[("api_key", key)]).await
    }

    pub async fn sign_in_with_link(&self, link: &str) -> Page {
        let path = self.path_of(link).to_owned();
        self.submit(&path, &path, &[]).await
    }
}

/// A signed-in visitor for `key`.
pub async fn signed_in(app: &TestApp, key: &str) -> Visitor {
    let visitor = Visitor::new(app);
    let page = visitor.sign_in_with_key(key).await;
    assert_eq!((page.status, page.location()), (303, Some("/settings/integrations")), "{}", page.body);
    visitor
}

/// A one-time login link for the member `email` of the bootstrap organization.
pub async fn login_link(app: &TestApp, email: &str) -> String {
    use secrecy::ExposeSecret;
    app.core.create_login_link("default", email).await.expect("a login link").expose_secret().to_owned()
}

/// How the pages name a provider.
pub fn integrations_label(p: converra::Provider) -> &'static str {
    match p {
        converra::Provider::Openai => "OpenAI",
        converra::Provider::Anthropic => "Anthropic",
        converra::Provider::Gemini => "Gemini",
        converra::Provider::Deepseek => "DeepSeek",
    }
}

/// The bootstrap owner's email.
pub async fn owner_email(app: &TestApp) -> String {
    app.get("/api/v1/me", &app.api_key).await.body["member"]["email"].as_str().unwrap().to_owned()
}
