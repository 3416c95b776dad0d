//! Configuration: the only place that reads the environment. Command-line flags override it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use converra::Provider;
use secrecy::{ExposeSecret, SecretString};

use converra_core::health::HealthConfig;
use converra_core::vault::Key;
use converra_providers::{AllowanceLimits, ProviderConfig, Timeouts};

mod connections;
pub mod prices;
mod public_url;
pub use converra_faces::web::TrustedProxies;
pub use public_url::PublicUrl;

/// Where the master key comes from.
#[derive(Clone)]
pub enum MasterKeySource {
    /// `CONVERRA_MASTER_KEY`: base64 of 32 bytes.
    Env(SecretString),
    /// A file holding the base64 key; created (mode 0600) when missing.
    File(PathBuf),
}

#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// The SQLite file (the embedded default), used when `database_url` is unset.
    pub db_path: PathBuf,
    /// `CONVERRA_DATABASE_URL` (or the file `CONVERRA_DATABASE_URL_FILE` names): PostgreSQL
    /// instead of SQLite. Never a flag: a password must not show in `ps`.
    pub database_url: Option<SecretString>,
    pub master_key: MasterKeySource,
    /// `CONVERRA_REDIS_URL`: where the rate-limit buckets live, shared by every replica.
    pub redis_url: Option<SecretString>,
    /// The operator accepts per-replica rate limits on PostgreSQL without Redis
    /// (`serve --local-rate-limits`, `CONVERRA_LOCAL_RATE_LIMITS=1`).
    pub local_rate_limits: bool,
    /// Whether the master key was configured (rather than defaulted to a file beside the
    /// SQLite database). PostgreSQL requires it.
    pub master_key_configured: bool,
    /// The master key being retired, during a master-key rotation.
    pub previous_master_key: Option<MasterKeySource>,
    pub providers: ProviderConfig,
    pub log_filter: String,
    pub log_json: bool,
    /// Hosts the MCP endpoint accepts in `Host` (DNS-rebinding protection); loopback by default.
    pub mcp_allowed_hosts: Vec<String>,
    /// Origins the MCP endpoint accepts in `Origin`; empty means browsers' origins are refused.
    pub mcp_allowed_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Largest request body the agent endpoints (`/v1`) accept, in bytes
    /// (`CONVERRA_V1_BODY_LIMIT`; 32 MiB by default, the providers' own: pasted screenshots).
    pub v1_body_limit: usize,
    /// Most request-body bytes the process holds buffered at once (`CONVERRA_V1_BUFFER_BUDGET`;
    /// 1 GiB by default, at least `v1_body_limit`): over it, 503 with `retry-after: 1`
    /// (`http/budget.rs`).
    pub v1_buffer_budget: usize,
    /// Bootstrap an organization, owner and key on an empty database.
    pub bootstrap: bool,
    /// Threads serving requests; `None` is one per available core.
    pub workers: Option<usize>,
    /// `CONVERRA_API_KEY`: the key `converra mcp` (stdio) acts as. Only ever read from the
    /// environment: a key on a command line is visible to every local user (`ps`, `/proc`).
    pub api_key: Option<SecretString>,
    /// Background key health: re-tests, the webhook (`CONVERRA_KEY_RETEST*`,
    /// `CONVERRA_KEY_HEALTH_INTERVAL_MS`, `CONVERRA_WEBHOOK_URL`, `CONVERRA_WEBHOOK_SECRET`).
    pub health: HealthConfig,
    /// `CONVERRA_PUBLIC_URL`: the base of every link Converra prints or sends; `None` means
    /// the listen address (see [`Config::public_url`]).
    pub public_url: Option<String>,
    /// `CONVERRA_WEB_ALLOW_HTTP=1`: the operator accepts session cookies over plain `http` on a
    /// host other than this machine (a network the operator trusts).
    pub web_allow_http: bool,
    /// `CONVERRA_TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` names the client
    /// (for the web face's sign-in bucket); none by default.
    pub trusted_proxies: TrustedProxies,
    /// `CONVERRA_METRICS_TOKEN`: `/metrics` on the main listener, behind this Bearer token.
    pub metrics_token: Option<SecretString>,
    /// `CONVERRA_METRICS_ADDR`: `/metrics` on a listener of its own, without a token.
    pub metrics_addr: Option<SocketAddr>,
    /// Both listeners' header-read and idle timeouts and connection cap (`connections.rs`).
    pub connections: converra_faces::http::serve::Limits,
}

