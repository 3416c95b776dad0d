//! Organizations, their members and AI settings, and the owner rule.

use converra::{AiSettings, Plan, Role};

use super::sql::{Conn, FromRow, Row, Sql};
use super::{ApiKeyRow, CustomLimits, DataKeyRow, MemberChange, MemberRow, NewAuditEvent, OrgRow, Stale, Store};
use super::{StoreResult, api_keys, vault};

/// An organization's columns, as `o`.
macro_rules! org_cols {
    () => {
        "o.id, o.name, o.plan, o.rate_limit_per_min, o.monthly_tokens, o.ai_enabled, o.ai_tone, o.created_at, \
         o.api_key_limit, o.key_rotation_days"
    };
}
/// A member's columns, as `m`.
macro_rules! member_cols {
    () => {
        "m.id, m.org_id, m.email, m.role, m.created_at, m.first_signed_in_at"
    };
}
pub(super) use {member_cols, org_cols};

static INSERT_ORG: Sql = Sql::new(
    "INSERT INTO organizations (id, name, plan, rate_limit_per_min, monthly_tokens, ai_enabled, ai_tone, created_at, api_key_limit, key_rotation_days)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
);
static INSERT_MEMBER: Sql = Sql::new(
    "INSERT INTO members (id, org_id, email, role, created_at, first_signed_in_at) VALUES ($1, $2, $3, $4, $5, $6)",
);
static COUNT: Sql = Sql::new("SELECT count(*) FROM organizations");
static BY_ID: Sql = Sql::new(concat!("SELECT ", org_cols!(), " FROM organizations o WHERE o.id = $1"));
static BY_NAME: Sql = Sql::new(concat!("SELECT ", org_cols!(), " FROM organizations o WHERE o.name = $1"));
pub(super) static ALL: Sql =
    Sql::new(concat!("SELECT ", org_cols!(), " FROM organizations o ORDER BY o.created_at, o.id"));
static SET_PLAN: Sql = Sql::new(
    "UPDATE organizations SET plan = $2, rate_limit_per_min = $3, monthly_tokens = $4, api_key_limit = $5 WHERE id = $1",
);
static SET_AI: Sql =
    Sql::new("UPDATE organizations SET ai_enabled = $2, ai_tone = $3, key_rotation_days = $4 WHERE id = $1");
static MEMBER: Sql = Sql::new(concat!("SELECT ", member_cols!(), " FROM members m WHERE m.org_id = $1 AND m.id = $2"));
static MEMBERS: Sql =
    Sql::new(concat!("SELECT ", member_cols!(), " FROM members m WHERE m.org_id = $1 ORDER BY m.created_at, m.id"));
pub(super) static ALL_MEMBERS: Sql =
    Sql::new(concat!("SELECT ", member_cols!(), " FROM members m ORDER BY m.created_at, m.id"));
static SIGNED_IN: Sql =
    Sql::new("UPDATE members SET first_signed_in_at = $3 WHERE org_id = $1 AND id = $2 AND first_signed_in_at IS NULL");
/// The owner rule's read: every member's role, locked (on PostgreSQL) for the transaction, so
/// two changes cannot both pass the last-owner check.
static ROLES: Sql = Sql::new("SELECT id, role FROM members WHERE org_id = $1 FOR UPDATE");
static SET_ROLE: Sql = Sql::new("UPDATE members SET role = $3 WHERE org_id = $1 AND id = $2");
static DELETE_MEMBER: Sql = Sql::new("DELETE FROM members WHERE org_id = $1 AND id = $2");

impl FromRow for OrgRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(OrgRow {
            id: r.get(0)?,
            name: r.get(1)?,
            plan: r.parse("organizations", 2)?,
            rate_limit_per_min: r.opt_u32(3)?,
            monthly_tokens: r.opt_u64(4)?,
            ai_enabled: r.get(5)?,
            ai_tone: r.parse_opt("organizations", 6)?,
            created_at: r.get(7)?,
            api_key_limit: r.opt_u32(8)?,
            key_rotation_days: r.opt_u32(9)?,
        })
    }
}

impl FromRow for MemberRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(MemberRow {
            id: r.get(0)?,
            org_id: r.get(1)?,
            email: r.get(2)?,
            role: r.parse("members", 3)?,
            created_at: r.get(4)?,
            first_signed_in_at: r.get(5)?,
        })
    }
}

