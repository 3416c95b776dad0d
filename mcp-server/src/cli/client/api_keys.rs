//! `converra api-keys …`.

use clap::Subcommand;
use converra::{ApiKey, Converra, CreateApiKey, Environment};
use secrecy::ExposeSecret;

use super::{Failure, failure, table};

#[derive(Subcommand, Debug)]
pub enum ApiKeysCommand {
    /// Create an API key; the secret is printed once, on stdout.
    Create {
        /// What the key is for, e.g. CI or billing-service
        #[arg(long)]
        name: String,
        /// live or test (default: your key's environment)
        #[arg(long)]
        environment: Option<Environment>,
        /// RFC 3339 expiry, e.g. 2027-01-31T00:00:00Z
        #[arg(long)]
        expires_at: Option<String>,
        /// Create it for another member, by member id (admins and owners)
        #[arg(long)]
        member: Option<String>,
        /// Bind it to a project (prj_…): its calls belong to that project and its budget
        #[arg(long)]
        project: Option<String>,
    },
    /// List API keys (never their secrets).
    List,
    /// Revoke an API key; it fails on its very next request.
    Revoke {
        /// The API key's id (key_…)
        id: String,
    },
}

fn rows(keys: &[ApiKey]) -> Vec<Vec<String>> {
    keys.iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.name.clone(),
                k.environment.as_str().into(),
                k.project_id.clone().unwrap_or_else(|| "any".into()),
                format!("{}…{}", k.prefix, k.last_four),
                k.last_used_at.clone().unwrap_or_else(|| "never".into()),
                if k.revoked_at.is_some() {
                    "revoked".into()
                } else {
                    k.expires_at.clone().map(|e| format!("expires {e}")).unwrap_or_else(|| "active".into())
                },
            ]
        })
        .collect()
}

pub async fn run(client: &Converra, command: ApiKeysCommand, json: bool) -> Result<(), Failure> {
    match command {
        ApiKeysCommand::Create { name, environment, expires_at, member, project } => {
            let created = client
                .api_keys()
                .create(CreateApiKey { name, environment, expires_at, member_id: member, project_id: project })
                .await
                .map_err(failure)?;
            if json {
                return table::print_json(&created);
            }
            let bound =
                created.api_key.project_id.as_ref().map(|p| format!(", bound to project {p}")).unwrap_or_default();
            eprintln!(
                "Created API key {} ({}{bound}). It is shown only this once:",
                created.api_key.id, created.api_key.name
            );
            println!("{}", created.key.expose_secret());
            Ok(())
        }
        ApiKeysCommand::List => {
            let keys = client.api_keys().list().await.map_err(failure)?;
            if json {
                table::print_json(&converra::List::from(keys))
            } else {
                table::print(&["ID", "NAME", "ENV", "PROJECT", "KEY", "LAST USED", "STATE"], rows(&keys));
                Ok(())
            }
        }
        ApiKeysCommand::Revoke { id } => {
            client.api_keys().revoke(&id).await.map_err(failure)?;
            eprintln!("Revoked API key {id}.");
            Ok(())
        }
    }
}
