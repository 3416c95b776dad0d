//! `converra keys …`. The secret of `keys add` comes from stdin (piped) or a prompt with echo
//! off — never from an argument, which would land in shell history.

use std::io::{IsTerminal, Read};

use clap::{Args, Subcommand};
use converra::{
    AddProviderKey, Converra, CreateConnectLink, Environment, HealthFilter, HealthStatus, KeyHealth, KeyStatus,
    Provider, ProviderKey, ProviderKeyFilter, ResolveQuery, TestResult,
};

use super::{Failure, failure, table};

/// The slot a key is for: what `keys add` stores into and `keys link` asks for.
#[derive(Args, Debug)]
pub struct Slot {
    /// openai, anthropic, gemini or deepseek
    provider: Provider,
    /// A descriptive name, e.g. OpenAI-Production
    #[arg(long)]
    name: String,
    /// For one project (prj_…) instead of the whole organization
    #[arg(long)]
    project: Option<String>,
    /// live or test (default: your API key's environment)
    #[arg(long)]
    environment: Option<Environment>,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List provider keys (members see status only).
    List {
        /// Only this provider: openai, anthropic, gemini or deepseek
        #[arg(long)]
        provider: Option<Provider>,
        /// Only this project's keys (prj_…)
        #[arg(long)]
        project: Option<String>,
        /// Only this environment: live or test
        #[arg(long)]
        environment: Option<Environment>,
        /// Only keys in this health: failing, healthy or rotation_due
        #[arg(long)]
        health: Option<HealthFilter>,
    },
    /// Store a provider key; the secret is read from stdin or a hidden prompt.
    Add {
        #[command(flatten)]
        slot: Slot,
        /// Test the key with the provider first; store nothing if the test fails
        #[arg(long)]
        test: bool,
    },
    /// Print a one-time link (single use, 10 minutes) where an admin or owner signed in to the
    /// web face pastes the secret: for a teammate who holds it, so it never passes through
    /// this terminal, a chat or a script.
    Link {
        #[command(flatten)]
        slot: Slot,
    },
    /// Test a stored key against its provider.
    Test {
        /// The provider key's id (pk_…)
        id: String,
    },
    /// Make a key the active one of its slot (rotation, rollback).
    Activate {
        /// The provider key's id (pk_…)
        id: String,
    },
    /// Remove a key and destroy its ciphertext.
    Revoke {
        /// The provider key's id (pk_…)
        id: String,
    },
    /// Which key a completion would use, and why.
    Resolve {
        /// openai, anthropic, gemini or deepseek
        provider: Provider,
        /// Resolve inside this project (prj_…)
        #[arg(long)]
        project: Option<String>,
    },
}

fn read_secret() -> Result<String, Failure> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Provider API key (input hidden): ")
            .map_err(|e| Failure::runtime(format!("cannot read the key: {e}")))?
    } else {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::runtime(format!("cannot read the key from stdin: {e}")))?;
        s
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        return Err(Failure { code: 7, message: "no key given: pipe it on stdin or type it at the prompt".into() });
    }
    Ok(secret)
}

fn rows(keys: &[ProviderKey]) -> Vec<Vec<String>> {
    keys.iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.provider.to_string(),
                k.name.clone().unwrap_or_else(|| "-".into()),
                k.project_id.clone().unwrap_or_else(|| "organization".into()),
                k.environment.as_str().into(),
                k.masked.clone().unwrap_or_else(|| "-".into()),
                if k.active { "active".into() } else { "inactive".into() },
                k.status.as_str().into(),
                k.health.as_ref().map_or_else(|| "-".into(), |h| health_cell(h, k.last_test.as_ref())),
                k.health.as_ref().map_or_else(|| "-".into(), age_cell),
            ]
        })
        .collect()
}

/// `ok`, or `invalid_key ×12` for a failing key. A key no completion has used yet is `ok` once
/// its test passed: live health alone would say `unknown` right after a successful test.
fn health_cell(h: &KeyHealth, last_test: Option<&TestResult>) -> String {
    if h.status.is_failing() {
        format!("{} ×{}", h.status.as_str(), h.consecutive_failures)
    } else if h.status == HealthStatus::Unknown && last_test.is_some_and(|t| t.status == KeyStatus::Ok) {
        HealthStatus::Ok.as_str().into()
    } else {
        h.status.as_str().into()
    }
}

