//! Provider keys: add, list, update in place, activate (rotation and rollback), test, remove.
//! Owners and admins manage; members see provider, scope and status only ("AI provider
//! keys are managed by workspace admins").

use converra::{
    AddProviderKey, Environment, KeyHealth, KeyScope, KeyStatus, ProviderKey, ProviderKeyFilter, Resolution, Role,
    TestResult, UpdateProviderKey,
};
use secrecy::SecretString;
use serde_json::json;

use super::crypto::{self, SecretContext};
use super::format;
use crate::{Caller, Core, Error, Result, audit, health, ids};
use converra_store::{ProviderKeyRow, SecretUpdate, TestRecord};

const SCOPE_ORG: &str = "organization";

/// The context the row's ciphertext is bound to.
pub(super) fn context(row: &ProviderKeyRow) -> SecretContext<'_> {
    SecretContext {
        org_id: &row.org_id,
        scope: row.project_id.as_deref().unwrap_or(SCOPE_ORG),
        environment: row.environment.as_str(),
        provider: row.provider.as_str(),
        key_id: &row.id,
        data_key_version: row.data_key_version,
    }
}

/// What a caller may see of a key: everything for admins and owners, status and health only
/// for members. `health` is the key's live health (see `core/health`).
fn view(row: &ProviderKeyRow, role: Role, health: KeyHealth) -> ProviderKey {
    let full = role >= Role::Admin;
    let shown = |v: &String| full.then(|| v.clone());
    ProviderKey {
        health: Some(health),
        id: row.id.clone(),
        provider: row.provider,
        scope: if row.project_id.is_some() { KeyScope::Project } else { KeyScope::Organization },
        project_id: row.project_id.clone(),
        environment: row.environment,
        active: row.active,
        status: row.status,
        name: shown(&row.name),
        masked: shown(&row.masked),
        last_test: row.last_test.as_ref().filter(|_| full).map(|t| TestResult {
            status: t.status,
            message: t.message.clone(),
            tested_at: t.tested_at.clone(),
            latency_ms: t.latency_ms,
        }),
        created_by: row.created_by.as_ref().and_then(shown),
        updated_by: row.updated_by.as_ref().and_then(shown),
        created_at: shown(&row.created_at),
        updated_at: shown(&row.updated_at),
    }
}

fn key_audit(
    caller: &Caller,
    action: &'static str,
    row: &ProviderKeyRow,
    extra: serde_json::Value,
) -> converra_store::NewAuditEvent {
    let detail = key_detail(row.provider, row.environment, &row.project_id, &row.last_four, extra);
    audit::event(&caller.org_id, caller.actor(), action, "provider_key", &row.id, detail)
}

/// What every provider-key event says of its key (never more of the secret than its last
/// four), with `extra`'s fields added or overriding.
fn key_detail(
    provider: converra::Provider,
    environment: Environment,
    project_id: &Option<String>,
    last_four: &str,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut detail = json!({
        "provider": provider.as_str(),
        "environment": environment.as_str(),
        "project_id": project_id,
        "last_four": last_four,
    });
    if let (Some(d), serde_json::Value::Object(e)) = (detail.as_object_mut(), extra) {
        d.extend(e);
    }
    detail
}

impl Core {
    /// A key as `caller` may see it, with its health in the caller's organization.
    fn view(&self, row: &ProviderKeyRow, caller: &Caller) -> ProviderKey {
        let health = health::view(row, caller.ai.key_rotation_days, self.health.tallies.pending_failures(&row.id));
        view(row, caller.role, health)
    }

    async fn seal_for(&self, row: &mut ProviderKeyRow, secret: &SecretString) -> Result<()> {
        let (version, key) = self.keyring.data_key(&self.store, &row.org_id, None).await?;
        row.data_key_version = version;
        row.ciphertext = crypto::seal_secret(&key, &context(row), secret);
        Ok(())
    }

    /// Decrypts a stored key for an outbound provider call. A blob that does not open is an
    /// error (logged with ids only), never a reason to try another key.
    pub(crate) async fn open_provider_key(&self, row: &ProviderKeyRow) -> Result<SecretString> {
        let (_, key) = self.keyring.data_key(&self.store, &row.org_id, Some(row.data_key_version)).await?;
        crypto::open_secret(&key, &context(row), &row.ciphertext).map_err(|e| {
            tracing::error!(org_id = %row.org_id, provider_key_id = %row.id, error = %e, "provider key does not decrypt");
            e.into()
        })
    }

    async fn admin_row(&self, caller: &Caller, id: &str) -> Result<ProviderKeyRow> {
        caller.require_admin()?;
        let id = ids::shaped("pk", "Provider key", id)?;
        self.store.provider_key(&caller.org_id, id).await?.ok_or(Error::NotFound("Provider key"))
    }