impl Config {
    /// Whether `/metrics` is served anywhere (so the metrics are recorded at all).
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_token.is_some() || self.metrics_addr.is_some()
    }
}

/// The default budget of buffered request bytes: 1 GiB, room for 32 bodies at `/v1`'s default
/// limit at once or thousands of ordinary agent turns (tens to hundreds of KiB each), while a
/// flood of large bodies cannot hold more memory than a modest server has to spare.
pub const DEFAULT_BUFFER_BUDGET: usize = 1 << 30;

/// Most worker threads `CONVERRA_WORKERS` / `--workers` accept.
pub const MAX_WORKERS: usize = 1024;

/// A configuration value that cannot be used. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} {}", invalid_text(why))]
    Invalid { name: &'static str, why: String },
    #[error("master key file {path}: {why}")]
    KeyFile { path: String, why: String },
}

/// "is not valid: …", unless the reason already says what is wrong ("is set but empty: …").
fn invalid_text(why: &str) -> String {
    if why.starts_with("is ") { why.to_owned() } else { format!("is not valid: {why}") }
}

fn list(value: Option<String>) -> Vec<String> {
    value.map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

/// A whole number of at least 1 from `name`, or `default` when unset.
fn positive(get: &impl Fn(&str) -> Option<String>, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match get(name) {
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or(ConfigError::Invalid { name, why: format!("`{v}` is not a whole number of at least 1") }),
        None => Ok(default),
    }
}

impl Config {
    /// Reads `CONVERRA_*` variables (see the README's configuration table).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable lookup (tests pass a map). An empty variable
    /// counts as unset, except a master key: an empty secret injected by a deploy tool must
    /// not quietly become a new vault (see [`load_master_key`]).
    pub fn from_lookup(raw: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| raw(name).filter(|v| !v.is_empty());
        let addr = get("CONVERRA_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let addr = addr.parse().map_err(|_| ConfigError::Invalid {
            name: "CONVERRA_ADDR",
            why: format!("`{addr}` is not an address like 127.0.0.1:8080"),
        })?;
        let db_path = PathBuf::from(get("CONVERRA_DB").unwrap_or_else(|| "./converra.db".into()));
        let database_url = database_url(&get)?;
        let master_key_configured = raw("CONVERRA_MASTER_KEY").is_some() || get("CONVERRA_MASTER_KEY_FILE").is_some();
        let master_key = match (raw("CONVERRA_MASTER_KEY"), get("CONVERRA_MASTER_KEY_FILE")) {
            (Some(key), _) => MasterKeySource::Env(SecretString::from(key)),
            (None, Some(file)) => MasterKeySource::File(file.into()),
            (None, None) => MasterKeySource::File(default_key_file(&db_path)),
        };
        let previous_master_key = match (raw("CONVERRA_PREVIOUS_MASTER_KEY"), get("CONVERRA_PREVIOUS_MASTER_KEY_FILE"))
        {
            (Some(key), _) => Some(MasterKeySource::Env(SecretString::from(key))),
            (None, Some(file)) => Some(MasterKeySource::File(file.into())),
            (None, None) => None,
        };
        let providers = provider_config(&get)?;
        let health = health_config(&get)?;
        let body_limit = match get("CONVERRA_BODY_LIMIT") {
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: "CONVERRA_BODY_LIMIT",
                why: "must be a number of bytes".into(),
            })?,
            None => 1024 * 1024,
        };
        let v1_body_limit = match get("CONVERRA_V1_BODY_LIMIT") {
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: "CONVERRA_V1_BODY_LIMIT",
                why: "must be a number of bytes".into(),
            })?,
            None => 32 * 1024 * 1024,
        };
        let v1_buffer_budget = match get("CONVERRA_V1_BUFFER_BUDGET") {
            // A body the limit lets in must be able to pass once the budget is free.
            Some(v) => v.parse().ok().filter(|n| *n >= v1_body_limit).ok_or_else(|| ConfigError::Invalid {
                name: "CONVERRA_V1_BUFFER_BUDGET",
                why: format!("must be a number of bytes of at least CONVERRA_V1_BODY_LIMIT ({v1_body_limit})"),
            })?,
            None => DEFAULT_BUFFER_BUDGET.max(v1_body_limit),
        };
        let workers = match get("CONVERRA_WORKERS") {
            Some(v) => {
                Some(v.parse().ok().filter(|n| (1..=MAX_WORKERS).contains(n)).ok_or_else(|| ConfigError::Invalid {
                    name: "CONVERRA_WORKERS",
                    why: format!("must be a number of threads from 1 to {MAX_WORKERS}"),
                })?)
            }
            None => None,
        };
        let mut hosts = list(get("CONVERRA_MCP_ALLOWED_HOSTS"));
        if hosts.is_empty() {
            hosts = converra_faces::mcp::DEFAULT_ALLOWED_HOSTS.map(String::from).to_vec();
        }
        Ok(Self {
            addr,
            db_path,
            database_url,
            redis_url: get("CONVERRA_REDIS_URL").map(SecretString::from),
            local_rate_limits: get("CONVERRA_LOCAL_RATE_LIMITS").is_some_and(|v| v == "1" || v == "true"),
            master_key,
            master_key_configured,
            previous_master_key,
            providers,
            log_filter: get("CONVERRA_LOG").unwrap_or_else(|| "info".into()),
            log_json: get("CONVERRA_LOG_FORMAT").is_some_and(|f| f == "json"),
            mcp_allowed_hosts: hosts,
            mcp_allowed_origins: list(get("CONVERRA_MCP_ALLOWED_ORIGINS")),
            body_limit,
            v1_body_limit,
            v1_buffer_budget,
            bootstrap: true,
            workers,
            api_key: get("CONVERRA_API_KEY").map(SecretString::from),
            health,
            public_url: get("CONVERRA_PUBLIC_URL").map(|u| PublicUrl::parse(&u).map(|p| p.base)).transpose()?,
            web_allow_http: get("CONVERRA_WEB_ALLOW_HTTP").is_some_and(|v| v == "1" || v == "true"),
            trusted_proxies: get("CONVERRA_TRUSTED_PROXIES")
                .map(|v| TrustedProxies::parse(&v))
                .transpose()
                .map_err(|why| ConfigError::Invalid { name: "CONVERRA_TRUSTED_PROXIES", why })?
                .unwrap_or_default(),
            metrics_token: metrics_token(&get)?,
            metrics_addr: match get("CONVERRA_METRICS_ADDR") {
                Some(a) => Some(a.parse().map_err(|_| ConfigError::Invalid {
                    name: "CONVERRA_METRICS_ADDR",
                    why: format!("`{a}` is not an address like 127.0.0.1:9090"),
                })?),
                None => None,
            },
            connections: connections::limits(&get)?,
        })
    }

    /// The public URL: `CONVERRA_PUBLIC_URL`, or else `http://` and the address the server
    /// listens on (`addr`, the bound one when the port was 0; an unspecified address such as
    /// `0.0.0.0` becomes `127.0.0.1`).
    pub fn public_url(&self, addr: SocketAddr) -> PublicUrl {
        let default = || {
            let mut addr = addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        };
        let text = self.public_url.clone().unwrap_or_else(default);
        let mut url =
            PublicUrl::parse(&text).unwrap_or_else(|_| PublicUrl::parse(&default()).expect("a socket address"));
        url.allow_http = self.web_allow_http;
        url
    }

    /// Uses `db_path` and, unless a key is configured elsewhere, a key file beside it.
    pub fn with_db(mut self, db_path: PathBuf) -> Self {
        if let MasterKeySource::File(f) = &self.master_key
            && *f == default_key_file(&self.db_path)
        {
            self.master_key = MasterKeySource::File(default_key_file(&db_path));
        }
        self.db_path = db_path;
        self
    }
}

