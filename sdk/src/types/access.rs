//! Organizations, members and roles, projects, API keys, and `/me`: who may act, and in which
//! environment.

use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// An organization's plan: it sets the API-key rate limit and the monthly token allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// 60 requests/min per API key, 100,000 allowance tokens a month.
    Free,
    /// 300 requests/min per API key, 2,000,000 allowance tokens a month.
    Pro,
    /// Limits set per organization.
    Enterprise,
}

impl Plan {
    /// The plan's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
        }
    }
}

impl std::str::FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Self::Free),
            "pro" => Ok(Self::Pro),
            "enterprise" => Ok(Self::Enterprise),
            other => Err(format!("unknown plan `{other}`: expected free, pro or enterprise")),
        }
    }
}

/// A member's role. Ordered: `Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs completions, sees key status, manages their own API keys.
    Member,
    /// Manages provider keys, members and projects.
    Admin,
    /// Everything an admin does, plus AI settings and the plan.
    Owner,
}

impl Role {
    /// The role's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            "owner" => Ok(Self::Owner),
            other => Err(format!("unknown role `{other}`: expected owner, admin or member")),
        }
    }
}

/// The environment of an API key, and the scope of the provider keys it may spend:
/// a `test` key never spends a `live` provider key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production (`sk_live_…`).
    Live,
    /// Development and testing (`sk_test_…`).
    Test,
}

impl Environment {
    /// The environment's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(Self::Live),
            "test" => Ok(Self::Test),
            other => Err(format!("unknown environment `{other}`: expected live or test")),
        }
    }
}

/// An organization (tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Organization {
    /// Organization id (`org_…`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Current plan.
    pub plan: Plan,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    /// Member id (`mem_…`).
    pub id: String,
    /// Email address, unique within the organization.
    pub email: String,
    /// Role.
    pub role: Role,
    /// When the member was added.
    pub created_at: String,
    /// When the member first signed in to the web (by a sign-in link or an API key); absent:
    /// never. An admin may hand a new sign-in link only to a member who never has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_signed_in_at: Option<String>,
}

/// `POST /api/v1/members`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    /// Email address of the new member.
    pub email: String,
    /// Role of the new member; admins may not create owners.
    pub role: Role,
}

/// `PATCH /api/v1/members/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// The new role.
    pub role: Role,
}

/// A project: a sub-scope of an organization whose provider keys override the organization's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Project {
    /// Project id (`prj_…`).
    pub id: String,
    /// Display name, unique within the organization.
    pub name: String,
    /// When the project was created.
    pub created_at: String,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// Display name.
    pub name: String,
}

/// A Converra API key as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    /// API key id (`key_…`).
    pub id: String,
    /// Name given at creation, e.g. "Production".
    pub name: String,
    /// `live` or `test`.
    pub environment: Environment,
    /// The member this key acts as.
    pub member_id: String,
    /// The key's visible start, e.g. `sk_live_AbC123`.
    pub prefix: String,
    /// The key's last four characters.
    pub last_four: String,
    /// When the key stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When the key was last used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// When the key was revoked (revoked keys stay listed for the audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When the key was created.
    pub created_at: String,
    /// The project the key is bound to: its calls belong to that project (and its budget), and
    /// naming another is refused. Absent: it may name any project of its organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

/// The answer to creating an API key: the only time the full secret is shown.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct CreatedApiKey {
    /// The listed form of the new key.
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The full key. Store it now: it cannot be shown again.
    #[serde(serialize_with = "super::common::expose_once::serialize")]
    #[schemars(schema_with = "super::common::secret_schema")]
    pub key: SecretString,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey").field("api_key", &self.api_key).field("key", &"[REDACTED]").finish()
    }
}

/// `POST /api/v1/api-keys`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A name that says where the key is used, e.g. "Production".
    pub name: String,
    /// `live` or `test`; defaults to the calling key's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// RFC 3339 time after which the key stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Create the key for another member (admins and owners only, for a lower role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// Bind the key to a project (`prj_…`): its calls belong to that project, and naming
    /// another is refused. An agent given a bound key cannot bill another project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

/// `GET /api/v1/me`: who the calling key is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    /// The key's organization.
    pub organization: Organization,
    /// The member the key acts as.
    pub member: MeMember,
    /// The key itself.
    pub api_key: MeApiKey,
}

/// The member part of [`Me`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MeMember {
    /// Member id.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Current role.
    pub role: Role,
}

/// The API-key part of [`Me`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MeApiKey {
    /// API key id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its environment.
    pub environment: Environment,
    /// The project it is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}
