//! `converra init` and `converra admin …`: the operator's commands, run against the database
//! directly (they need the master key, not an API key).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use converra::{Environment, Plan};
use secrecy::ExposeSecret;

use super::Failure;
use crate::app;
use crate::config::{self, Config};
use converra_core::{Error, InternalError};

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Organizations and plans.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Rewrap every organization's data key under a new master key (resumable); then, once
    /// every server runs with the new key, `--finish` deletes the old wrappings.
    RotateMasterKey {
        /// File holding the new base64 master key; created (0600) if it does not exist
        #[arg(long, required_unless_present = "finish", conflicts_with = "finish")]
        new_key_file: Option<std::path::PathBuf>,
        /// The last step, run with the new master key configured: delete every wrapping under
        /// the old key, so the old key no longer opens this database
        #[arg(long)]
        finish: bool,
    },
    /// Re-encrypt one organization's provider keys under a new data key.
    RotateDataKey {
        /// Organization id or name
        #[arg(long)]
        org: String,
    },
    /// Copy a SQLite vault into PostgreSQL under the same master key, then verify the copy.
    ///
    /// The target comes from CONVERRA_DATABASE_URL (or --to without a password: a password on
    /// a command line shows in `ps`). Rerunnable: an interrupted copy is never served and the
    /// next run replaces it.
    Migrate {
        /// The SQLite database to copy [default: CONVERRA_DB or ./converra.db]
        #[arg(long)]
        from: Option<PathBuf>,
        /// postgres:// URL of the target, without a password [default: CONVERRA_DATABASE_URL]
        #[arg(long)]
        to: Option<String>,
    },
    /// Print a one-time sign-in link for the web face (single use, 10 minutes), built from
    /// CONVERRA_PUBLIC_URL. Give it only to the member it signs in.
    LoginLink {
        /// Organization id or name
        #[arg(long)]
        org: String,
        /// The member's email
        #[arg(long)]
        email: String,
    },
    /// Write a consistent copy of the database to a new file (safe while the server runs).
    Backup {
        /// The backup file to create (mode 0600); an existing file is never overwritten
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// List organizations with their plan and limits.
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Change an organization's plan.
    SetPlan {
        /// Organization id or name
        org: String,
        /// free, pro or enterprise
        plan: Plan,
        /// Requests per minute per API key (enterprise only)
        #[arg(long)]
        rate_limit: Option<u32>,
        /// Monthly allowance tokens (enterprise only)
        #[arg(long)]
        monthly_tokens: Option<u64>,
        /// Active API keys per member (enterprise only)
        #[arg(long)]
        api_keys: Option<u32>,
    },
}

async fn open(config: &Config) -> Result<app::Opened, Failure> {
    app::open(config).await.map_err(Failure::config)
}

/// The operator sees what went wrong inside (store errors name tables, never values).
fn operator_failure(e: Error) -> Failure {
    match e {
        Error::Internal(InternalError::Other(detail)) => Failure::runtime(detail),
        Error::Internal(inner) => Failure::runtime(inner),
        e => Failure::runtime(e),
    }
}

pub async fn init(
    config: &Config,
    org: &str,
    owner: &str,
    plan: Plan,
    environment: Environment,
) -> Result<(), Failure> {
    let core = open(config).await?.core;
    let b = core.create_organization(org, owner, plan, environment).await.map_err(Failure::runtime)?;
    eprintln!(
        "Created organization `{}` ({}) on plan {} with owner {}.",
        b.organization.name,
        b.organization.id,
        plan.as_str(),
        b.owner_email
    );
    eprintln!("Its first API key follows on stdout. It is shown only this once: store it now.");
    println!("{}", b.api_key.expose_secret());
    Ok(())
}

