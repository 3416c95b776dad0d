//! Rotate a provider key with no gap: add the new key for the same slot, test it, check that it
//! is the active key and the old one inactive, then remove the old one.
//!
//! Adding a key makes it the active key of its slot (provider, scope, environment) at once and
//! keeps the previous key as `inactive`, so requests never run without a key and a bad
//! rotation can be rolled back with `activate`. This example rolls back by itself if the new
//! key fails its test.
//!
//! ```sh
//! export CONVERRA_API_KEY=sk_test_...            # an owner's or admin's Converra API key
//! export CONVERRA_BASE_URL=http://127.0.0.1:8080 # optional, this is the default
//! export NEW_OPENAI_API_KEY=sk-proj-...          # the replacement OpenAI key
//! cargo run --example rotate_key
//! ```
//!
//! It rotates the organization's OpenAI key of your API key's environment (run `quickstart`
//! first if there is none yet).

use std::process::ExitCode;

use converra::{AddProviderKey, Converra, KeyScope, KeyStatus, Provider, ProviderKeyFilter};

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
    let new_secret =
        std::env::var("NEW_OPENAI_API_KEY").map_err(|_| "NEW_OPENAI_API_KEY is not set: export the replacement key")?;

    // The key in use today: the active organization-wide OpenAI key of our environment.
    let environment = converra.me().await.map_err(during("connecting to Converra"))?.api_key.environment;
    let filter =
        ProviderKeyFilter { provider: Some(Provider::Openai), environment: Some(environment), ..Default::default() };
    let old = keys
        .list(filter.clone())
        .await
        .map_err(during("listing the OpenAI keys"))?
        .into_iter()
        .find(|k| k.active && k.scope == KeyScope::Organization)
        .ok_or("there is no active OpenAI key to rotate: run the quickstart example first")?;
    println!("Old key: {} {}", old.id, old.masked.as_deref().unwrap_or("(masked)"));

    // 1. Add the new key for the same slot. `test_first()` makes Converra refuse a key OpenAI
    //    rejects, so a typo never becomes the active key.
    let name = format!("{} (rotated)", old.name.as_deref().unwrap_or("OpenAI"));
    let new = keys
        .add(AddProviderKey::new(Provider::Openai, name, new_secret).environment(environment).test_first())
        .await
        .map_err(during("storing the new key with a test"))?;
    println!("New key: {} {}", new.id, new.masked.as_deref().unwrap_or("(masked)"));

    // 2. Test it (again, now as stored). On failure, put the old key back: nothing was lost.
    let test = keys.test(&new.id).await.map_err(during("testing the new key"))?;
    println!("Test: {} - {}", test.status.as_str(), test.message);
    if test.status != KeyStatus::Ok {
        keys.activate(&old.id).await.map_err(during("rolling back to the old key"))?;
        return Err(
            format!("the new key failed its test ({}); the old key {} is active again", test.message, old.id).into()
        );
    }

    // 3. The new key is the active one, the old one is kept as inactive until removed.
    let now = keys.list(filter).await.map_err(during("checking which key is active"))?;
    let state = |id: &str| now.iter().find(|k| k.id == id).map(|k| k.active);
    if state(&new.id) != Some(true) || state(&old.id) != Some(false) {
        return Err("unexpected state: the new key should be active and the old one inactive".into());
    }
    println!("Active: {} (new); inactive: {} (old)", new.id, old.id);

    // 4. Remove the old key. Revoke it in OpenAI's dashboard as well.
    keys.remove(&old.id).await.map_err(during("removing the old key"))?;
    println!("Removed old key {}", old.id);
    Ok(())
}

/// Names the step that failed, so the error says where the example stopped.
fn during<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{step}: {e}")
}
