//! Organizations, their members and AI settings.

use converra::{AiSettings, Plan, Role};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Postgres, commit_audited, parse};
use crate::store::Stale;
use crate::store::{ApiKeyRow, CustomLimits, DataKeyRow, MemberChange, MemberRow, NewAuditEvent, OrgRow, StoreResult};

pub(super) const ORG_COLS: &str = "o.id, o.name, o.plan, o.rate_limit_per_min, o.monthly_tokens, o.ai_enabled, o.ai_tone, o.created_at, o.api_key_limit, o.key_rotation_days";
pub(super) const MEMBER_COLS: &str = "m.id, m.org_id, m.email, m.role, m.created_at, m.first_signed_in_at";

pub(super) fn org_at(r: &Row, at: usize) -> StoreResult<OrgRow> {
    Ok(OrgRow {
        id: r.try_get(at)?,
        name: r.try_get(at + 1)?,
        plan: parse("organizations", r.try_get(at + 2)?)?,
        rate_limit_per_min: r.try_get::<_, Option<i64>>(at + 3)?.map(|n| n as u32),
        monthly_tokens: r.try_get::<_, Option<i64>>(at + 4)?.map(|n| n as u64),
        api_key_limit: r.try_get::<_, Option<i64>>(at + 8)?.map(|n| n as u32),
        ai_enabled: r.try_get(at + 5)?,
        ai_tone: r.try_get::<_, Option<&str>>(at + 6)?.map(|t| parse("organizations", t)).transpose()?,
        key_rotation_days: r.try_get::<_, Option<i64>>(at + 9)?.map(|n| n as u32),
        created_at: r.try_get(at + 7)?,
    })
}

pub(super) fn member_at(r: &Row, at: usize) -> StoreResult<MemberRow> {
    Ok(MemberRow {
        id: r.try_get(at)?,
        org_id: r.try_get(at + 1)?,
        email: r.try_get(at + 2)?,
        role: parse("members", r.try_get(at + 3)?)?,
        created_at: r.try_get(at + 4)?,
        first_signed_in_at: r.try_get(at + 5)?,
    })
}

