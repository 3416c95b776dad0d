//! `converra settings`: the organization's AI settings — AI on or off, the default tone and
//! the provider-key rotation period. Everybody reads them; owners change them.

use clap::Args;
use converra::{Converra, Tone, UpdateAiSettings};

use super::{Failure, failure, table};

#[derive(Args, Debug)]
pub struct SettingsArgs {
    /// Turn AI features on or off: true or false
    #[arg(long)]
    enabled: Option<bool>,
    /// Default tone of completions: professional, friendly or casual
    #[arg(long)]
    tone: Option<Tone>,
    /// Provider keys older than this many days are flagged rotation_due (owners; 1 to 3650)
    #[arg(long)]
    key_rotation_days: Option<u32>,
    #[command(flatten)]
    pub output: super::Output,
}

pub async fn run(client: &Converra, args: SettingsArgs, json: bool) -> Result<(), Failure> {
    let settings = client.settings();
    let changes =
        UpdateAiSettings { enabled: args.enabled, tone: args.tone, key_rotation_days: args.key_rotation_days };
    let current = if changes == UpdateAiSettings::default() {
        settings.get_ai().await
    } else {
        settings.update_ai(changes).await
    }
    .map_err(failure)?;
    if json {
        return table::print_json(&current);
    }
    println!("AI features:        {}", if current.enabled { "on" } else { "off" });
    println!("Default tone:       {}", current.tone.map_or("none", Tone::as_str));
    println!("Key rotation:       every {} days", current.key_rotation_days);
    Ok(())
}
