//! Resolution, the heart: project key → organization key → platform key (metered against the
//! plan's allowance) → `NO_PROVIDER_KEY`. The environment always comes from the caller's API
//! key, so a test key never spends a live provider key.

use converra::{Environment, KeySource, Provider, Resolution, Role};
use secrecy::SecretString;

use crate::{Caller, Core, Error, Result};
use converra_store::ProviderKeyRow;

/// The key a completion would use.
pub struct ResolvedKey {
    pub source: KeySource,
    /// The stored key, for project and organization sources.
    pub row: Option<std::sync::Arc<ProviderKeyRow>>,
}

impl Core {
    /// Finds the key for `provider` in `project_id` (checked to belong to the caller's organization).
    pub async fn resolve_key(
        &self,
        caller: &Caller,
        provider: Provider,
        project_id: Option<&str>,
    ) -> Result<ResolvedKey> {
        self.check_project(caller, project_id).await?;
        if let Some(project) = project_id
            && let Some(row) =
                self.store.active_provider_key(&caller.org_id, Some(project), caller.environment, provider).await?
        {
            return Ok(ResolvedKey { source: KeySource::Project, row: Some(row) });
        }
        if let Some(row) = self.store.active_provider_key(&caller.org_id, None, caller.environment, provider).await? {
            return Ok(ResolvedKey { source: KeySource::Organization, row: Some(row) });
        }
        if self.providers.platform_key(provider).is_some() {
            return Ok(ResolvedKey { source: KeySource::Platform, row: None });
        }
        Ok(ResolvedKey { source: KeySource::None, row: None })
    }

    /// `GET /provider-keys/resolve`: which key a completion would use, and why.
    pub async fn explain_resolution(
        &self,
        caller: &Caller,
        provider: Provider,
        project_id: Option<&str>,
    ) -> Result<Resolution> {
        let resolved = self.resolve_key(caller, provider, project_id).await?;
        let env = caller.environment.as_str();
        let reason = match resolved.source {
            KeySource::Project => {
                format!("the project has an active {env} {provider} key, which overrides the organization's")
            }
            KeySource::Organization if project_id.is_some() => {
                format!("the project has no active {env} {provider} key, so the organization's key is used")
            }
            KeySource::Organization => {
                format!("the organization has an active {env} {provider} key")
            }
            KeySource::Platform => format!(
                "no {env} {provider} key is configured, so the platform key is used against the plan's monthly token allowance"
            ),
            KeySource::None => format!(
                "no {env} {provider} key is configured and the platform offers no allowance for {provider}: add a provider key"
            ),
        };
        let masked = resolved.row.as_ref().filter(|_| caller.role >= Role::Admin).map(|r| r.masked.clone());
        Ok(Resolution { source: resolved.source, key_id: resolved.row.map(|r| r.id.clone()), masked, reason })
    }

    /// The secret for a resolved key (the platform's own key for the platform source);
    /// `NO_PROVIDER_KEY` in `environment` when the platform's went away since resolution.
    pub(crate) async fn secret_for(
        &self,
        provider: Provider,
        resolved: &ResolvedKey,
        environment: Environment,
    ) -> Result<SecretString> {
        match &resolved.row {
            Some(row) => self.open_provider_key(row).await,
            None => self.providers.platform_key(provider).cloned().ok_or(Error::no_provider_key(provider, environment)),
        }
    }
}