/// `CONVERRA_METRICS_TOKEN`: sent as a Bearer token, so visible ASCII; at least 16 characters,
/// since it guards the scrape on the public listener.
fn metrics_token(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SecretString>, ConfigError> {
    let Some(token) = get("CONVERRA_METRICS_TOKEN") else { return Ok(None) };
    if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::Invalid {
            name: "CONVERRA_METRICS_TOKEN",
            why: "must be at least 16 visible ASCII characters (e.g. `openssl rand -hex 32`)".into(),
        });
    }
    Ok(Some(SecretString::from(token)))
}

/// `CONVERRA_DATABASE_URL`, or the file `CONVERRA_DATABASE_URL_FILE` names; a postgres:// URL.
fn database_url(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SecretString>, ConfigError> {
    let database_url = match (get("CONVERRA_DATABASE_URL"), get("CONVERRA_DATABASE_URL_FILE")) {
        (Some(url), _) => Some(SecretString::from(url)),
        (None, Some(file)) => Some(SecretString::from(
            std::fs::read_to_string(&file)
                .map_err(|e| ConfigError::Invalid {
                    name: "CONVERRA_DATABASE_URL_FILE",
                    why: format!("cannot read {file}: {e}"),
                })?
                .trim()
                .to_owned(),
        )),
        (None, None) => None,
    };
    if let Some(url) = &database_url
        && !(url.expose_secret().starts_with("postgres://") || url.expose_secret().starts_with("postgresql://"))
    {
        return Err(ConfigError::Invalid {
            name: "CONVERRA_DATABASE_URL",
            why: "must start with postgres:// (the SQLite file is set with CONVERRA_DB)".into(),
        });
    }
    Ok(database_url)
}

/// The shortest `CONVERRA_WEBHOOK_SECRET`: 32 characters, as long as the HMAC-SHA256 output
/// it keys (a guessable secret lets anyone forge events).
const WEBHOOK_SECRET_MIN: usize = 32;

/// Re-tests of failing keys and the operator's webhook.
fn health_config(get: &impl Fn(&str) -> Option<String>) -> Result<HealthConfig, ConfigError> {
    let defaults = HealthConfig::default();
    let secs = |name, default: Duration| positive(get, name, default.as_secs()).map(Duration::from_secs);
    let retest = match get("CONVERRA_KEY_RETEST").as_deref() {
        None | Some("on" | "1" | "true") => true,
        Some("off" | "0" | "false") => false,
        Some(v) => {
            return Err(ConfigError::Invalid { name: "CONVERRA_KEY_RETEST", why: format!("`{v}` is not on or off") });
        }
    };
    let interval = positive(get, "CONVERRA_KEY_HEALTH_INTERVAL_MS", defaults.interval.as_millis() as u64)?;
    let webhook = match (get("CONVERRA_WEBHOOK_URL"), get("CONVERRA_WEBHOOK_SECRET")) {
        (None, None) => None,
        (Some(_), Some(secret)) if secret.chars().count() < WEBHOOK_SECRET_MIN => {
            return Err(ConfigError::Invalid {
                name: "CONVERRA_WEBHOOK_SECRET",
                why: format!(
                    "must be at least {WEBHOOK_SECRET_MIN} characters: it is the HMAC key receivers check every \
                     event with (e.g. `openssl rand -hex 32`)"
                ),
            });
        }
        (Some(url), Some(secret)) if url.starts_with("http://") || url.starts_with("https://") => {
            Some((url, SecretString::from(secret)))
        }
        (Some(url), Some(_)) => {
            return Err(ConfigError::Invalid {
                name: "CONVERRA_WEBHOOK_URL",
                why: format!("`{url}` must start with http:// or https://"),
            });
        }
        (Some(_), None) => {
            return Err(ConfigError::Invalid {
                name: "CONVERRA_WEBHOOK_SECRET",
                why: "is required with CONVERRA_WEBHOOK_URL: it signs every event".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                name: "CONVERRA_WEBHOOK_URL",
                why: "is required with CONVERRA_WEBHOOK_SECRET".into(),
            });
        }
    };
    Ok(HealthConfig {
        retest,
        retest_first: secs("CONVERRA_KEY_RETEST_FIRST_SECS", defaults.retest_first)?,
        retest_max: secs("CONVERRA_KEY_RETEST_MAX_SECS", defaults.retest_max)?,
        interval: Duration::from_millis(interval),
        webhook,
        lease: defaults.lease,
    })
}

/// The providers' endpoints, platform keys, timeouts and allowance caps.
fn provider_config(get: &impl Fn(&str) -> Option<String>) -> Result<ProviderConfig, ConfigError> {
    let mut providers = ProviderConfig::default();
    for p in Provider::ALL {
        let upper = p.as_str().to_uppercase();
        if let Some(url) = get(&format!("CONVERRA_{upper}_BASE_URL")) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    name: "CONVERRA_*_BASE_URL",
                    why: format!("`{url}` must start with http:// or https://"),
                });
            }
            providers.base_urls.insert(p, url);
        }
        if let Some(key) = get(&format!("CONVERRA_PLATFORM_{upper}_KEY")) {
            providers.platform_keys.insert(p, SecretString::from(key));
        }
    }
    let secs = |name, default: Duration| positive(get, name, default.as_secs()).map(Duration::from_secs);
    let timeouts = providers.timeouts;
    providers.timeouts = Timeouts {
        connect: secs("CONVERRA_PROVIDER_CONNECT_TIMEOUT_SECS", timeouts.connect)?,
        idle: secs("CONVERRA_PROVIDER_IDLE_TIMEOUT_SECS", timeouts.idle)?,
        response: secs("CONVERRA_PROVIDER_TIMEOUT_SECS", timeouts.response)?,
        ..timeouts
    };
    let caps = providers.allowance;
    let tokens = |name, default: u32| {
        let n = positive(get, name, default.into())?;
        u32::try_from(n).map_err(|_| ConfigError::Invalid { name, why: "must be at most 4294967295".into() })
    };
    providers.allowance = AllowanceLimits {
        default_output_tokens: tokens("CONVERRA_ALLOWANCE_DEFAULT_OUTPUT_TOKENS", caps.default_output_tokens)?,
        max_output_tokens: tokens("CONVERRA_ALLOWANCE_MAX_OUTPUT_TOKENS", caps.max_output_tokens)?,
    };
    Ok(providers)
}