pub async fn run(config: &Config, command: AdminCommand) -> Result<(), Failure> {
    match command {
        AdminCommand::Org { command: OrgCommand::List { json } } => org_list(config, json).await,
        AdminCommand::Org { command: OrgCommand::SetPlan { org, plan, rate_limit, monthly_tokens, api_keys } } => {
            let core = open(config).await?.core;
            let o = core
                .admin_set_plan(&org, plan, rate_limit, monthly_tokens, api_keys)
                .await
                .map_err(Failure::runtime)?;
            eprintln!("Organization `{}` is now on plan {}.", o.name, o.plan.as_str());
            Ok(())
        }
        AdminCommand::RotateMasterKey { finish: true, .. } => {
            let core = open(config).await?.core;
            let n = core.finish_master_key_rotation().await.map_err(operator_failure)?;
            eprintln!(
                "Rotation finished: {n} wrapping(s) under the old master key deleted. The old key no longer opens this database; a backup taken before the rotation still does (see docs/security.md)."
            );
            Ok(())
        }
        AdminCommand::RotateMasterKey { new_key_file, .. } => {
            rotate_master_key(config, &new_key_file.expect("clap requires it without --finish")).await
        }
        AdminCommand::Backup { file } => backup(config, &file).await,
        AdminCommand::LoginLink { org, email } => {
            let core = open(config).await?.core;
            let link = core.create_login_link(&org, &email).await.map_err(Failure::runtime)?;
            eprintln!("A sign-in link for {email}, working once within 10 minutes:");
            println!("{}", link.expose_secret());
            Ok(())
        }
        AdminCommand::Migrate { from, to } => migrate(config, from, to).await,
        AdminCommand::RotateDataKey { org } => {
            let core = open(config).await?.core;
            let found = core.admin_find_organization(&org).await.map_err(Failure::runtime)?;
            let n = core.rotate_data_key(&found.id).await.map_err(operator_failure)?;
            eprintln!("Organization `{}`: {n} provider key(s) re-encrypted under a new data key.", found.name);
            Ok(())
        }
    }
}

