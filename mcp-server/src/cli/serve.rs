//! `converra serve`.

use std::time::Instant;

use super::Failure;
use crate::app::{self, App, StartError};
use crate::config::{self, Config, MasterKeySource};

pub async fn run(config: Config) -> Result<(), Failure> {
    let started = Instant::now();
    let app = App::build(config.clone()).await.map_err(|e| match e {
        StartError::Bootstrap(_) => Failure::runtime(e),
        other => Failure::config(other),
    })?;
    if let Some(b) = &app.bootstrap {
        let sign_in = match app.web {
            // A link that cannot be made costs the new user a command, not the start.
            true => app.core.create_login_link(&b.organization.name, &b.owner_email).await.ok(),
            false => None,
        };
        app::print_bootstrap(b, app.addr, sign_in.as_ref());
    } else if app.web {
        print_sign_in_hint(&config);
    }
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let open_files = app::raise_open_file_limit();
    // Read after the raise: by default the cap is half the open-file limit.
    let max_connections = app.max_connections();
    tracing::info!(addr = %app.addr, db = %config.db_path.display(), workers, open_files, max_connections, ready_ms = app::since(started), "converra is listening");
    app.run(app::shutdown_signal()).await.map_err(|e| Failure::runtime(format!("server failed: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// On a start that created nothing, the first start's sign-in link is long expired: say how to
/// get a new one, with the flags that find this vault from any folder.
fn print_sign_in_hint(config: &Config) {
    let mut command = String::from("converra admin login-link --org ORG --email EMAIL");
    if config.database_url.is_none() {
        command = format!("{command} --db {}", super::shown(&config.db_path));
        if let MasterKeySource::File(file) = &config.master_key
            && *file != config::default_key_file(&config.db_path)
        {
            command = format!("{command} --master-key-file {}", super::shown(file));
        }
    }
    eprintln!();
    eprintln!("  Sign in to Settings → Integrations with a one-time link (single use, 10 minutes):");
    eprintln!();
    eprintln!("      {command}");
    eprintln!();
}