/// `converra.db` → `converra.db.master.key`, beside the database.
pub fn default_key_file(db_path: &Path) -> PathBuf {
    let mut name = db_path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "converra.db".into());
    name.push(".master.key");
    db_path.with_file_name(name)
}

/// Decodes a base64 master key. The error says what is wrong, never what the key is.
pub fn decode_master_key(text: &str, name: &'static str) -> Result<Key, ConfigError> {
    if text.trim().is_empty() && name.starts_with("CONVERRA_") {
        return Err(ConfigError::Invalid {
            name,
            why: "is set but empty: set it to the base64 master key, or unset it to use the key file \
                  (CONVERRA_MASTER_KEY_FILE, by default beside the database)"
                .into(),
        });
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| ConfigError::Invalid {
        name,
        why: "must be base64 (standard alphabet) of 32 random bytes".into(),
    })?;
    let len = bytes.len();
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ConfigError::Invalid { name, why: format!("must decode to 32 bytes, not {len}") })?;
    Ok(Key::from_bytes(bytes))
}

/// Loads the master key; creates the key file (0600) with a warning when nothing is configured.
/// Returns the key and whether it was just created.
pub fn load_master_key(source: &MasterKeySource) -> Result<(Key, bool), ConfigError> {
    match source {
        MasterKeySource::Env(value) => Ok((decode_master_key(value.expose_secret(), "CONVERRA_MASTER_KEY")?, false)),
        MasterKeySource::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => {
                refuse_shared_key_file(path)?;
                Ok((decode_master_key(&text, "the master key file")?, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Key::random();
                write_key_file(path, &key)?;
                Ok((key, true))
            }
            Err(e) => Err(ConfigError::KeyFile { path: path.display().to_string(), why: e.to_string() }),
        },
    }
}

/// Refuses a key file that group or others may read, as ssh does with private keys: whoever
/// can read it can decrypt every provider key.
fn refuse_shared_key_file(path: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| ConfigError::KeyFile { path: path.display().to_string(), why: e.to_string() })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError::KeyFile {
                path: path.display().to_string(),
                why: format!(
                    "is readable by other users (mode {:o}); make it private with `chmod 600 {}`",
                    mode & 0o777,
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// Loads the previous master key (during a rotation); it must exist.
pub fn load_previous_master_key(source: &MasterKeySource) -> Result<Key, ConfigError> {
    match source {
        MasterKeySource::Env(value) => decode_master_key(value.expose_secret(), "CONVERRA_PREVIOUS_MASTER_KEY"),
        MasterKeySource::File(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::KeyFile { path: path.display().to_string(), why: e.to_string() })?;
            refuse_shared_key_file(path)?;
            decode_master_key(&text, "the previous master key file")
        }
    }
}

/// Writes a key file readable only by its owner, refusing to overwrite one.
pub fn write_key_file(path: &Path, key: &Key) -> Result<(), ConfigError> {
    let fail = |e: std::io::Error| ConfigError::KeyFile { path: path.display().to_string(), why: e.to_string() };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(fail)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(key.expose_bytes());
    file.write_all(format!("{encoded}\n").as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_master_key_refuses_instead_of_falling_back_to_a_key_file() {
        let config = Config::from_lookup(|name| (name == "CONVERRA_MASTER_KEY").then(String::new)).unwrap();
        let Err(e) = load_master_key(&config.master_key) else { panic!("an empty master key was accepted") };
        assert!(e.to_string().starts_with("CONVERRA_MASTER_KEY is set but empty: "), "{e}");
        // Other empty variables still count as unset.
        let config = Config::from_lookup(|_| Some(String::new())).unwrap();
        assert!(config.api_key.is_none() && config.db_path == Path::new("./converra.db"));
    }

    #[test]
    fn key_health_settings_have_defaults_and_a_webhook_needs_its_secret() {
        let defaults = Config::from_lookup(|_| None).unwrap().health;
        assert!(defaults.retest && defaults.webhook.is_none());
        assert_eq!((defaults.retest_first.as_secs(), defaults.retest_max.as_secs()), (60, 3600));
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        let off = Config::from_lookup(vars(&[("CONVERRA_KEY_RETEST", "off"), ("CONVERRA_KEY_RETEST_FIRST_SECS", "5")]));
        let off = off.unwrap().health;
        assert_eq!((off.retest, off.retest_first.as_secs()), (false, 5));
        let Err(e) = Config::from_lookup(vars(&[("CONVERRA_WEBHOOK_URL", "https://hooks.example.com/c")])) else {
            panic!("a webhook without a secret was accepted")
        };
        assert!(e.to_string().starts_with("CONVERRA_WEBHOOK_SECRET is required"), "{e}");
        const BOTH: [(&str, &str); 2] = [
            ("CONVERRA_WEBHOOK_URL", "https://hooks.example.com/c"),
            ("CONVERRA_WEBHOOK_SECRET", "whsec_0123456789abcdef0123456789ab"),
        ];
        let webhook = Config::from_lookup(vars(&BOTH)).unwrap().health.webhook.expect("a webhook");
        assert_eq!(webhook.0, "https://hooks.example.com/c");
    }

    #[test]
    fn a_webhook_secret_shorter_than_32_characters_refuses_to_start() {
        for short in ["s", "s3cret", "0123456789abcdef0123456789abcde"] {
            let env = move |name: &str| match name {
                "CONVERRA_WEBHOOK_URL" => Some("https://hooks.example.com/c".to_owned()),
                "CONVERRA_WEBHOOK_SECRET" => Some(short.to_owned()),
                _ => None,
            };
            let Err(e) = Config::from_lookup(env) else { panic!("the secret `{short}` was accepted") };
            let said = e.to_string();
            assert!(said.starts_with("CONVERRA_WEBHOOK_SECRET is not valid: must be at least 32 characters"), "{said}");
            assert!(!said.contains(&format!("`{short}`")), "the secret was repeated: {said}");
        }
    }

    #[test]
    fn the_buffer_budget_is_1_gib_by_default_and_never_below_the_v1_body_limit() {
        assert_eq!(Config::from_lookup(|_| None).unwrap().v1_buffer_budget, 1 << 30);
        let env = |budget: &'static str| move |name: &str| (name == "CONVERRA_V1_BUFFER_BUDGET").then(|| budget.into());
        assert_eq!(Config::from_lookup(env("33554432")).unwrap().v1_buffer_budget, 32 << 20);
        let Err(e) = Config::from_lookup(env("33554431")) else { panic!("a budget below the body limit was accepted") };
        let said = "CONVERRA_V1_BUFFER_BUDGET is not valid: must be a number of bytes of at least CONVERRA_V1_BODY_LIMIT (33554432)";
        assert_eq!(e.to_string(), said);
    }

    #[test]
    fn a_bad_trusted_proxy_is_named_with_its_variable() {
        let env = |name: &str| (name == "CONVERRA_TRUSTED_PROXIES").then(|| "10.0.0.0/8, proxy.internal".into());
        let said =
            "CONVERRA_TRUSTED_PROXIES is not valid: `proxy.internal` is not an address or a network like 10.0.0.0/8";
        assert_eq!(Config::from_lookup(env).err().map(|e| e.to_string()).as_deref(), Some(said));
    }

    #[test]
    fn metrics_are_off_by_default_and_the_token_must_be_long_enough() {
        let config = Config::from_lookup(|_| None).unwrap();
        assert!(!config.metrics_enabled());
        let env = |token: &'static str, addr: &'static str| {
            move |name: &str| match name {
                "CONVERRA_METRICS_TOKEN" => Some(token.to_owned()),
                "CONVERRA_METRICS_ADDR" => Some(addr.to_owned()),
                _ => None,
            }
        };
        let config = Config::from_lookup(env("0123456789abcdef", "127.0.0.1:9090")).unwrap();
        assert!(config.metrics_enabled() && config.metrics_addr == Some("127.0.0.1:9090".parse().unwrap()));
        let Err(e) = Config::from_lookup(env("short", "")) else { panic!("a short token was accepted") };
        assert!(e.to_string().starts_with("CONVERRA_METRICS_TOKEN is not valid: must be at least 16"), "{e}");
        let Err(e) = Config::from_lookup(env("", "nowhere")) else { panic!("a bad address was accepted") };
        assert!(e.to_string().contains("CONVERRA_METRICS_ADDR"), "{e}");
    }
}
