//! AI settings (on/off and a default tone): everybody reads them, only owners change them.

use converra::{AiSettings, UpdateAiSettings};
use serde_json::json;

use super::{Caller, Core, Error, Result, audit};

impl Core {
    pub async fn ai_settings(&self, caller: &Caller) -> Result<AiSettings> {
        let org = self.store.organization(&caller.org_id).await?.ok_or(Error::NotFound("Organization"))?;
        Ok(AiSettings { enabled: org.ai_enabled, tone: org.ai_tone })
    }

    pub async fn update_ai_settings(&self, caller: &Caller, req: UpdateAiSettings) -> Result<AiSettings> {
        caller.require_owner()?;
        let current = self.ai_settings(caller).await?;
        let next = AiSettings { enabled: req.enabled.unwrap_or(current.enabled), tone: req.tone.or(current.tone) };
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "settings.ai_updated",
            "organization",
            &caller.org_id,
            json!({"enabled": next.enabled, "tone": next.tone.map(|t| t.as_str())}),
        );
        self.store.update_ai_settings(&caller.org_id, next.clone(), event).await?;
        Ok(next)
    }
}