pub(super) async fn insert_org_row(c: &impl GenericClient, org: &OrgRow) -> StoreResult<()> {
    c.execute(
        "INSERT INTO organizations (id, name, plan, rate_limit_per_min, monthly_tokens, ai_enabled, ai_tone, created_at, api_key_limit, key_rotation_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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

pub(super) async fn insert_member_row(c: &impl GenericClient, m: &MemberRow) -> StoreResult<()> {
    c.execute(
        "INSERT INTO members (id, org_id, email, role, created_at, first_signed_in_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&m.id, &m.org_id, &m.email, &m.role.as_str(), &m.created_at, &m.first_signed_in_at],
    )
    .await?;
    Ok(())
}

/// Checks the owner rules for changing member `id`, inside the transaction `c`. The
/// organization's member rows are locked first, so two changes cannot both pass the
/// last-owner check.
async fn owner_rules(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
    keeps_owner: bool,
    may_touch_owner: bool,
) -> StoreResult<MemberChange> {
    let roles = c.query("SELECT id, role FROM members WHERE org_id = $1 FOR UPDATE", &[&org_id]).await?;
    let Some(current) = roles.iter().find(|r| r.get::<_, &str>(0) == id).map(|r| r.get::<_, String>(1)) else {
        return Ok(MemberChange::NotFound);
    };
    if current != "owner" {
        return Ok(MemberChange::Done);
    }
    if !may_touch_owner {
        return Ok(MemberChange::OwnerProtected);
    }
    let owners = roles.iter().filter(|r| r.get::<_, &str>(1) == "owner").count();
    Ok(if !keeps_owner && owners <= 1 { MemberChange::LastOwner } else { MemberChange::Done })
}

impl Postgres {
    pub(in crate::store) async fn create_organization(
        &self,
        org: OrgRow,
        owner: MemberRow,
        key: ApiKeyRow,
        data_key: DataKeyRow,
        audit: Vec<NewAuditEvent>,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        insert_org_row(&tx, &org).await?;
        insert_member_row(&tx, &owner).await?;
        super::api_keys::insert_api_key_row(&tx, &key).await?;
        super::provider_keys::insert_data_key_row(&tx, &data_key).await?;
        commit_audited(tx, (), audit, Stale::AUTH).await
    }

    pub(in crate::store) async fn organization_count(&self) -> StoreResult<u64> {
        let c = self.client().await?;
        Ok(c.query_one("SELECT count(*) FROM organizations", &[]).await?.get::<_, i64>(0) as u64)
    }

    pub(in crate::store) async fn organization(&self, id: &str) -> StoreResult<Option<OrgRow>> {
        self.org_where("o.id = $1", id).await
    }

    pub(in crate::store) async fn organization_by_name(&self, name: &str) -> StoreResult<Option<OrgRow>> {
        self.org_where("o.name = $1", name).await
    }

    async fn org_where(&self, condition: &'static str, value: &str) -> StoreResult<Option<OrgRow>> {
        let c = self.client().await?;
        let row = c.query_opt(&format!("SELECT {ORG_COLS} FROM organizations o WHERE {condition}"), &[&value]).await?;
        row.map(|r| org_at(&r, 0)).transpose()
    }

    pub(in crate::store) async fn organizations(&self) -> StoreResult<Vec<OrgRow>> {
        let c = self.client().await?;
        let rows = c.query(&format!("SELECT {ORG_COLS} FROM organizations o ORDER BY o.created_at, o.id"), &[]).await?;
        rows.iter().map(|r| org_at(r, 0)).collect()
    }

    pub(in crate::store) async fn set_plan(
        &self,
        org_id: &str,
        plan: Plan,
        limits: CustomLimits,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE organizations SET plan = $2, rate_limit_per_min = $3, monthly_tokens = $4, api_key_limit = $5 WHERE id = $1",
                &[
                    &org_id,
                    &plan.as_str(),
                    &limits.rate_limit_per_min.map(i64::from),
                    &limits.monthly_tokens.map(|t| t as i64),
                    &limits.api_key_limit.map(i64::from),
                ],
            )
            .await?;
        commit_audited(tx, n == 1, [audit], Stale::AUTH).await
    }

    pub(in crate::store) async fn update_ai_settings(
        &self,
        org_id: &str,
        settings: AiSettings,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "UPDATE organizations SET ai_enabled = $2, ai_tone = $3, key_rotation_days = $4 WHERE id = $1",
            &[&org_id, &settings.enabled, &settings.tone.map(|t| t.as_str()), &i64::from(settings.key_rotation_days)],
        )
        .await?;
        commit_audited(tx, (), [audit], Stale::AUTH).await
    }

    pub(in crate::store) async fn member(&self, org_id: &str, id: &str) -> StoreResult<Option<MemberRow>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {MEMBER_COLS} FROM members m WHERE m.org_id = $1 AND m.id = $2"),
                &[&org_id, &id],
            )
            .await?;
        row.map(|r| member_at(&r, 0)).transpose()
    }

    pub(in crate::store) async fn members(&self, org_id: &str) -> StoreResult<Vec<MemberRow>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {MEMBER_COLS} FROM members m WHERE m.org_id = $1 ORDER BY m.created_at, m.id"),
                &[&org_id],
            )
            .await?;
        rows.iter().map(|r| member_at(r, 0)).collect()
    }

    pub(in crate::store) async fn member_signed_in(&self, org_id: &str, id: &str, at: &str) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE members SET first_signed_in_at = $3 WHERE org_id = $1 AND id = $2 AND first_signed_in_at IS NULL",
            &[&org_id, &id, &at],
        )
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn insert_member(&self, member: MemberRow, audit: NewAuditEvent) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        insert_member_row(&tx, &member).await?;
        commit_audited(tx, (), [audit], Stale::AUTH).await
    }

    pub(in crate::store) async fn update_member_role(
        &self,
        org_id: &str,
        id: &str,
        role: Role,
        may_touch_owner: bool,
        audit: NewAuditEvent,
    ) -> StoreResult<MemberChange> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let outcome = owner_rules(&tx, org_id, id, role == Role::Owner, may_touch_owner).await?;
        if outcome == MemberChange::Done {
            tx.execute("UPDATE members SET role = $3 WHERE org_id = $1 AND id = $2", &[&org_id, &id, &role.as_str()])
                .await?;
        }
        commit_audited(tx, outcome, [audit], Stale::AUTH).await
    }

    pub(in crate::store) async fn delete_member(
        &self,
        org_id: &str,
        id: &str,
        may_touch_owner: bool,
        audit: NewAuditEvent,
    ) -> StoreResult<MemberChange> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let outcome = owner_rules(&tx, org_id, id, false, may_touch_owner).await?;
        if outcome == MemberChange::Done {
            tx.execute("DELETE FROM members WHERE org_id = $1 AND id = $2", &[&org_id, &id]).await?;
        }
        commit_audited(tx, outcome, [audit], Stale::AUTH).await
    }
}