    pub(crate) async fn check_project(&self, caller: &Caller, project_id: Option<&str>) -> Result<()> {
        if let Some(p) = project_id {
            let p = ids::shaped("prj", "Project", p)?;
            self.store.project(&caller.org_id, p).await?.ok_or(Error::NotFound("Project"))?;
        }
        Ok(())
    }

    pub async fn add_provider_key(&self, caller: &Caller, req: AddProviderKey) -> Result<ProviderKey> {
        caller.require_admin()?;
        let name = crate::access::validate_name("name", &req.name, 100)?;
        let secret = format::normalize(req.provider, &req.api_key)?;
        self.check_project(caller, req.project_id.as_deref()).await?;
        let environment: Environment = req.environment.unwrap_or(caller.environment);
        let (masked, last_four) = format::mask(&secret);
        let last_test = if req.test {
            // Refused, nothing is stored: the event has no object id.
            let refused = || {
                let detail = key_detail(req.provider, environment, &req.project_id, &last_four, json!({"name": name}));
                audit::event(&caller.org_id, caller.actor(), "provider_key.created", "provider_key", "", detail)
            };
            Some(self.test_before_storing(req.provider, &secret, refused).await?)
        } else {
            None
        };
        let now = ids::now();
        let mut row = ProviderKeyRow {
            id: ids::new_id("pk"),
            org_id: caller.org_id.clone(),
            project_id: req.project_id,
            environment,
            provider: req.provider,
            name,
            ciphertext: Vec::new(),
            data_key_version: 0,
            masked,
            last_four,
            active: true,
            status: last_test.as_ref().map_or(KeyStatus::Untested, |t| t.status),
            last_test,
            health: Default::default(),
            created_by: Some(caller.member_id.clone()),
            updated_by: Some(caller.member_id.clone()),
            created_at: now.clone(),
            updated_at: now,
        };
        self.seal_for(&mut row, &secret).await?;
        let event = key_audit(caller, "provider_key.created", &row, json!({"tested": req.test}));
        self.store.insert_provider_key(row.clone(), event).await?;
        self.catch_up_with_rotation(&row).await;
        Ok(self.view(&row, caller))
    }

    /// Tests a key before it is stored: a failure stores nothing and says so
    /// ([`Error::NotStored`]: the key rejected, or the provider not reached and where), and
    /// the `refused` event goes into the audit log as a failure.
    async fn test_before_storing(
        &self,
        provider: converra::Provider,
        secret: &SecretString,
        refused: impl FnOnce() -> converra_store::NewAuditEvent,
    ) -> Result<TestRecord> {
        let outcome = self.provider_verify(provider, secret).await;
        if outcome.status != KeyStatus::Ok {
            self.audit_not_stored(refused(), outcome.status).await;
            return Err(Error::NotStored { status: outcome.status, host: self.providers.host(provider) });
        }
        Ok(TestRecord {
            status: outcome.status,
            message: outcome.status.message().into(),
            tested_at: ids::now(),
            latency_ms: outcome.latency_ms,
        })
    }

    /// Records an add or a replace refused by its test (`outcome: failure`, `stored: false`,
    /// the test's status). Not being able to record it is logged, not returned: the caller must
    /// still hear why the key was refused.
    async fn audit_not_stored(&self, mut event: converra_store::NewAuditEvent, status: KeyStatus) {
        event.outcome = "failure";
        if let Some(detail) = event.detail.as_object_mut() {
            detail.insert("stored".into(), false.into());
            detail.insert("status".into(), status.as_str().into());
        }
        if let Err(e) = self.store.record_audit(event).await {
            tracing::warn!(error = %e, "could not record a refused provider key in the audit log");
        }
    }

    pub async fn list_provider_keys(&self, caller: &Caller, filter: ProviderKeyFilter) -> Result<Vec<ProviderKey>> {
        if filter.project_id.as_deref().is_some_and(|p| !ids::well_formed("prj", p)) {
            return Ok(Vec::new()); // no project has that id
        }
        let wanted = filter.health;
        let rows = self.store.provider_keys(&caller.org_id, filter).await?;
        let keys = rows.iter().map(|r| self.view(r, caller));
        Ok(keys.filter(|k| wanted.is_none_or(|w| k.health.as_ref().is_some_and(|h| w.matches(h)))).collect())
    }

    pub async fn get_provider_key(&self, caller: &Caller, id: &str) -> Result<ProviderKey> {
        Ok(self.view(&self.admin_row(caller, id).await?, caller))
    }