/// `12d`, or `95d rotate` past the organization's rotation period.
fn age_cell(h: &KeyHealth) -> String {
    if h.rotation_due { format!("{}d rotate", h.age_days) } else { format!("{}d", h.age_days) }
}

/// What a failed test means for the key, one sentence per outcome: a key the provider refused
/// is not the same news as a provider that could not be asked.
fn test_failure(status: KeyStatus) -> Option<&'static str> {
    Some(match status {
        KeyStatus::Ok => return None,
        KeyStatus::InvalidKey => "the provider rejected the key",
        KeyStatus::PermissionDenied => "the key works but lacks permission for this call",
        KeyStatus::QuotaExceeded => "the key works but its account is out of quota",
        KeyStatus::RateLimited => "the provider rate-limited the test, so the key was not checked; try again later",
        KeyStatus::Unreachable => "the provider could not be reached, so the key was not checked",
        _ => "the provider failed the test, so the key was not checked",
    })
}

const HEADERS: [&str; 10] = ["ID", "PROVIDER", "NAME", "SCOPE", "ENV", "KEY", "STATE", "STATUS", "HEALTH", "AGE"];

pub async fn run(client: &Converra, command: KeysCommand, json: bool) -> Result<(), Failure> {
    let keys = client.provider_keys();
    match command {
        KeysCommand::List { provider, project, environment, health } => {
            let filter = ProviderKeyFilter { provider, project_id: project, environment, health };
            let list = keys.list(filter).await.map_err(failure)?;
            if json {
                table::print_json(&converra::List::from(list))
            } else {
                table::print(&HEADERS, rows(&list));
                Ok(())
            }
        }
        KeysCommand::Add { slot, test } => {
            let secret = read_secret()?;
            let mut req = AddProviderKey::new(slot.provider, slot.name, secret);
            req.project_id = slot.project;
            req.environment = slot.environment;
            req.test = test;
            let key = keys.add(req).await.map_err(failure)?;
            if json {
                return table::print_json(&key);
            }
            eprintln!(
                "Stored {} key {} ({}); it is now the active key of its slot.",
                key.provider,
                key.id,
                key.masked.as_deref().unwrap_or("")
            );
            table::print(&HEADERS, rows(&[key]));
            Ok(())
        }
        KeysCommand::Link { slot } => {
            let ask = CreateConnectLink {
                provider: slot.provider,
                name: slot.name,
                project_id: slot.project,
                environment: slot.environment,
            };
            let link = keys.connect_link(ask).await.map_err(failure)?;
            if json {
                return table::print_json(&link);
            }
            eprintln!(
                "Give this link to an admin or owner who holds the {} key; it works once, until {}:",
                link.provider, link.expires_at
            );
            println!("{}", link.url);
            Ok(())
        }
        KeysCommand::Test { id } => {
            let result = keys.test(&id).await.map_err(failure)?;
            if json {
                return table::print_json(&result);
            }
            println!("{}: {} ({} ms)", result.status.as_str(), result.message, result.latency_ms);
            match test_failure(result.status) {
                Some(sentence) => Err(Failure { code: 10, message: format!("{sentence}: {}", result.message) }),
                None => Ok(()),
            }
        }
        KeysCommand::Activate { id } => {
            let key = keys.activate(&id).await.map_err(failure)?;
            if json {
                table::print_json(&key)
            } else {
                table::print(&HEADERS, rows(&[key]));
                Ok(())
            }
        }
        KeysCommand::Revoke { id } => {
            keys.remove(&id).await.map_err(failure)?;
            if json {
                return table::print_json(&serde_json::json!({"id": id, "removed": true}));
            }
            eprintln!(
                "Removed provider key {id}; its ciphertext is destroyed. Revoke it in the provider's dashboard too."
            );
            Ok(())
        }
        KeysCommand::Resolve { provider, project } => {
            let r = keys.resolve(ResolveQuery { provider, project_id: project }).await.map_err(failure)?;
            if json {
                return table::print_json(&r);
            }
            println!(
                "{}: {}{}",
                r.source.as_str(),
                r.key_id.as_deref().unwrap_or("-"),
                r.masked.map(|m| format!(" ({m})")).unwrap_or_default()
            );
            println!("{}", r.reason);
            Ok(())
        }
    }
}
