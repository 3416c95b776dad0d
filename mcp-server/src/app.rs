//! Building the application from configuration and running it until stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::serve::ListenerExt;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::buckets::Buckets;
use crate::config::{self, Config};
use crate::core::access::Bootstrap;
use crate::core::vault::Keyring;
use crate::core::{Core, Error};
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::store::Store;

/// Why the application could not start. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot open the database {path}: {source}")]
    Database { path: String, source: crate::store::StoreError },
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
    MasterKey(#[from] crate::core::vault::MasterKeyError),
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

/// Opens the database and checks the master key against it.
pub async fn open(config: &Config) -> Result<Opened, StartError> {
    let store = open_store(config).await?;
    let (master, created_master_key) = config::load_master_key(&config.master_key)?;
    let previous = config.previous_master_key.as_ref().map(config::load_previous_master_key).transpose()?;
    let keyring = Keyring::open(&store, master, previous).await?;
    let providers = Providers::new(config.providers.clone());
    let buckets = match &config.redis_url {
        Some(url) => Buckets::redis(url).map_err(StartError::Redis)?,
        None => Buckets::local(),
    };
    let metrics = if config.metrics_enabled() { Metrics::enabled() } else { Metrics::default() };
    Ok(Opened { core: Core::new(store, keyring, providers, buckets, metrics), created_master_key })
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

/// A bound, ready server.
pub struct App {
    pub core: Arc<Core>,
    pub addr: SocketAddr,
    /// The organization created on this start, if the database was empty.
    pub bootstrap: Option<Bootstrap>,
    /// Where `/metrics` is served alone (`CONVERRA_METRICS_ADDR`), once bound.
    pub metrics_addr: Option<SocketAddr>,
    listener: TcpListener,
    router: Router,
    /// The separate metrics listener and its router.
    metrics: Option<(TcpListener, Router)>,
}

impl App {
    /// Opens everything, bootstraps an empty database, and binds the listener (port 0 picks one).
    pub async fn build(config: Config) -> Result<Self, StartError> {
        if config.database_url.is_some() && config.redis_url.is_none() && !config.local_rate_limits {
            return Err(StartError::RedisRequired);
        }
        let opened = open(&config).await?;
        if opened.created_master_key
            && let config::MasterKeySource::File(path) = &config.master_key
        {
            tracing::warn!(path = %path.display(), "no master key configured: generated a development master key file (mode 0600). \
                    Back it up: without it the stored provider keys cannot be decrypted. Set CONVERRA_MASTER_KEY in production.");
        }
        let core = opened.core;
        let bootstrap = if config.bootstrap { core.bootstrap().await.map_err(StartError::Bootstrap)? } else { None };
        let mut routes = crate::http::api_routes(core.clone()).merge(crate::mcp::routes(core.clone(), &config));
        if let Some(token) = &config.metrics_token {
            routes = routes.merge(crate::edge::metrics::guarded_routes(token.clone()));
        }
        let router = crate::http::finish(routes, core.clone(), config.body_limit);
        let (listener, addr) = bind(config.addr).await?;
        let metrics = match config.metrics_addr {
            Some(at) => Some((bind(at).await?, crate::edge::metrics::open_routes().with_state(core.clone()))),
            None => None,
        };
        let metrics_addr = metrics.as_ref().map(|((_, addr), _)| *addr);
        let metrics = metrics.map(|((listener, _), router)| (listener, router));
        Ok(Self { core, addr, bootstrap, metrics_addr, listener, router, metrics })
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Nagle's algorithm would hold small answers back ~40 ms on keep-alive connections.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let shutdown = futures_util::FutureExt::shared(Box::pin(shutdown));
        let metrics = self.metrics.map(|(listener, router)| {
            tokio::spawn(axum::serve(listener, router).with_graceful_shutdown(shutdown.clone()).into_future())
        });
        let result = axum::serve(listener, self.router).with_graceful_shutdown(shutdown).await;
        if let Some(metrics) = metrics
            && let Ok(Err(e)) = metrics.await
        {
            tracing::warn!(error = %e, "the metrics listener failed");
        }
        self.core.flush_usage().await;
        result
    }
}

/// Binds a listener (port 0 picks one) and says where it is.
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(|source| StartError::Listen { addr, source })?;
    Ok((listener, bound))
}

/// Serves the MCP tools over stdin/stdout as the API key `api_key` (`converra mcp`).
pub async fn serve_mcp_stdio(core: Arc<Core>, api_key: secrecy::SecretString) -> Result<(), crate::mcp::StdioError> {
    crate::mcp::serve_stdio(core, api_key).await
}

/// Prints the bootstrap key once, with how to use it.
pub fn print_bootstrap(b: &Bootstrap, addr: SocketAddr) {
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

/// How long start-up took, for the log line.
pub fn since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}
