//! Live and test, made hard to miss. A Converra API key spends only provider keys of its own
//! environment (resolution), so an organization whose API keys are `sk_test_` needs test
//! provider keys. Two rules live here, once for every face:
//!
//! - [`Core::usual_environment`]: the environment an organization actually uses, which the
//!   web's forms offer first: that of its most recently used API key, else the one all its
//!   API keys share, else the caller's own.
//! - [`Core::no_provider_key`]: the `NO_PROVIDER_KEY` refusal with its detail beside the fixed
//!   message: the environment asked for, and the other environments that do have a key.

use converra::{Environment, KeySource, Provider};

use crate::{Caller, Core, Error, Result};

impl Core {
    /// The environment the caller's organization uses (see the module's text).
    pub async fn usual_environment(&self, caller: &Caller) -> Result<Environment> {
        let keys = self.store.api_keys(&caller.org_id, None).await?;
        let live: Vec<_> = keys.iter().filter(|k| k.revoked_at.is_none()).collect();
        if let Some(used) =
            live.iter().filter(|k| k.last_used_at.is_some()).max_by(|a, b| a.last_used_at.cmp(&b.last_used_at))
        {
            return Ok(used.environment);
        }
        match live.first() {
            Some(first) if live.iter().all(|k| k.environment == first.environment) => Ok(first.environment),
            _ => Ok(caller.environment),
        }
    }

    /// The refusal when no key serves `provider` for the caller: which environment was asked
    /// for, and which others have a key the caller's project or organization could use.
    pub async fn no_provider_key(&self, caller: &Caller, provider: Provider, project_id: Option<&str>) -> Error {
        let mut other_environments = Vec::new();
        for env in [Environment::Live, Environment::Test] {
            if env == caller.environment {
                continue;
            }
            let there = Caller { environment: env, ..caller.clone() };
            if let Ok(r) = self.resolve_key(&there, provider, project_id).await
                && matches!(r.source, KeySource::Project | KeySource::Organization)
            {
                other_environments.push(env);
            }
        }
        Error::NoProviderKey { provider, environment: caller.environment, other_environments }
    }
}
