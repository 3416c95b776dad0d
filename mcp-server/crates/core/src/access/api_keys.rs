//! Converra API keys: create (shown once, at most the plan's number of active keys per
//! member), list (never the secret), revoke (effective on the very next request: every write
//! invalidates the authentication cache before it answers).

use converra::{ApiKey, CreateApiKey, CreatedApiKey, Role};
use serde_json::json;

use super::{Caller, token};
use crate::{Core, Error, Result, audit, ids};
use converra_store::ApiKeyRow;

fn to_wire(k: ApiKeyRow) -> ApiKey {
    ApiKey {
        id: k.id,
        name: k.name,
        environment: k.environment,
        member_id: k.member_id,
        prefix: k.prefix,
        last_four: k.last_four,
        expires_at: k.expires_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
        created_at: k.created_at,
        project_id: k.project_id,
    }
}

/// A new key's row and its token (shown once). Only the token's hash goes into the row.
pub(super) fn new_key(
    org_id: &str,
    member_id: &str,
    name: String,
    environment: converra::Environment,
    expires_at: Option<String>,
    project_id: Option<String>,
) -> (ApiKeyRow, secrecy::SecretString) {
    let t = token::generate(environment);
    let row = ApiKeyRow {
        id: ids::new_id("key"),
        lookup_id: t.lookup_id,
        org_id: org_id.to_owned(),
        member_id: member_id.to_owned(),
        name,
        environment,
        secret_hash: t.hash,
        prefix: t.prefix,
        last_four: t.last_four,
        expires_at,
        last_used_at: None,
        revoked_at: None,
        created_at: ids::now(),
        project_id,
    };
    (row, t.token)
}

impl Core {
    pub async fn create_api_key(&self, caller: &Caller, req: CreateApiKey) -> Result<CreatedApiKey> {
        let name = super::orgs::validate_name("name", &req.name, 100)?;
        let member_id = match req.member_id.as_deref() {
            None => caller.member_id.clone(),
            Some(id) if id == caller.member_id => caller.member_id.clone(),
            Some(id) => {
                caller.require_admin()?;
                let id = ids::shaped("mem", "Member", id)?;
                let member = self.store.member(&caller.org_id, id).await?.ok_or(Error::NotFound("Member"))?;
                if member.role >= caller.role && caller.role != Role::Owner {
                    return Err(Error::Forbidden("Admins can create keys only for members with a lower role"));
                }
                member.id
            }
        };
        let expires_at = match req.expires_at.as_deref() {
            None => None,
            Some(s) => {
                let t = ids::parse_time(s).ok_or_else(|| {
                    Error::validation("expires_at", "expires_at must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z")
                })?;
                if t <= time::OffsetDateTime::now_utc() {
                    return Err(Error::validation("expires_at", "expires_at must be in the future"));
                }
                Some(ids::format_time(t))
            }
        };
        let environment = req.environment.unwrap_or(caller.environment);
        // A bound key acts only in its project: a key made by one binds to the same project.
        let project_id = match caller.project_for(req.project_id)? {
            None => None,
            Some(id) => {
                let id = ids::shaped("prj", "Project", &id)?;
                self.store.project(&caller.org_id, id).await?.ok_or(Error::NotFound("Project"))?;
                Some(id.to_owned())
            }
        };
        let (row, token) = new_key(&caller.org_id, &member_id, name, environment, expires_at, project_id);
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "api_key.created",
            "api_key",
            &row.id,
            json!({"environment": environment.as_str(), "member_id": row.member_id, "last_four": row.last_four,
                   "project_id": row.project_id}),
        );
        if !self.store.insert_api_key(row.clone(), caller.api_key_limit, event).await? {
            return Err(Error::ApiKeyLimit { limit: caller.api_key_limit });
        }
        Ok(CreatedApiKey { api_key: to_wire(row), key: token })
    }

    /// Members see their own keys; admins and owners see everyone's.
    pub async fn list_api_keys(&self, caller: &Caller) -> Result<Vec<ApiKey>> {
        let only = (caller.role < Role::Admin).then_some(caller.member_id.as_str());
        Ok(self.store.api_keys(&caller.org_id, only).await?.into_iter().map(to_wire).collect())
    }

    pub async fn revoke_api_key(&self, caller: &Caller, id: &str) -> Result<()> {
        let id = ids::shaped("key", "API key", id)?;
        let key = self.store.api_key(&caller.org_id, id).await?.ok_or(Error::NotFound("API key"))?;
        if key.member_id != caller.member_id {
            if caller.role < Role::Admin {
                // Another member's key is as invisible to a member as a missing one.
                return Err(Error::NotFound("API key"));
            }
            let owner = self.store.member(&caller.org_id, &key.member_id).await?;
            if owner.is_some_and(|m| m.role == Role::Owner) && caller.role != Role::Owner {
                return Err(Error::Forbidden("Only an owner can revoke an owner's key"));
            }
        }
        if key.revoked_at.is_some() {
            return Ok(());
        }
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "api_key.revoked",
            "api_key",
            id,
            json!({"last_four": key.last_four}),
        );
        self.store.revoke_api_key(&caller.org_id, id, &ids::now(), event).await?;
        self.limits.forget(id).await;
        Ok(())
    }
}
