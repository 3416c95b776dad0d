//! AI settings (on/off, a default tone, the provider-key rotation period): everybody reads
//! them, only owners change them.

use converra::{AiSettings, UpdateAiSettings};
use serde_json::json;

use super::{Caller, Core, Error, Result, audit};

impl Core {
    pub async fn ai_settings(&self, caller: &Caller) -> Result<AiSettings> {
        let org = self.store.organization(&caller.org_id).await?.ok_or(Error::NotFound("Organization"))?;
        Ok(AiSettings {
            enabled: org.ai_enabled,
            tone: org.ai_tone,
            key_rotation_days: org.key_rotation_days.unwrap_or(converra::DEFAULT_KEY_ROTATION_DAYS),
        })
    }

    pub async fn update_ai_settings(&self, caller: &Caller, req: UpdateAiSettings) -> Result<AiSettings> {
        caller.require_owner()?;
        let current = self.ai_settings(caller).await?;
        if let Some(days) = req.key_rotation_days
            && !(1..=3650).contains(&days)
        {
            return Err(Error::validation("key_rotation_days", "key_rotation_days must be from 1 to 3650 days"));
        }
        let next = AiSettings {
            enabled: req.enabled.unwrap_or(current.enabled),
            tone: req.tone.or(current.tone),
            key_rotation_days: req.key_rotation_days.unwrap_or(current.key_rotation_days),
        };
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "settings.ai_updated",
            "organization",
            &caller.org_id,
            json!({"enabled": next.enabled, "tone": next.tone.map(|t| t.as_str()), "key_rotation_days": next.key_rotation_days}),
        );
        self.store.update_ai_settings(&caller.org_id, next.clone(), event).await?;
        Ok(next)
    }
}
