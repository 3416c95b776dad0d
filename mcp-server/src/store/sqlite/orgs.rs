//! Organizations, their members and AI settings.

use converra::{AiSettings, Plan, Role};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Sqlite, parse};
use crate::store::{ApiKeyRow, CustomLimits, DataKeyRow, MemberChange, MemberRow, NewAuditEvent, OrgRow, StoreResult};

pub(super) const ORG_COLS: &str = "o.id, o.name, o.plan, o.rate_limit_per_min, o.monthly_tokens, o.ai_enabled, o.ai_tone, o.created_at, o.api_key_limit, o.key_rotation_days";
pub(super) const MEMBER_COLS: &str = "m.id, m.org_id, m.email, m.role, m.created_at, m.first_signed_in_at";

type RawOrg =
    (String, String, String, Option<u32>, Option<i64>, bool, Option<String>, String, Option<u32>, Option<u32>);

pub(super) fn raw_org(r: &Row<'_>, at: usize) -> rusqlite::Result<RawOrg> {
    Ok((
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
        r.get(at + 7)?,
        r.get(at + 8)?,
        r.get(at + 9)?,
    ))
}

pub(super) fn org_from_raw(raw: RawOrg) -> StoreResult<OrgRow> {
    let (
        id,
        name,
        plan,
        rate_limit_per_min,
        monthly_tokens,
        ai_enabled,
        tone,
        created_at,
        api_key_limit,
        key_rotation_days,
    ) = raw;
    Ok(OrgRow {
        id,
        name,
        plan: parse("organizations", plan)?,
        rate_limit_per_min,
        monthly_tokens: monthly_tokens.map(|t| t as u64),
        api_key_limit,
        ai_enabled,
        ai_tone: tone.map(|t| parse("organizations", t)).transpose()?,
        key_rotation_days,
        created_at,
    })
}

type RawMember = (String, String, String, String, String, Option<String>);

pub(super) fn raw_member(r: &Row<'_>, at: usize) -> rusqlite::Result<RawMember> {
    Ok((r.get(at)?, r.get(at + 1)?, r.get(at + 2)?, r.get(at + 3)?, r.get(at + 4)?, r.get(at + 5)?))
}

pub(super) fn member_from_raw(raw: RawMember) -> StoreResult<MemberRow> {
    let (id, org_id, email, role, created_at, first_signed_in_at) = raw;
    Ok(MemberRow { id, org_id, email, role: parse("members", role)?, created_at, first_signed_in_at })
}

pub(super) fn insert_org_row(c: &Connection, org: &OrgRow) -> StoreResult<()> {
    c.execute(
        "INSERT INTO organizations (id, name, plan, rate_limit_per_min, monthly_tokens, ai_enabled, ai_tone, created_at, api_key_limit, key_rotation_days)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            org.id,
            org.name,
            org.plan.as_str(),
            org.rate_limit_per_min,
            org.monthly_tokens.map(|t| t as i64),
            org.ai_enabled,
            org.ai_tone.map(|t| t.as_str()),
            org.created_at,
            org.api_key_limit,
            org.key_rotation_days
        ],
    )?;
    Ok(())
}

pub(super) fn insert_member_row(c: &Connection, m: &MemberRow) -> StoreResult<()> {
    c.execute(
        "INSERT INTO members (id, org_id, email, role, created_at, first_signed_in_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![m.id, m.org_id, m.email, m.role.as_str(), m.created_at, m.first_signed_in_at],
    )?;
    Ok(())
}

/// Checks the owner rules for changing member `id` inside the transaction `c`.
fn owner_rules(
    c: &Connection,
    org_id: &str,
    id: &str,
    keeps_owner: bool,
    may_touch_owner: bool,
) -> StoreResult<MemberChange> {
    let current: Option<String> =
        c.query_row("SELECT role FROM members WHERE org_id = ?1 AND id = ?2", [org_id, id], |r| r.get(0)).optional()?;
    let Some(current) = current else { return Ok(MemberChange::NotFound) };
    if current != "owner" {
        return Ok(MemberChange::Done);
    }
    if !may_touch_owner {
        return Ok(MemberChange::OwnerProtected);
    }
    let owners: i64 =
        c.query_row("SELECT count(*) FROM members WHERE org_id = ?1 AND role = 'owner'", [org_id], |r| r.get(0))?;
    Ok(if !keeps_owner && owners <= 1 { MemberChange::LastOwner } else { MemberChange::Done })
}

impl Sqlite {
    pub(in crate::store) async fn create_organization(
        &self,
        org: OrgRow,
        owner: MemberRow,
        key: ApiKeyRow,
        data_key: DataKeyRow,
        audit: Vec<NewAuditEvent>,
    ) -> StoreResult<()> {
        self.audited(audit, move |tx| {
            insert_org_row(tx, &org)?;
            insert_member_row(tx, &owner)?;
            super::api_keys::insert_api_key_row(tx, &key)?;
            super::provider_keys::insert_data_key_row(tx, &data_key)
        })
        .await
    }

