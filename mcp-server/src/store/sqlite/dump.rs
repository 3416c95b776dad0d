//! Reading and writing a whole vault at once (`converra admin migrate`).

use converra::{Actor, AuditEvent, Project};
use rusqlite::{Connection, params};

use super::Sqlite;
use super::api_keys::{KEY_COLS, insert_api_key_row, key_from_raw, raw_key};
use super::orgs::{
    MEMBER_COLS, ORG_COLS, insert_member_row, insert_org_row, member_from_raw, org_from_raw, raw_member, raw_org,
};
use super::provider_keys::{DK_COLS, PK_COLS, data_key_row, insert_data_key_row, insert_provider_key_row, query_rows};
use crate::store::{StoreResult, UsageCounts, UsageRow, VaultDump};

/// Every table, children first (the order rows are deleted in).
const TABLES: [&str; 9] = [
    "usage_rollups",
    "audit_events",
    "provider_keys",
    "data_keys",
    "projects",
    "api_keys",
    "members",
    "organizations",
    "meta",
];

impl Sqlite {
    pub(in crate::store) async fn dump(&self) -> StoreResult<VaultDump> {
        self.run(|c| read_all(c)).await
    }

    pub(in crate::store) async fn load(&self, dump: VaultDump, replace: bool) -> StoreResult<()> {
        self.transaction(move |tx| {
            if replace {
                for table in TABLES {
                    tx.execute(&format!("DELETE FROM {table}"), [])?;
                }
            }
            write_all(tx, &dump)
        })
        .await
    }
}

fn read_all(c: &Connection) -> StoreResult<VaultDump> {
    let mut meta = c.prepare("SELECT key, value FROM meta ORDER BY key")?;
    let meta = meta.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    let mut orgs = c.prepare(&format!("SELECT {ORG_COLS} FROM organizations o ORDER BY o.created_at, o.id"))?;
    let organizations = orgs.query_map([], |r| raw_org(r, 0))?.collect::<Result<Vec<_>, _>>()?;
    let mut members = c.prepare(&format!("SELECT {MEMBER_COLS} FROM members m ORDER BY m.created_at, m.id"))?;
    let members = members.query_map([], |r| raw_member(r, 0))?.collect::<Result<Vec<_>, _>>()?;
    let mut keys = c.prepare(&format!("SELECT {KEY_COLS} FROM api_keys k ORDER BY k.created_at, k.id"))?;
    let api_keys = keys.query_map([], raw_key)?.collect::<Result<Vec<_>, _>>()?;
    let mut projects = c.prepare("SELECT org_id, id, name, created_at FROM projects ORDER BY created_at, id")?;
    let projects = projects
        .query_map([], |r| Ok((r.get(0)?, Project { id: r.get(1)?, name: r.get(2)?, created_at: r.get(3)? })))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut data_keys = c.prepare(&format!("SELECT {DK_COLS} FROM data_keys ORDER BY org_id, version"))?;
    let data_keys = data_keys.query_map([], data_key_row)?.collect::<Result<Vec<_>, _>>()?;
    let provider_keys = query_rows(c, &format!("SELECT {PK_COLS} FROM provider_keys ORDER BY created_at, id"), [])?;
    let mut audit = c.prepare(
        "SELECT org_id, id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at
         FROM audit_events ORDER BY seq",
    )?;
    let audit_events = audit
        .query_map([], |r| {
            let detail: String = r.get(8)?;
            Ok((
                r.get(0)?,
                AuditEvent {
                    id: r.get(1)?,
                    actor: Actor { member_id: r.get(2)?, email: r.get(3)?, api_key_id: r.get(4)? },
                    action: r.get(5)?,
                    object_type: r.get(6)?,
                    object_id: r.get(7)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    outcome: r.get(9)?,
                    created_at: r.get(10)?,
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut usage = c.prepare(
        "SELECT org_id, month, day, project_id, api_key_id, provider, model, key_source, status,
                requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
                cache_read_tokens, cache_write_tokens, reasoning_tokens FROM usage_rollups",
    )?;
    let usage = usage
        .query_map([], |r| {
            Ok(UsageRow {
                org_id: r.get(0)?,
                month: r.get(1)?,
                day: r.get(2)?,
                project_id: r.get(3)?,
                api_key_id: r.get(4)?,
                provider: r.get(5)?,
                model: r.get(6)?,
                key_source: r.get(7)?,
                status: r.get(8)?,
                counts: UsageCounts {
                    requests: r.get::<_, i64>(9)? as u64,
                    input_tokens: r.get::<_, i64>(10)? as u64,
                    output_tokens: r.get::<_, i64>(11)? as u64,
                    latency_ms_total: r.get::<_, i64>(12)? as u64,
                    latency_ms_max: r.get::<_, i64>(13)? as u64,
                    cache_read_tokens: r.get::<_, i64>(14)? as u64,
                    cache_write_tokens: r.get::<_, i64>(15)? as u64,
                    reasoning_tokens: r.get::<_, i64>(16)? as u64,
                },
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(VaultDump {
        meta,
        organizations: organizations.into_iter().map(org_from_raw).collect::<StoreResult<_>>()?,
        members: members.into_iter().map(member_from_raw).collect::<StoreResult<_>>()?,
        api_keys: api_keys.into_iter().map(key_from_raw).collect::<StoreResult<_>>()?,
        projects,
        data_keys,
        provider_keys,
        audit_events,
        usage,
    })
}

fn write_all(c: &Connection, d: &VaultDump) -> StoreResult<()> {
    for (key, value) in &d.meta {
        c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", [key, value])?;
    }
    for org in &d.organizations {
        insert_org_row(c, org)?;
    }
    for member in &d.members {
        insert_member_row(c, member)?;
    }
    for key in &d.api_keys {
        insert_api_key_row(c, key)?;
    }
    for (org_id, p) in &d.projects {
        c.execute(
            "INSERT INTO projects (id, org_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![p.id, org_id, p.name, p.created_at],
        )?;
    }
    for data_key in &d.data_keys {
        insert_data_key_row(c, data_key)?;
    }
    for key in &d.provider_keys {
        insert_provider_key_row(c, key)?;
    }
    for (org_id, e) in &d.audit_events {
        crate::store::sql::ready(crate::store::audit::insert_event(&super::Conn(c), org_id, e))?;
    }
    for u in &d.usage {
        c.execute(
            "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source, status,
               requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
               cache_read_tokens, cache_write_tokens, reasoning_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                     ?15, ?16, ?17)",
            params![
                u.org_id,
                u.month,
                u.day,
                u.project_id,
                u.api_key_id,
                u.provider,
                u.model,
                u.key_source,
                u.status,
                u.counts.requests as i64,
                u.counts.input_tokens as i64,
                u.counts.output_tokens as i64,
                u.counts.latency_ms_total as i64,
                u.counts.latency_ms_max as i64,
                u.counts.cache_read_tokens as i64,
                u.counts.cache_write_tokens as i64,
                u.counts.reasoning_tokens as i64
            ],
        )?;
    }
    Ok(())
}
