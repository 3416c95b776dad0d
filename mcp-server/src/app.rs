//! Building the application from configuration and running it until stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use secrecy::ExposeSecret;
use tokio::net::{TcpListener, TcpSocket};

use crate::config::{self, Config, PublicUrl};
use converra_adapters::Counters;
use converra_core::access::Bootstrap;
use converra_core::vault::Keyring;
use converra_core::{Core, Error};
use converra_faces::http::layer::WrapLayer;
use converra_faces::http::serve::{Limits, serve};
use converra_metrics::Metrics;
use converra_providers::Providers;
use converra_store::Store;

/// Why the application could not start. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot open the database {path}: {source}")]
    Database { path: String, source: converra_store::StoreError },
    #[error(
        "on PostgreSQL, replicas share rate limits through Redis: set CONVERRA_REDIS_URL, or start with --local-rate-limits (CONVERRA_LOCAL_RATE_LIMITS=1) to accept limits per replica"
    )]
    RedisRequired,
    #[error("{0}")]
    Redis(String),
    #[error(
        "with PostgreSQL the master key must be given explicitly (CONVERRA_MASTER_KEY or CONVERRA_MASTER_KEY_FILE): there is no database file to keep a generated key beside"
    )]
    MasterKeyRequired,
    #[error(transparent)]
    MasterKey(#[from] converra_core::vault::MasterKeyError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot create the first organization: {0}")]
    Bootstrap(Error),
}

/// The opened core: database, keyring, providers. Shared by `serve`, `mcp` and the admin CLI.
pub struct Opened {
    pub core: Arc<Core>,
    /// The master key file was just created (first start).
    pub created_master_key: bool,
}

/// Opens the database and checks the master key against it. Links are built from the public
/// URL (`CONVERRA_PUBLIC_URL`, or the configured listen address).
pub async fn open(config: &Config) -> Result<Opened, StartError> {
    open_at(config, config.public_url(config.addr)).await
}

/// [`open`] with the public URL decided by the caller (the server's, from its bound address).
async fn open_at(config: &Config, public_url: PublicUrl) -> Result<Opened, StartError> {
    let store = open_store(config).await?;
    let (master, created_master_key) = config::load_master_key(&config.master_key)?;
    let previous = config.previous_master_key.as_ref().map(config::load_previous_master_key).transpose()?;
    let keyring = Keyring::open(&store, master, previous).await?;
    let providers = Providers::new(config.providers.clone());
    // Without Redis, this process counts budgets alone only beside SQLite: replicas on
    // PostgreSQL reserve them in the database.
    let counters = match &config.redis_url {
        Some(url) => Counters::redis(url).map_err(StartError::Redis)?,
        None => Counters::local(config.database_url.is_none()),
    };
    let metrics = if config.metrics_enabled() { Metrics::enabled() } else { Metrics::default() };
    let prices = std::sync::Arc::new(config::prices::from_env()?);
    let core = Core::new(store, keyring, providers, counters, config.health.clone(), metrics, prices);
    core.set_public_url(public_url.base);
    Ok(Opened { core, created_master_key })
}

/// Opens the configured store: PostgreSQL when `CONVERRA_DATABASE_URL` is set, else SQLite.
pub async fn open_store(config: &Config) -> Result<Store, StartError> {
    match &config.database_url {
        Some(url) => {
            if !config.master_key_configured {
                return Err(StartError::MasterKeyRequired);
            }
            Store::open_postgres(url)
                .await
                .map_err(|source| StartError::Database { path: "CONVERRA_DATABASE_URL".into(), source })
        }
        None => Store::open_sqlite(&config.db_path)
            .await
            .map_err(|source| StartError::Database { path: config.db_path.display().to_string(), source }),
    }
}

/// The accept queue's length. `TcpListener::bind` asks for 128, and a burst of new connections
/// beyond that (clients starting together, a fleet reconnecting) was dropped by the kernel and
/// retried by each client a second later: 1 s added to the unlucky ones, the unfair tail seen
/// at 256 connections. The kernel caps it at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 4096;

/// Connections the metrics listener serves at once (or fewer, under a smaller
/// `CONVERRA_MAX_CONNECTIONS`).
const METRICS_CONNECTIONS: usize = 16;

/// Binds `addr` (port 0 picks one) and listens with a deep accept queue.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does on Unix: a restarted server can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// A bound, ready server.
pub struct App {
    pub core: Arc<Core>,
    pub addr: SocketAddr,
    /// The organization created on this start, if the database was empty.
    pub bootstrap: Option<Bootstrap>,
    /// Where `/metrics` is served alone (`CONVERRA_METRICS_ADDR`), once bound.
    pub metrics_addr: Option<SocketAddr>,
    /// Whether the web face is served (see [`PublicUrl::refusal`]).
    pub web: bool,
    listener: TcpListener,
    router: Router,
    /// The separate metrics listener and its router.
    metrics: Option<(TcpListener, Router)>,
    /// Both listeners' timeouts and connection cap.
    limits: Limits,
}