    pub(in crate::store) async fn organization_count(&self) -> StoreResult<u64> {
        self.run(|c| Ok(c.query_row("SELECT count(*) FROM organizations", [], |r| r.get::<_, i64>(0))? as u64)).await
    }

    pub(in crate::store) async fn organization(&self, id: &str) -> StoreResult<Option<OrgRow>> {
        self.org_where("o.id = ?1", id).await
    }

    pub(in crate::store) async fn organization_by_name(&self, name: &str) -> StoreResult<Option<OrgRow>> {
        self.org_where("o.name = ?1", name).await
    }

    async fn org_where(&self, condition: &'static str, value: &str) -> StoreResult<Option<OrgRow>> {
        let value = value.to_owned();
        self.run(move |c| {
            c.query_row(&format!("SELECT {ORG_COLS} FROM organizations o WHERE {condition}"), [value], |r| {
                raw_org(r, 0)
            })
            .optional()?
            .map(org_from_raw)
            .transpose()
        })
        .await
    }

    pub(in crate::store) async fn organizations(&self) -> StoreResult<Vec<OrgRow>> {
        self.run(|c| {
            let mut stmt = c.prepare(&format!("SELECT {ORG_COLS} FROM organizations o ORDER BY o.created_at, o.id"))?;
            let raws = stmt.query_map([], |r| raw_org(r, 0))?.collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(org_from_raw).collect()
        })
        .await
    }

    pub(in crate::store) async fn set_plan(
        &self,
        org_id: &str,
        plan: Plan,
        limits: CustomLimits,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let org_id = org_id.to_owned();
        self.audited([audit], move |tx| {
            Ok(tx.execute(
                "UPDATE organizations SET plan = ?2, rate_limit_per_min = ?3, monthly_tokens = ?4, api_key_limit = ?5 WHERE id = ?1",
                params![
                    org_id,
                    plan.as_str(),
                    limits.rate_limit_per_min,
                    limits.monthly_tokens.map(|t| t as i64),
                    limits.api_key_limit
                ],
            )? == 1)
        })
        .await
    }

    pub(in crate::store) async fn update_ai_settings(
        &self,
        org_id: &str,
        settings: AiSettings,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        self.audited([audit], move |tx| {
            tx.execute(
                "UPDATE organizations SET ai_enabled = ?2, ai_tone = ?3, key_rotation_days = ?4 WHERE id = ?1",
                params![org_id, settings.enabled, settings.tone.map(|t| t.as_str()), settings.key_rotation_days],
            )?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn member(&self, org_id: &str, id: &str) -> StoreResult<Option<MemberRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {MEMBER_COLS} FROM members m WHERE m.org_id = ?1 AND m.id = ?2"),
                [org_id, id],
                |r| raw_member(r, 0),
            )
            .optional()?
            .map(member_from_raw)
            .transpose()
        })
        .await
    }

    pub(in crate::store) async fn members(&self, org_id: &str) -> StoreResult<Vec<MemberRow>> {
        let org_id = org_id.to_owned();
        self.run(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {MEMBER_COLS} FROM members m WHERE m.org_id = ?1 ORDER BY m.created_at, m.id"
            ))?;
            let raws = stmt.query_map([org_id], |r| raw_member(r, 0))?.collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(member_from_raw).collect()
        })
        .await
    }

    pub(in crate::store) async fn insert_member(&self, member: MemberRow, audit: NewAuditEvent) -> StoreResult<()> {
        self.audited([audit], move |tx| insert_member_row(tx, &member)).await
    }

    pub(in crate::store) async fn member_signed_in(&self, org_id: &str, id: &str, at: &str) -> StoreResult<()> {
        let (org_id, id, at) = (org_id.to_owned(), id.to_owned(), at.to_owned());
        self.run(move |c| {
            c.execute(
                "UPDATE members SET first_signed_in_at = ?3 WHERE org_id = ?1 AND id = ?2 AND first_signed_in_at IS NULL",
                [org_id, id, at],
            )?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn update_member_role(
        &self,
        org_id: &str,
        id: &str,
        role: Role,
        may_touch_owner: bool,
        audit: NewAuditEvent,
    ) -> StoreResult<MemberChange> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.audited([audit], move |tx| {
            let outcome = owner_rules(tx, &org_id, &id, role == Role::Owner, may_touch_owner)?;
            if outcome == MemberChange::Done {
                tx.execute(
                    "UPDATE members SET role = ?3 WHERE org_id = ?1 AND id = ?2",
                    params![org_id, id, role.as_str()],
                )?;
            }
            Ok(outcome)
        })
        .await
    }

    pub(in crate::store) async fn delete_member(
        &self,
        org_id: &str,
        id: &str,
        may_touch_owner: bool,
        audit: NewAuditEvent,
    ) -> StoreResult<MemberChange> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.audited([audit], move |tx| {
            let outcome = owner_rules(tx, &org_id, &id, false, may_touch_owner)?;
            if outcome == MemberChange::Done {
                tx.execute("DELETE FROM members WHERE org_id = ?1 AND id = ?2", [&org_id, &id])?;
            }
            Ok(outcome)
        })
        .await
    }
}
