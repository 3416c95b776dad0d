//! Project override: a project's own provider key wins over the organization's key for
//! completions in that project; everything else keeps using the organization's key.
//!
//! ```sh
//! export CONVERRA_API_KEY=sk_test_...            # an owner's or admin's Converra API key
//! export CONVERRA_BASE_URL=http://127.0.0.1:8080 # optional, this is the default
//! export OPENAI_API_KEY=sk-proj-...              # the organization's OpenAI key (if it has none yet)
//! export PROJECT_OPENAI_API_KEY=sk-proj-...      # the project's own OpenAI key
//! cargo run --example project_override
//! ```
//!
//! It creates a new project (named after the current time, or the first argument), stores the
//! project's key, and asks Converra which key a completion would use with and without the
//! project. The project is left in place; remove it with `converra.projects().remove(id)`.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use converra::{AddProviderKey, Converra, CreateProject, KeySource, Provider, ResolveQuery};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let converra = Converra::from_env().map_err(during("reading the configuration"))?;
    let keys = converra.provider_keys();
    let org_wide = ResolveQuery { provider: Provider::Openai, project_id: None };

    // The organization's key: keep the current one, or store OPENAI_API_KEY if there is none.
    if keys.resolve(org_wide.clone()).await.map_err(during("resolving the organization's key"))?.source
        != KeySource::Organization
    {
        let secret = std::env::var("OPENAI_API_KEY")
            .map_err(|_| "the organization has no OpenAI key and OPENAI_API_KEY is not set")?;
        let org_key = keys
            .add(AddProviderKey::new(Provider::Openai, "OpenAI (organization)", secret))
            .await
            .map_err(during("storing the organization's key"))?;
        println!("Stored organization key {} {}", org_key.id, org_key.masked.as_deref().unwrap_or("(masked)"));
    }

    // A project with its own key.
    let name = match std::env::args().nth(1) {
        Some(name) => name,
        None => format!("example-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs()),
    };
    let project = converra.projects().create(CreateProject { name }).await.map_err(during("creating the project"))?;
    println!("Created project {} ({})", project.id, project.name);
    let secret = std::env::var("PROJECT_OPENAI_API_KEY").map_err(|_| "PROJECT_OPENAI_API_KEY is not set")?;
    let project_key = keys
        .add(AddProviderKey::new(Provider::Openai, "OpenAI (project)", secret).project(&project.id))
        .await
        .map_err(during("storing the project's key"))?;
    println!("Stored project key {} {}", project_key.id, project_key.masked.as_deref().unwrap_or("(masked)"));

    // Which key would a completion use?
    let in_project = keys
        .resolve(ResolveQuery { provider: Provider::Openai, project_id: Some(project.id.clone()) })
        .await
        .map_err(during("resolving the key in the project"))?;
    println!(
        "In project {}: {} key {} - {}",
        project.id,
        in_project.source.as_str(),
        in_project.key_id.as_deref().unwrap_or("-"),
        in_project.reason
    );
    let outside = keys.resolve(org_wide).await.map_err(during("resolving the key outside the project"))?;
    println!(
        "Without a project: {} key {} - {}",
        outside.source.as_str(),
        outside.key_id.as_deref().unwrap_or("-"),
        outside.reason
    );
    if in_project.source != KeySource::Project || outside.source != KeySource::Organization {
        return Err("unexpected resolution: expected the project key inside the project".into());
    }
    Ok(())
}

/// Names the step that failed, so the error says where the example stopped.
fn during<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{step}: {e}")
}