impl App {
    /// Opens everything, bootstraps an empty database, and binds the listener (port 0 picks one).
    pub async fn build(config: Config) -> Result<Self, StartError> {
        if config.database_url.is_some() && config.redis_url.is_none() && !config.local_rate_limits {
            return Err(StartError::RedisRequired);
        }
        // Bound first: with port 0 the public URL's default is the address actually bound.
        let (listener, addr) = bind(config.addr)?;
        let public_url = config.public_url(addr);
        let opened = open_at(&config, public_url.clone()).await?;
        if opened.created_master_key
            && let config::MasterKeySource::File(path) = &config.master_key
        {
            tracing::warn!(path = %path.display(), "no master key configured: generated a development master key file (mode 0600). \
                    Back it up: without it the stored provider keys cannot be decrypted. Set CONVERRA_MASTER_KEY in production.");
        }
        let core = opened.core;
        core.start_background();
        let bootstrap = if config.bootstrap { core.bootstrap().await.map_err(StartError::Bootstrap)? } else { None };
        let mut routes = converra_faces::rest::api_routes(core.clone(), config.v1_body_limit)
            .merge(converra_faces::mcp::routes(core.clone(), &mcp_config(&config)));
        let web = public_url.refusal().is_none();
        match public_url.refusal() {
            None => {
                if !public_url.https && !public_url.is_loopback() {
                    tracing::warn!(public_url = %public_url.base, "CONVERRA_WEB_ALLOW_HTTP=1: web sign-in cookies travel unencrypted over plain http");
                }
                let site = converra_faces::web::Site::new(
                    public_url.https,
                    public_url.authority.clone(),
                    config.trusted_proxies.clone(),
                );
                routes = routes.merge(converra_faces::web::routes(site));
            }
            Some(why) => tracing::warn!("{why}"),
        }
        if let Some(token) = &config.metrics_token {
            routes = routes.merge(converra_faces::http::metrics::guarded_routes(token.clone()));
        }
        let router = converra_faces::rest::finish(routes, core.clone(), config.body_limit, config.v1_buffer_budget);
        let metrics = match config.metrics_addr {
            Some(at) => {
                let (listener, bound) = bind(at)?;
                // The MCP endpoint's `Host` check, and the listener's own address besides.
                let own = Some(bound.ip()).filter(|ip| !ip.is_unspecified()).map(|ip| ip.to_string());
                let check = WrapLayer(converra_faces::mcp::RebindingCheck::new(&mcp_config(&config), own));
                Some((
                    listener,
                    bound,
                    converra_faces::http::metrics::open_routes().layer(check).with_state(core.clone()),
                ))
            }
            None => None,
        };
        let metrics_addr = metrics.as_ref().map(|(_, addr, _)| *addr);
        let metrics = metrics.map(|(listener, _, router)| (listener, router));
        let limits = config.connections;
        Ok(Self { core, addr, bootstrap, metrics_addr, web, listener, router, metrics, limits })
    }

    /// How many connections the main listener serves at once (see [`Limits::max_connections`]).
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests (`http/serve.rs`).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let shutdown = futures_util::FutureExt::shared(Box::pin(shutdown));
        let limits = self.limits;
        let metrics = self.metrics.map(|(listener, router)| {
            // A scraper or two: a flood on the metrics port cannot take the main one's descriptors.
            let limits = Limits { max_connections: Some(limits.max_connections().min(METRICS_CONNECTIONS)), ..limits };
            tokio::spawn(serve(listener, router, limits, shutdown.clone()))
        });
        serve(self.listener, self.router, limits, shutdown).await;
        if let Some(metrics) = metrics
            && let Err(e) = metrics.await
        {
            tracing::warn!(error = %e, "the metrics listener failed");
        }
        self.core.spend().flush_usage().await;
        self.core.health().flush().await;
        self.core.stop_background().await;
        Ok(())
    }
}

/// What the MCP endpoint (and the metrics listener's rebinding check) takes from the
/// configuration.
fn mcp_config(config: &Config) -> converra_faces::mcp::McpConfig {
    converra_faces::mcp::McpConfig {
        allowed_hosts: config.mcp_allowed_hosts.clone(),
        allowed_origins: config.mcp_allowed_origins.clone(),
        body_limit: config.body_limit,
    }
}

/// Binds a listener (port 0 picks one, with a deep accept queue) and says where it is.
fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = listen(addr).map_err(|source| StartError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(|source| StartError::Listen { addr, source })?;
    Ok((listener, bound))
}

/// Serves the MCP tools over stdin/stdout as the API key `api_key` (`converra mcp`).
pub async fn serve_mcp_stdio(
    core: Arc<Core>,
    api_key: secrecy::SecretString,
) -> Result<(), converra_faces::mcp::StdioError> {
    converra_faces::mcp::serve_stdio(core, api_key).await
}

/// Prints the bootstrap key once, with how to use it, and a one-time link that signs its owner
/// in to the web face when that is served.
pub fn print_bootstrap(b: &Bootstrap, addr: SocketAddr, sign_in: Option<&secrecy::SecretString>) {
    let key = b.api_key.expose_secret();
    eprintln!();
    eprintln!(
        "  Created organization `{}` with owner {} and a first API key (shown only this once):",
        b.organization.name, b.owner_email
    );
    eprintln!();
    eprintln!("      {key}");
    eprintln!();
    eprintln!("  Use it:");
    eprintln!("      export CONVERRA_API_KEY={key}");
    eprintln!("      curl -H \"Authorization: Bearer $CONVERRA_API_KEY\" http://{addr}/api/v1/me");
    eprintln!(
        "      claude mcp add --transport http converra http://{addr}/api/mcp --header \"Authorization: Bearer {key}\""
    );
    if let Some(link) = sign_in {
        eprintln!();
        eprintln!("  Open Settings → Integrations in a browser (this link signs you in once, within 10 minutes;");
        eprintln!("  later: converra admin login-link --org {} --email {}):", b.organization.name, b.owner_email);
        eprintln!();
        eprintln!("      {}", link.expose_secret());
    }
    eprintln!();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Raises the soft limit on open files to the hard one and returns it (0 if unknown): every
/// connection holds a descriptor, and a relayed stream two (the client's and the provider's),
/// so the usual soft limit of 1,024 would refuse connections long before memory runs out.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).unwrap_or(0)
        }
    }
}

/// How long start-up took, for the log line.
pub fn since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}
