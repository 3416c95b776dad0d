//! Organizations: creation (bootstrap, `converra init`), plans, and the operator's admin commands.

use converra::{Environment, Organization, Plan, Role};
use secrecy::SecretString;
use serde_json::json;

use crate::{Core, Error, Result, audit, ids};
use converra_store::{CustomLimits, MemberRow, OrgRow};

/// What a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Requests per minute per API key.
    pub rate_limit_per_min: u32,
    /// Platform-allowance tokens per month.
    pub monthly_tokens: u64,
    /// Active API keys per member: with the rate limit, what bounds one member's total rate
    /// (`api_keys × rate_limit_per_min`), so new keys cannot multiply a bucket without end.
    pub api_keys: u32,
}

/// The limits of `org`'s plan. Enterprise organizations carry their own numbers (defaulting to
/// pro's when unset).
pub fn plan_limits(org: &OrgRow) -> PlanLimits {
    let (rate_limit_per_min, monthly_tokens, api_keys) = match org.plan {
        Plan::Free => (60, 100_000, 10),
        Plan::Pro => (300, 2_000_000, 50),
        Plan::Enterprise => (
            org.rate_limit_per_min.unwrap_or(300),
            org.monthly_tokens.unwrap_or(2_000_000),
            org.api_key_limit.unwrap_or(50),
        ),
    };
    PlanLimits { rate_limit_per_min, monthly_tokens, api_keys }
}

/// What creating an organization hands back: the first API key is shown once, here.
pub struct Bootstrap {
    pub organization: Organization,
    pub owner_id: String,
    pub owner_email: String,
    pub api_key_id: String,
    pub api_key: SecretString,
}

pub(crate) fn validate_name(field: &str, name: &str, max: usize) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::validation(field, format!("{field} must not be empty")));
    }
    if name.chars().count() > max {
        return Err(Error::validation(field, format!("{field} must be at most {max} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::validation(field, format!("{field} must not contain control characters")));
    }
    Ok(name.to_owned())
}

impl Core {
    /// Creates an organization with its owner, a data key and a first API key (`converra init`,
    /// and the first start of `serve` on an empty database).
    pub async fn create_organization(
        &self,
        name: &str,
        owner_email: &str,
        plan: Plan,
        key_environment: Environment,
    ) -> Result<Bootstrap> {
        let name = validate_name("org", name, 100)?;
        let owner_email = super::members::validate_email(owner_email)?;
        if self.store.organization_by_name(&name).await?.is_some() {
            return Err(Error::Conflict(format!("An organization named `{name}` already exists")));
        }
        let now = ids::now();
        let org = OrgRow {
            id: ids::new_id("org"),
            name,
            plan,
            rate_limit_per_min: None,
            monthly_tokens: None,
            api_key_limit: None,
            ai_enabled: true,
            ai_tone: None,
            key_rotation_days: None,
            created_at: now.clone(),
        };
        let owner = MemberRow {
            id: ids::new_id("mem"),
            org_id: org.id.clone(),
            email: owner_email,
            role: Role::Owner,
            created_at: now.clone(),
            first_signed_in_at: None,
        };
        let (key, token) = super::api_keys::new_key(&org.id, &owner.id, "Default".into(), key_environment, None, None);
        let data_key = self.keyring.new_data_key(&org.id)?;
        let actor = audit::operator();
        let events = vec![
            audit::event(
                &org.id,
                actor.clone(),
                "organization.created",
                "organization",
                &org.id,
                json!({"plan": plan.as_str()}),
            ),
            audit::event(&org.id, actor.clone(), "member.created", "member", &owner.id, json!({"role": "owner"})),
            audit::event(
                &org.id,
                actor,
                "api_key.created",
                "api_key",
                &key.id,
                json!({"environment": key_environment.as_str(), "last_four": key.last_four}),
            ),
        ];
        let out = Bootstrap {
            organization: Organization { id: org.id.clone(), name: org.name.clone(), plan },
            owner_id: owner.id.clone(),
            owner_email: owner.email.clone(),
            api_key_id: key.id.clone(),
            api_key: token,
        };
        self.store.create_organization(org, owner, key, data_key, events).await.map_err(|e| {
            if e.is_unique_violation() {
                Error::Conflict("An organization with this name already exists".into())
            } else {
                e.into()
            }
        })?;
        Ok(out)
    }

    /// Every organization (operator only: the CLI's `admin org list`).
    pub async fn admin_organizations(&self) -> Result<Vec<(Organization, PlanLimits)>> {
        Ok(self
            .store
            .organizations()
            .await?
            .into_iter()
            .map(|o| {
                let limits = plan_limits(&o);
                (Organization { id: o.id, name: o.name, plan: o.plan }, limits)
            })
            .collect())
    }

    /// Finds an organization by id or name (operator only).
    pub async fn admin_find_organization(&self, org: &str) -> Result<OrgRow> {
        let found = match self.store.organization(org).await? {
            Some(o) => Some(o),
            None => self.store.organization_by_name(org).await?,
        };
        found.ok_or(Error::NotFound("Organization"))
    }

    /// Changes an organization's plan (operator only). Custom limits are for enterprise only.
    pub async fn admin_set_plan(
        &self,
        org: &str,
        plan: Plan,
        rate_limit_per_min: Option<u32>,
        monthly_tokens: Option<u64>,
        api_key_limit: Option<u32>,
    ) -> Result<Organization> {
        let limits = CustomLimits { rate_limit_per_min, monthly_tokens, api_key_limit };
        if plan != Plan::Enterprise && limits != CustomLimits::default() {
            return Err(Error::validation("plan", "custom limits can only be set on the enterprise plan"));
        }
        if limits.rate_limit_per_min == Some(0) {
            return Err(Error::validation("rate_limit", "rate limit must be at least 1 request per minute"));
        }
        if limits.api_key_limit == Some(0) {
            return Err(Error::validation("api_keys", "members need at least 1 API key"));
        }
        let found = self.admin_find_organization(org).await?;
        let event = audit::event(
            &found.id,
            audit::operator(),
            "organization.plan_changed",
            "organization",
            &found.id,
            json!({"plan": plan.as_str(), "rate_limit_per_min": limits.rate_limit_per_min,
                   "monthly_tokens": limits.monthly_tokens, "api_key_limit": limits.api_key_limit}),
        );
        self.store.set_plan(&found.id, plan, limits, event).await?;
        Ok(Organization { id: found.id, name: found.name, plan })
    }
}