pub(super) async fn insert_org(c: &impl Conn, org: &OrgRow) -> StoreResult<()> {
    c.execute(
        &INSERT_ORG,
        &[
            &org.id,
            &org.name,
            &org.plan.as_str(),
            &org.rate_limit_per_min.map(i64::from),
            &org.monthly_tokens.map(|t| t as i64),
            &org.ai_enabled,
            &org.ai_tone.map(|t| t.as_str()),
            &org.created_at,
            &org.api_key_limit.map(i64::from),
            &org.key_rotation_days.map(i64::from),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn insert_member(c: &impl Conn, m: &MemberRow) -> StoreResult<()> {
    c.execute(&INSERT_MEMBER, &[&m.id, &m.org_id, &m.email, &m.role.as_str(), &m.created_at, &m.first_signed_in_at])
        .await?;
    Ok(())
}

/// The owner rule, checked inside the transaction `c` before member `id` changes: an owner is
/// touched only by whoever `may_touch_owner`, and the last owner is never removed or demoted
/// (`keeps_owner`: the change leaves them an owner).
async fn owner_rule(
    c: &impl Conn,
    org_id: &str,
    id: &str,
    keeps_owner: bool,
    may_touch_owner: bool,
) -> StoreResult<MemberChange> {
    let roles: Vec<(String, String)> = c.query(&ROLES, &[&org_id]).await?;
    let Some((_, current)) = roles.iter().find(|(member, _)| member == id) else {
        return Ok(MemberChange::NotFound);
    };
    if current != "owner" {
        return Ok(MemberChange::Done);
    }
    if !may_touch_owner {
        return Ok(MemberChange::OwnerProtected);
    }
    let owners = roles.iter().filter(|(_, role)| role == "owner").count();
    Ok(if !keeps_owner && owners <= 1 { MemberChange::LastOwner } else { MemberChange::Done })
}

impl Store {
    /// Creates an organization with its owner, first API key and data key, atomically.
    pub async fn create_organization(
        &self,
        org: OrgRow,
        owner: MemberRow,
        key: ApiKeyRow,
        data_key: DataKeyRow,
        audit: Vec<NewAuditEvent>,
    ) -> StoreResult<()> {
        write!(self, Stale::AUTH, audit, |c| async {
            insert_org(c, &org).await?;
            insert_member(c, &owner).await?;
            api_keys::insert(c, &key).await?;
            vault::insert_data_key(c, &data_key).await
        })
    }

    /// Number of organizations (0 means a fresh database to bootstrap).
    pub async fn organization_count(&self) -> StoreResult<u64> {
        Ok(read!(self, |c| c.query_one::<i64>(&COUNT, &[]))? as u64)
    }

    pub async fn organization(&self, id: &str) -> StoreResult<Option<OrgRow>> {
        let id = id.to_owned();
        read!(self, |c| c.query_opt(&BY_ID, &[&id]))
    }

    pub async fn organization_by_name(&self, name: &str) -> StoreResult<Option<OrgRow>> {
        let name = name.to_owned();
        read!(self, |c| c.query_opt(&BY_NAME, &[&name]))
    }

    pub async fn organizations(&self) -> StoreResult<Vec<OrgRow>> {
        read!(self, |c| c.query(&ALL, &[]))
    }

    /// Sets the plan (and, for enterprise, its own limits). False if the organization is gone.
    pub async fn set_plan(
        &self,
        org_id: &str,
        plan: Plan,
        limits: CustomLimits,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let org_id = org_id.to_owned();
        write!(self, Stale::AUTH, [audit], |c| async {
            let n = c
                .execute(
                    &SET_PLAN,
                    &[
                        &org_id,
                        &plan.as_str(),
                        &limits.rate_limit_per_min.map(i64::from),
                        &limits.monthly_tokens.map(|t| t as i64),
                        &limits.api_key_limit.map(i64::from),
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    pub async fn update_ai_settings(
        &self,
        org_id: &str,
        settings: AiSettings,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        write!(self, Stale::AUTH, [audit], |c| async {
            let tone = settings.tone.map(|t| t.as_str());
            c.execute(&SET_AI, &[&org_id, &settings.enabled, &tone, &i64::from(settings.key_rotation_days)]).await?;
            Ok(())
        })
    }

    pub async fn member(&self, org_id: &str, id: &str) -> StoreResult<Option<MemberRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        read!(self, |c| c.query_opt(&MEMBER, &[&org_id, &id]))
    }

    pub async fn members(&self, org_id: &str) -> StoreResult<Vec<MemberRow>> {
        let org_id = org_id.to_owned();
        read!(self, |c| c.query(&MEMBERS, &[&org_id]))
    }

    pub async fn insert_member(&self, member: MemberRow, audit: NewAuditEvent) -> StoreResult<()> {
        write!(self, Stale::AUTH, [audit], |c| insert_member(c, &member))
    }

    /// Records a member's first sign-in at `at`; a later one changes nothing.
    pub async fn member_signed_in(&self, org_id: &str, id: &str, at: &str) -> StoreResult<()> {
        let (org_id, id, at) = (org_id.to_owned(), id.to_owned(), at.to_owned());
        let result = read!(self, |c| c.execute(&SIGNED_IN, &[&org_id, &id, &at]));
        self.changed(Stale::AUTH);
        result.map(drop)
    }

    /// Changes a member's role; refuses to demote the last owner, and to touch an owner at all
    /// unless `may_touch_owner` (both checked inside the transaction).
    pub async fn update_member_role(
        &self,
        org_id: &str,
        id: &str,
        role: Role,
        may_touch_owner: bool,
        audit: NewAuditEvent,
    ) -> StoreResult<MemberChange> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        write!(self, Stale::AUTH, [audit], |c| async {
            let outcome = owner_rule(c, &org_id, &id, role == Role::Owner, may_touch_owner).await?;
            if outcome == MemberChange::Done {
                c.execute(&SET_ROLE, &[&org_id, &id, &role.as_str()]).await?;
            }
            Ok(outcome)
        })
    }

    /// Removes a member (and, by cascade, their API keys), with the same owner rules.
    pub async fn delete_member(
        &self,
        org_id: &str,
        id: &str,
        may_touch_owner: bool,
        audit: NewAuditEvent,
    ) -> StoreResult<MemberChange> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        write!(self, Stale::AUTH.and(Stale::BUDGETS), [audit], |c| async {
            let outcome = owner_rule(c, &org_id, &id, false, may_touch_owner).await?;
            if outcome == MemberChange::Done {
                c.execute(&super::budgets::OF_MEMBER, &[&org_id, &id]).await?;
                c.execute(&DELETE_MEMBER, &[&org_id, &id]).await?;
            }
            Ok(outcome)
        })
    }
}
