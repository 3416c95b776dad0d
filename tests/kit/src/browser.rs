//! A private chromedriver (Debian's `chromium-driver`) on a free port, and the capabilities
//! that start headless Chromium under it with a fresh profile: as root Chromium needs
//! `--no-sandbox`; the other flags keep it from reaching the network on its own. chromedriver
//! runs in a process group of its own, and dropping the driver kills the whole group: a test
//! that fails before it closes its session leaves no Chromium behind. [`Chrome`] is the page a
//! test drives: open, fill, click, read, wait, photograph.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use converra::Provider;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Map, Value, json};

use crate::TestApp;
use crate::process::free_port;

/// A running chromedriver; killed when dropped.
pub struct ChromeDriver {
    child: Child,
    /// The WebDriver endpoint, `http://127.0.0.1:<port>`.
    pub url: String,
    profile: tempfile::TempDir,
}

impl ChromeDriver {
    /// Starts chromedriver and waits until it answers.
    pub async fn start() -> Self {
        let port = free_port();
        let mut command = Command::new("chromedriver");
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian package chromium-driver, installed by .ci/run)");
        let url = format!("http://127.0.0.1:{port}");
        let driver = Self { child, url, profile: tempfile::tempdir().expect("a profile directory") };
        for _ in 0..100 {
            if reqwest::get(format!("{}/status", driver.url)).await.is_ok_and(|r| r.status().is_success()) {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }

    /// Capabilities for headless Chromium `width` × `height` pixels with a fresh profile.
    pub fn capabilities(&self, width: u32, height: u32) -> Map<String, Value> {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", self.profile.path().display()),
        ];
        let caps = json!({"browserName": "chrome", "goog:chromeOptions": {"args": args}});
        caps.as_object().cloned().expect("an object")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid: this kills it and every Chromium it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium at `app`, and the driver it runs under.
pub struct Chrome {
    pub client: Client,
    base: String,
    _driver: ChromeDriver,
}

impl Chrome {
    pub async fn start(app: &TestApp, width: u32) -> Self {
        let driver = ChromeDriver::start().await;
        let client = ClientBuilder::rustls()
            .expect("a TLS configuration")
            .capabilities(driver.capabilities(width, 1000))
            .connect(&driver.url)
            .await
            .expect("Chromium starts under chromedriver");
        Self { client, base: app.base_url.clone(), _driver: driver }
    }

    pub async fn open(&self, path_or_url: &str) {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        self.client.goto(&url).await.expect("the page opens");
    }

    /// The element `css` names, waiting (up to 5 s) for it: after a click that submits a form,
    /// the next page may not have arrived yet.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        for _ in 0..100 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no {css} on the page: {}", self.text().await)
    }

    pub async fn fill(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// The text a person reads on the page.
    pub async fn text(&self) -> String {
        // Right after a click the old page may be going away: read the new one.
        for _ in 0..50 {
            if let Ok(body) = self.client.find(Locator::Css("body")).await
                && let Ok(text) = body.text().await
            {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the page has no readable body")
    }

    /// Waits (up to 5 s, while a form's answer loads) for `words` on the page; returns its text.
    pub async fn expect(&self, words: &str) -> String {
        let mut text = String::new();
        for _ in 0..100 {
            text = self.text().await;
            if text.contains(words) {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the page never said {words:?}: {text}")
    }

    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Waits (up to 5 s) until the browser is at `path`.
    pub async fn at(&self, path: &str) {
        for _ in 0..100 {
            if self.path().await == path {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the browser never reached {path}: {} {}", self.path().await, self.text().await)
    }

    /// Writes a screenshot to `target/screenshots/<name>.png` and checks it is not blank.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.len() > 10_000, "{name}: a {} byte screenshot is blank", png.len());
        // The workspace's `target/` (this crate is `tests/kit/`).
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap();
        file
    }

    pub async fn sign_in_with_key(&self, key: &str) {
        self.open("/sign-in").await;
        self.fill("input[name=api_key]", key).await;
        self.click("form[action='/sign-in'] button").await;
        self.at("/settings/integrations").await;
    }

    pub async fn sign_out(&self) {
        self.click("form[action='/sign-out'] button").await;
        self.at("/sign-in").await;
    }

    /// Opens the provider's *Add API Key* form and saves a key.
    pub async fn add_key(&self, provider: Provider, name: &str, secret: &str) -> String {
        let p = provider.as_str();
        self.open("/settings/integrations").await;
        self.click(&format!("#{p} summary")).await;
        self.fill(&format!("#{p}-name"), name).await;
        self.fill(&format!("#{p}-secret"), secret).await;
        self.click(&format!("#{p} form.stack button[type=submit]")).await;
        self.expect("Settings → Integrations").await;
        for _ in 0..100 {
            let text = self.text().await;
            if text.contains(" key.") || text.contains("was not saved") {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.text().await
    }

    pub async fn close(self) {
        self.client.close().await.ok();
    }
}