    /// Replaces the secret in place ("Update API Key"): same id, same slot, untested again —
    /// or, with `test`, tested first: a failure keeps the old secret, a pass is recorded.
    pub async fn update_provider_key(&self, caller: &Caller, id: &str, req: UpdateProviderKey) -> Result<ProviderKey> {
        let mut row = self.admin_row(caller, id).await?;
        let name = req.name.as_deref().map(|n| crate::access::validate_name("name", n, 100)).transpose()?;
        let secret = format::normalize(row.provider, &req.api_key)?;
        let tested = if req.test {
            // The refused secret's last four, beside the stored key's id.
            let refused =
                || key_audit(caller, "provider_key.updated", &row, json!({"last_four": format::mask(&secret).1}));
            Some(self.test_before_storing(row.provider, &secret, refused).await?)
        } else {
            None
        };
        let (masked, last_four) = format::mask(&secret);
        self.seal_for(&mut row, &secret).await?;
        row.last_four = last_four.clone();
        let event = key_audit(caller, "provider_key.updated", &row, json!({}));
        let updated = self
            .store
            .update_provider_key_secret(
                &caller.org_id,
                id,
                SecretUpdate {
                    ciphertext: row.ciphertext,
                    data_key_version: row.data_key_version,
                    masked,
                    last_four,
                    name,
                    updated_by: caller.member_id.clone(),
                    at: ids::now(),
                },
                event,
            )
            .await?
            .ok_or(Error::NotFound("Provider key"))?;
        self.catch_up_with_rotation(&updated).await;
        let Some(record) = tested else {
            return Ok(self.view(&updated, caller));
        };
        let event = key_audit(
            caller,
            "provider_key.tested",
            &updated,
            json!({"status": record.status.as_str(), "latency_ms": record.latency_ms}),
        );
        if !self.store.record_provider_key_test(&caller.org_id, id, record, event).await? {
            return Err(Error::NotFound("Provider key"));
        }
        self.get_provider_key(caller, id).await
    }

    /// Makes a key the active one of its slot; the previous active key becomes inactive.
    pub async fn activate_provider_key(&self, caller: &Caller, id: &str) -> Result<ProviderKey> {
        let row = self.admin_row(caller, id).await?;
        let event = key_audit(caller, "provider_key.activated", &row, json!({}));
        let row = self
            .store
            .activate_provider_key(&caller.org_id, id, &caller.member_id, &ids::now(), event)
            .await?
            .ok_or(Error::NotFound("Provider key"))?;
        Ok(self.view(&row, caller))
    }

    /// Removes the key and destroys its ciphertext.
    pub async fn remove_provider_key(&self, caller: &Caller, id: &str) -> Result<()> {
        let row = self.admin_row(caller, id).await?;
        let event = key_audit(caller, "provider_key.removed", &row, json!({"was_active": row.active}));
        self.store.delete_provider_key(&caller.org_id, id, event).await?.ok_or(Error::NotFound("Provider key"))?;
        Ok(())
    }

    /// Removes a key and says which key now serves its slot (project → organization →
    /// allowance), in the removed key's environment: what the web face's *Remove* reports.
    pub async fn remove_provider_key_explained(&self, caller: &Caller, id: &str) -> Result<(ProviderKey, Resolution)> {
        let row = self.admin_row(caller, id).await?;
        self.remove_provider_key(caller, id).await?;
        let in_env = Caller { environment: row.environment, ..caller.clone() };
        let now_serving = self.explain_resolution(&in_env, row.provider, row.project_id.as_deref()).await?;
        Ok((self.view(&row, caller), now_serving))
    }

    /// Verifies the stored key with the provider's cheapest authenticated call and records it.
    pub async fn test_provider_key(&self, caller: &Caller, id: &str) -> Result<TestResult> {
        let row = self.admin_row(caller, id).await?;
        let secret = self.open_provider_key(&row).await?;
        let outcome = self.provider_verify(row.provider, &secret).await;
        let record = TestRecord {
            status: outcome.status,
            message: outcome.status.message().into(),
            tested_at: ids::now(),
            latency_ms: outcome.latency_ms,
        };
        let mut event = key_audit(
            caller,
            "provider_key.tested",
            &row,
            json!({"status": outcome.status.as_str(), "latency_ms": outcome.latency_ms}),
        );
        if outcome.status != KeyStatus::Ok {
            event.outcome = "failure";
        }
        if !self.store.record_provider_key_test(&caller.org_id, id, record.clone(), event).await? {
            return Err(Error::NotFound("Provider key"));
        }
        // A test is evidence about the key too: a pass clears a flag, a rejection sets one.
        self.health.observe(&row, outcome.status, "test").await;
        Ok(TestResult {
            status: record.status,
            message: record.message,
            tested_at: record.tested_at,
            latency_ms: record.latency_ms,
        })
    }
}
