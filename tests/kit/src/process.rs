//! The real `converra` binary as a process: a clean environment, a free port, a server that is
//! `kill -9`ed when dropped, its stderr captured for log assertions; and private PostgreSQL and
//! Redis servers a test may stop and start.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// A fresh master key, base64 as `CONVERRA_MASTER_KEY` takes it.
pub fn random_master_key() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `converra` executable under test. Cargo tells only mcp-server's own tests and benches
/// where it is (`env!("CARGO_BIN_EXE_converra")`), so they hand it to the kit as a value.
#[derive(Clone, Copy, Debug)]
pub struct Binary(&'static str);

impl Binary {
    pub const fn new(path: &'static str) -> Self {
        Self(path)
    }

    pub fn path(self) -> &'static str {
        self.0
    }

    /// `converra ARGS` with a clean environment (no `CONVERRA_*` from the caller, `PATH` kept),
    /// trace logging, and `envs`.
    pub fn command(self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut command = Command::new(self.0);
        command.env_clear().env("CONVERRA_LOG", "trace").args(args);
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        for (name, value) in envs {
            command.env(name, value);
        }
        command
    }
}

/// Runs a command that must finish on its own within the start timeout.
pub fn run(mut command: Command) -> Output {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("the command did not finish: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `converra serve`, killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    pub http: reqwest::Client,
}

impl Server {
    /// Starts `converra serve` on a free port with `db` and waits until `/readyz` answers 200.
    pub async fn start(binary: Binary, db: &Path, envs: &[(&str, &str)]) -> Server {
        match Self::try_start(binary, db, envs).await {
            Ok(server) => server,
            Err(log) => panic!("converra serve exited: {log}"),
        }
    }

    /// Like `start`, but a server that exits before it is ready is an `Err` with its log.
    pub async fn try_start(binary: Binary, db: &Path, envs: &[(&str, &str)]) -> Result<Server, String> {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = binary
            .command(&["serve", "--addr", &addr, "--db", db.to_str().unwrap()], envs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("converra starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
        });
        let mut server = Server {
            child,
            base: format!("http://{addr}"),
            stderr,
            reader: Some(reader),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return Err(format!("exit {status}: {}", server.finish()));
            }
            let ready = server.http.get(format!("{}/readyz", server.base)).timeout(Duration::from_secs(1)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(started.elapsed() < START_TIMEOUT, "not ready in {START_TIMEOUT:?}: {}", server.log());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(server)
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(started.elapsed() < START_TIMEOUT, "`{needle}` never appeared in: {log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The bootstrap key printed once on first start.
    pub async fn bootstrap_key(&self) -> String {
        let log = self.wait_for_log("export CONVERRA_API_KEY=").await;
        let line = log.lines().find(|l| l.contains("export CONVERRA_API_KEY=")).unwrap();
        let key = line.trim().trim_start_matches("export CONVERRA_API_KEY=").to_owned();
        assert!(key.starts_with("sk_test_"), "bootstrap key: {key}");
        key
    }

    /// `kill -9`, then everything the process wrote to stderr.
    pub fn finish(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log()
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, key, Some(body)).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL server of the test's own (so the test may stop and start it), from the binaries
/// Debian's `postgresql` package installs. As root it runs as the `postgres` user, as
/// PostgreSQL requires. Stopped when dropped.
pub struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (.ci/run installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max()
            .expect("a PostgreSQL version");
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        std::os::unix::fs::chown(dir.path(), postgres_uid(), None).ok();
        let pg = Self { bin, dir, port: free_port() };
        let data = pg.dir.path().join("data");
        let init = pg.as_postgres("initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres"]);
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        pg.ctl("start");
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (as a crash or a failover would).
    pub fn stop(&self) {
        self.ctl("stop");
    }

    pub fn start_again(&self) {
        self.ctl("start");
    }

    fn ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let mut args = vec!["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-o", &options, action];
        if action == "stop" {
            args.extend(["-m", "immediate"]);
        }
        let out = self.as_postgres("pg_ctl", &args);
        assert!(out.status.success(), "pg_ctl {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> Output {
        let tool = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&tool);
            c
        } else {
            Command::new(&tool)
        };
        command.args(args).output().expect("run a PostgreSQL tool")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.as_postgres("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[cfg(unix)]
fn postgres_uid() -> Option<u32> {
    let out = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// A Redis server of the test's own (so the test may stop and start it), on a free port,
/// writing nothing to disk. Stopped when dropped.
pub struct PrivateRedis {
    child: Option<Child>,
    pub port: u16,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let mut redis = Self { child: None, port: free_port() };
        redis.start_again();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The names of the keys matching `pattern` (`redis-cli --scan`).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--scan", "--pattern", pattern])
            .output()
            .expect("redis-cli is installed with redis-server");
        assert!(out.status.success(), "redis-cli: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }

    /// Freezes the server (`SIGSTOP`): connections are still accepted by the kernel and
    /// nothing is answered, as with a partition or an overloaded host.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server answer again (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server runs").id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().expect("kill runs");
        assert!(sent.success(), "kill {signal} {pid}");
    }

    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < START_TIMEOUT, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
