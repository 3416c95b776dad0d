//! A private chromedriver (Debian's `chromium-driver`) on a free port, and the capabilities
//! that start headless Chromium under it with a fresh profile: as root Chromium needs
//! `--no-sandbox`; the other flags keep it from reaching the network on its own. chromedriver
//! runs in a process group of its own, and dropping the driver kills the whole group: a test
//! that fails before it closes its session leaves no Chromium behind.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Map, Value, json};

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
