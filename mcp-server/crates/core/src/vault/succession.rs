//! Which key serves a slot after a change, said before the change: what *Remove* leaves
//! serving, which inactive key of the slot last worked (offered to take over in the same step),
//! and whether a key works at all ([`works`]: the badge's "Active · failing"; [`known_to_work`]:
//! the warning before an untested key replaces a working one). One definition for every face.

use converra::{HealthStatus, KeySource, KeyStatus, ProviderKey, ProviderKeyFilter, Resolution};

use crate::{Caller, Core, Error, Result};

/// What removing a key would do.
pub struct RemovalPreview {
    pub key: ProviderKey,
    /// What serves the key's slot once it is gone (no successor made active).
    pub next: Resolution,
    /// For an active key: the inactive key of the same slot that last worked, the one
    /// *Remove* offers to make active in the same step.
    pub successor: Option<ProviderKey>,
}

/// Whether a key works, as far as anyone knows: its last test did not fail, and live traffic
/// has not flagged it (an untested, unused key counts as working: nothing says otherwise).
pub fn works(key: &ProviderKey) -> bool {
    let tested_ok = matches!(key.status, KeyStatus::Ok | KeyStatus::Untested);
    let traffic_ok = key.health.as_ref().is_none_or(|h| matches!(h.status, HealthStatus::Ok | HealthStatus::Unknown));
    tested_ok && traffic_ok
}

/// Whether a key is known to work: tested OK or seen working in traffic, and not flagged since.
pub fn known_to_work(key: &ProviderKey) -> bool {
    let seen = key.status == KeyStatus::Ok || key.health.as_ref().is_some_and(|h| h.status == HealthStatus::Ok);
    seen && works(key)
}

/// Whether `key`'s live-health flag was raised by a manual test rather than by completions:
/// one failure, the last test failed the same way, and the flag came with it (not before).
/// Faces show such a failure as the last test, not as traffic.
pub fn flagged_by_test(key: &ProviderKey) -> bool {
    let (Some(h), Some(test)) = (&key.health, &key.last_test) else { return false };
    let same = match h.status {
        HealthStatus::InvalidKey => test.status == KeyStatus::InvalidKey,
        HealthStatus::QuotaExceeded => test.status == KeyStatus::QuotaExceeded,
        HealthStatus::Ok | HealthStatus::Unknown => false,
    };
    same && h.consecutive_failures <= 1 && h.since.as_deref().is_some_and(|since| since >= test.tested_at.as_str())
}

/// Whether `key` is the key its slot's active key replaced, among `keys` (any list holding the
/// slot's keys): inactive, its slot has an active key, and no other inactive key of the slot was
/// made active (or added) after it. Activating it is a *Roll back*; any other inactive key is
/// merely made active.
pub fn was_active_before(key: &ProviderKey, keys: &[&ProviderKey]) -> bool {
    let same_slot = |k: &&&ProviderKey| {
        k.provider == key.provider && k.project_id == key.project_id && k.environment == key.environment
    };
    let slot: Vec<&ProviderKey> = keys.iter().filter(same_slot).copied().collect();
    let last = |k: &ProviderKey| (k.updated_at.clone(), k.created_at.clone());
    !key.active
        && slot.iter().any(|k| k.active)
        && slot.iter().filter(|k| !k.active && k.id != key.id).all(|k| last(k) < last(key))
}

impl Core {
    /// The keys of `key`'s slot (provider, scope, environment), `key` included.
    async fn slot_of(&self, caller: &Caller, key: &ProviderKey) -> Result<Vec<ProviderKey>> {
        let filter = ProviderKeyFilter { provider: Some(key.provider), ..Default::default() };
        let all = self.list_provider_keys(caller, filter).await?;
        Ok(all.into_iter().filter(|k| k.project_id == key.project_id && k.environment == key.environment).collect())
    }

    /// What removing key `id` would do (admins and owners): see [`RemovalPreview`].
    pub async fn removal_preview(&self, caller: &Caller, id: &str) -> Result<RemovalPreview> {
        caller.require_admin()?;
        let key = self.get_provider_key(caller, id).await?;
        let slot = self.slot_of(caller, &key).await?;
        let successor = if key.active {
            let mut candidates: Vec<&ProviderKey> =
                slot.iter().filter(|k| k.id != key.id && !k.active && known_to_work(k)).collect();
            // The one that served last: changed most recently (activation marks it).
            candidates.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.created_at.cmp(&a.created_at)));
            candidates.first().map(|k| (*k).clone())
        } else {
            None
        };
        let active_other = slot.iter().find(|k| k.active && k.id != key.id);
        let env = key.environment.as_str();
        let provider = key.provider;
        let next = if let Some(other) = active_other {
            let reason = format!("the slot's active {env} {provider} key keeps serving");
            Resolution {
                source: if other.project_id.is_some() { KeySource::Project } else { KeySource::Organization },
                key_id: Some(other.id.clone()),
                masked: other.masked.clone(),
                reason,
            }
        } else {
            // Without the slot's key: the organization's (for a project key), the allowance, or nothing.
            let org_key = match &key.project_id {
                Some(_) => {
                    let filter = ProviderKeyFilter {
                        provider: Some(provider),
                        environment: Some(key.environment),
                        ..Default::default()
                    };
                    let keys = self.list_provider_keys(caller, filter).await?;
                    keys.into_iter().find(|k| k.active && k.project_id.is_none())
                }
                None => None,
            };
            match org_key {
                Some(k) => Resolution {
                    source: KeySource::Organization,
                    key_id: Some(k.id.clone()),
                    masked: k.masked.clone(),
                    reason: format!("the organization's active {env} {provider} key serves the project"),
                },
                None if self.providers.platform_key(provider).is_some() => Resolution {
                    source: KeySource::Platform,
                    key_id: None,
                    masked: None,
                    reason: format!("no {env} {provider} key is left, so the plan's allowance serves"),
                },
                None => Resolution {
                    source: KeySource::None,
                    key_id: None,
                    masked: None,
                    reason: format!("no {env} {provider} key is left"),
                },
            }
        };
        Ok(RemovalPreview { key, next, successor })
    }

    /// *Remove*, optionally making `successor` (an inactive key of the same slot) active first,
    /// in one step: the slot is never left without its key in between. Says what serves now.
    pub async fn remove_provider_key_for(
        &self,
        caller: &Caller,
        id: &str,
        successor: Option<&str>,
    ) -> Result<(ProviderKey, Resolution)> {
        if let Some(next) = successor {
            let key = self.get_provider_key(caller, id).await?;
            let slot = self.slot_of(caller, &key).await?;
            if next == id || !slot.iter().any(|k| k.id == next) {
                return Err(Error::validation(
                    "activate",
                    "The key to make active must be another key of the same slot",
                ));
            }
            self.activate_provider_key(caller, next).await?;
        }
        self.remove_provider_key_explained(caller, id).await
    }
}