/// `admin org list`: a table, or JSON for scripts.
async fn org_list(config: &Config, json: bool) -> Result<(), Failure> {
    let orgs = open(config).await?.core.admin_organizations().await.map_err(Failure::runtime)?;
    if json {
        let rows: Vec<_> = orgs
            .iter()
            .map(|(o, l)| {
                serde_json::json!({"id": o.id, "name": o.name, "plan": o.plan,
                "rate_limit_per_min": l.rate_limit_per_min, "monthly_tokens": l.monthly_tokens,
                "api_keys_per_member": l.api_keys})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(());
    }
    println!(
        "{:<40} {:<24} {:<11} {:>9} {:>14} {:>12}",
        "ID", "NAME", "PLAN", "REQ/MIN", "TOKENS/MONTH", "KEYS/MEMBER"
    );
    for (o, l) in orgs {
        println!(
            "{:<40} {:<24} {:<11} {:>9} {:>14} {:>12}",
            o.id,
            o.name,
            o.plan.as_str(),
            l.rate_limit_per_min,
            l.monthly_tokens,
            l.api_keys
        );
    }
    Ok(())
}

/// `admin rotate-master-key --new-key-file F`: rewraps every data key (resumable).
async fn rotate_master_key(config: &Config, new_key_file: &Path) -> Result<(), Failure> {
    let opened = open(config).await?;
    let (new, created) =
        config::load_master_key(&config::MasterKeySource::File(new_key_file.to_owned())).map_err(Failure::config)?;
    if created {
        eprintln!("Generated a new master key in {} (mode 0600).", new_key_file.display());
    }
    let report = opened
        .core
        .rotate_master_key(&new, |org, i, n| eprintln!("  [{i}/{n}] {org}"))
        .await
        .map_err(operator_failure)?;
    eprintln!(
        "Master key rotated to version {}: {} organization(s) rewrapped, {} already done.",
        report.new_version, report.organizations_rewrapped, report.organizations_already_done
    );
    eprintln!(
        "Restart the server with the new key: --master-key-file {} (or CONVERRA_MASTER_KEY); once every server runs with it, run `converra admin rotate-master-key --finish` with the new key to retire the old one.",
        new_key_file.display()
    );
    Ok(())
}

/// `admin migrate`: the source is the SQLite file, opened (and its master key checked) as
/// `serve` would; the target is PostgreSQL.
async fn migrate(config: &Config, from: Option<PathBuf>, to: Option<String>) -> Result<(), Failure> {
    let target_url = match to {
        Some(url) => target_without_password(url)?,
        None => config.database_url.clone().ok_or_else(|| {
            Failure::config("no target: set CONVERRA_DATABASE_URL to the PostgreSQL database (or pass --to)")
        })?,
    };
    let mut source = config.clone().with_db(from.unwrap_or_else(|| config.db_path.clone()));
    source.database_url = None;
    if !source.db_path.exists() {
        return Err(Failure::config(format!("no database at {}", source.db_path.display())));
    }
    let (master, _) = config::load_master_key(&source.master_key).map_err(Failure::config)?;
    let core = open(&source).await?.core;
    let mut target = source.clone();
    target.database_url = Some(target_url);
    target.master_key_configured = true;
    let target = app::open_store(&target).await.map_err(Failure::config)?;
    eprintln!("Copying {} into PostgreSQL ...", source.db_path.display());
    let done = core.migrate_vault(target, master).await.map_err(operator_failure)?;
    let c = &done.counts;
    eprintln!(
        "Copied {} organization(s), {} member(s), {} API key(s), {} project(s), {} provider key(s), {} audit event(s), {} usage row(s) and {} budget(s); \
         every count matches and all {} provider key(s) decrypt on PostgreSQL.",
        c.organizations,
        c.members,
        c.api_keys,
        c.projects,
        c.provider_keys,
        c.audit_events,
        c.usage_rollups,
        c.budgets,
        done.provider_keys_verified
    );
    eprintln!(
        "Start the server with CONVERRA_DATABASE_URL and the same master key; keep the SQLite file until you are satisfied."
    );
    Ok(())
}

/// The `--to` target, refused (before anything connects) when it carries a password in any
/// form the driver reads one: `postgres://user:password@host/db`, `postgres://user@host/db?password=…`
/// or `host=h password=…`. A command line shows in `ps` and shell history; the environment
/// does not. Neither the target nor the password is repeated in the message.
fn target_without_password(to: String) -> Result<secrecy::SecretString, Failure> {
    let parsed: tokio_postgres::Config = to.parse().map_err(|_| {
        Failure::config(
            "--to is not a PostgreSQL connection string (postgres://user@host/database, or host=… dbname=…)",
        )
    })?;
    if parsed.get_password().is_some() {
        return Err(Failure::config(
            "--to must not hold a password (a command line shows in `ps` and the shell's history): \
             set CONVERRA_DATABASE_URL in the environment to the whole URL instead, and leave out --to",
        ));
    }
    Ok(secrecy::SecretString::from(to))
}

/// `admin backup`: the copy is created private (it holds encrypted provider keys and API-key
/// hashes), checked after writing, and removed again if anything failed.
async fn backup(config: &Config, file: &Path) -> Result<(), Failure> {
    if !config.db_path.exists() {
        return Err(Failure::config(format!("no database at {}", config.db_path.display())));
    }
    let core = open(config).await?.core;
    eprintln!("Backing up {} to {} ...", config.db_path.display(), file.display());
    let summary = core.backup(file).await.map_err(operator_failure)?;
    eprintln!(
        "Backed up {} organization(s) and {} provider key(s) to {} ({} bytes); integrity check ok.",
        summary.counts.organizations,
        summary.counts.provider_keys,
        file.display(),
        summary.bytes
    );
    let master = match &config.master_key {
        config::MasterKeySource::File(path) => path.display().to_string(),
        config::MasterKeySource::Env(_) => "CONVERRA_MASTER_KEY".into(),
    };
    eprintln!(
        "The provider keys in it are encrypted under the master key, which is not in the backup: keep the master key ({master}) backed up too, separately."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_target_with_a_password_in_any_form_is_refused_without_repeating_it() {
        for to in [
            "postgres://u:hunter2@db.example/converra",
            "postgres://u@db.example/converra?password=hunter2",
            "postgresql://u@db.example/converra?sslmode=disable&password=hunter2",
            "host=db.example user=u password=hunter2 dbname=converra",
            "host=db.example user=u password='hunter2' dbname=converra",
        ] {
            let Err(refused) = target_without_password(to.to_owned()) else { panic!("{to} was accepted") };
            assert_eq!(refused.code, 3, "{to}: a configuration failure");
            assert!(refused.message.contains("must not hold a password"), "{to}: {}", refused.message);
            assert!(!refused.message.contains("hunter2"), "{to}: {}", refused.message);
        }
    }

    #[test]
    fn a_migration_target_without_a_password_is_taken_as_written() {
        for to in ["postgres://u@db.example/converra", "host=/run/postgresql user=u dbname=converra"] {
            let target = target_without_password(to.to_owned()).unwrap_or_else(|f| panic!("{to}: {}", f.message));
            assert_eq!(target.expose_secret(), to);
        }
        let Err(garbled) = target_without_password("postgres://u@[db".to_owned()) else { panic!("a bad URL passed") };
        assert!(garbled.message.contains("not a PostgreSQL connection string"), "{}", garbled.message);
    }
}
