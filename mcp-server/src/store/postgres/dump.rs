//! Reading and writing a whole vault at once (`converra admin migrate`).

use converra::{Actor, AuditEvent, Project};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::api_keys::{KEY_COLS, api_key_at, insert_api_key_row};
use super::orgs::{MEMBER_COLS, ORG_COLS, insert_member_row, insert_org_row, member_at, org_at};
use super::provider_keys::{DK_COLS, PK_COLS, data_key_at, insert_data_key_row, insert_provider_key_row, key_at};
use super::{Postgres, notify};
use crate::store::Stale;
use crate::store::{StoreResult, UsageCounts, UsageRow, VaultDump};

/// Every table, children first (the order rows are deleted in).
const TABLES: &str =
    "usage_rollups, audit_events, provider_keys, data_keys, projects, api_keys, members, organizations, meta";

impl Postgres {
    pub(in crate::store) async fn dump(&self) -> StoreResult<VaultDump> {
        let mut client = self.client().await?;
        // One snapshot for every table.
        let c = client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await?;
        let meta = c.query("SELECT key, value FROM meta ORDER BY key", &[]).await?;
        let orgs = c.query(&format!("SELECT {ORG_COLS} FROM organizations o ORDER BY o.created_at, o.id"), &[]).await?;
        let members = c.query(&format!("SELECT {MEMBER_COLS} FROM members m ORDER BY m.created_at, m.id"), &[]).await?;
        let keys = c.query(&format!("SELECT {KEY_COLS} FROM api_keys k ORDER BY k.created_at, k.id"), &[]).await?;
        let projects =
            c.query("SELECT org_id, id, name, created_at FROM projects ORDER BY created_at, id", &[]).await?;
        let data_keys = c.query(&format!("SELECT {DK_COLS} FROM data_keys ORDER BY org_id, version"), &[]).await?;
        let provider_keys =
            c.query(&format!("SELECT {PK_COLS} FROM provider_keys ORDER BY created_at, id"), &[]).await?;
        let audit = c
            .query(
                "SELECT org_id, id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at
                 FROM audit_events ORDER BY seq",
                &[],
            )
            .await?;
        let usage = c
            .query(
                "SELECT org_id, month, day, project_id, api_key_id, provider, model, key_source, status,
                        requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
                        cache_read_tokens, cache_write_tokens, reasoning_tokens FROM usage_rollups",
                &[],
            )
            .await?;
        c.commit().await?;
        Ok(VaultDump {
            meta: meta.iter().map(|r| (r.get(0), r.get(1))).collect(),
            organizations: orgs.iter().map(|r| org_at(r, 0)).collect::<StoreResult<_>>()?,
            members: members.iter().map(|r| member_at(r, 0)).collect::<StoreResult<_>>()?,
            api_keys: keys.iter().map(api_key_at).collect::<StoreResult<_>>()?,
            projects: projects
                .iter()
                .map(|r| (r.get(0), Project { id: r.get(1), name: r.get(2), created_at: r.get(3) }))
                .collect(),
            data_keys: data_keys.iter().map(data_key_at).collect::<StoreResult<_>>()?,
            provider_keys: provider_keys.iter().map(key_at).collect::<StoreResult<_>>()?,
            audit_events: audit.iter().map(audit_at).collect(),
            usage: usage.iter().map(usage_at).collect(),
        })
    }

    pub(in crate::store) async fn load(&self, d: VaultDump, replace: bool) -> StoreResult<()> {
        let mut client = self.client().await?;
        let c = client.transaction().await?;
        if replace {
            c.batch_execute(&format!("TRUNCATE {TABLES}")).await?;
        }
        for (key, value) in &d.meta {
            c.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", &[key, value]).await?;
        }
        for org in &d.organizations {
            insert_org_row(&c, org).await?;
        }
        for member in &d.members {
            insert_member_row(&c, member).await?;
        }
        for key in &d.api_keys {
            insert_api_key_row(&c, key).await?;
        }
        for (org_id, p) in &d.projects {
            c.execute(
                "INSERT INTO projects (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)",
                &[&p.id, org_id, &p.name, &p.created_at],
            )
            .await?;
        }
        for data_key in &d.data_keys {
            insert_data_key_row(&c, data_key).await?;
        }
        for key in &d.provider_keys {
            insert_provider_key_row(&c, key).await?;
        }
        insert_audit(&c, &d.audit_events).await?;
        insert_usage(&c, &d.usage).await?;
        notify(&c, Stale::ALL).await?;
        c.commit().await?;
        Ok(())
    }
}

fn audit_at(r: &Row) -> (String, AuditEvent) {
    (
        r.get(0),
        AuditEvent {
            id: r.get(1),
            actor: Actor { member_id: r.get(2), email: r.get(3), api_key_id: r.get(4) },
            action: r.get(5),
            object_type: r.get(6),
            object_id: r.get(7),
            detail: serde_json::from_str(r.get(8)).unwrap_or(serde_json::Value::Null),
            outcome: r.get(9),
            created_at: r.get(10),
        },
    )
}

fn usage_at(r: &Row) -> UsageRow {
    UsageRow {
        org_id: r.get(0),
        month: r.get(1),
        day: r.get(2),
        project_id: r.get(3),
        api_key_id: r.get(4),
        provider: r.get(5),
        model: r.get(6),
        key_source: r.get(7),
        status: r.get(8),
        counts: UsageCounts {
            requests: r.get::<_, i64>(9) as u64,
            input_tokens: r.get::<_, i64>(10) as u64,
            output_tokens: r.get::<_, i64>(11) as u64,
            latency_ms_total: r.get::<_, i64>(12) as u64,
            latency_ms_max: r.get::<_, i64>(13) as u64,
            cache_read_tokens: r.get::<_, i64>(14) as u64,
            cache_write_tokens: r.get::<_, i64>(15) as u64,
            reasoning_tokens: r.get::<_, i64>(16) as u64,
        },
    }
}

async fn insert_audit(c: &impl GenericClient, events: &[(String, AuditEvent)]) -> StoreResult<()> {
    for (org_id, e) in events {
        crate::store::audit::insert_event(&super::Conn(c), org_id, e).await?;
    }
    Ok(())
}

async fn insert_usage(c: &impl GenericClient, rows: &[UsageRow]) -> StoreResult<()> {
    for u in rows {
        c.execute(
            "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source, status,
               requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
               cache_read_tokens, cache_write_tokens, reasoning_tokens)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                     $15, $16, $17)",
            &[
                &u.org_id,
                &u.month,
                &u.day,
                &u.project_id,
                &u.api_key_id,
                &u.provider,
                &u.model,
                &u.key_source,
                &u.status,
                &(u.counts.requests as i64),
                &(u.counts.input_tokens as i64),
                &(u.counts.output_tokens as i64),
                &(u.counts.latency_ms_total as i64),
                &(u.counts.latency_ms_max as i64),
                &(u.counts.cache_read_tokens as i64),
                &(u.counts.cache_write_tokens as i64),
                &(u.counts.reasoning_tokens as i64),
            ],
        )
        .await?;
    }
    Ok(())
}
