//! Reading and writing a whole vault at once (`converra admin migrate`).

use converra::{AuditEvent, Project};

use super::sql::{Conn, FromRow, Row, Sql};
use super::{Backend, Stale, Store, StoreResult, UsageCounts, UsageRow, VaultCounts, VaultDump};
use super::{api_keys, audit, budgets, orgs, postgres, projects, provider_keys, sql, sqlite, vault};

/// Every table, children first (the order rows are deleted in).
static CLEAR: [Sql; 10] = [
    Sql::new("DELETE FROM budgets"),
    Sql::new("DELETE FROM usage_rollups"),
    Sql::new("DELETE FROM audit_events"),
    Sql::new("DELETE FROM provider_keys"),
    Sql::new("DELETE FROM data_keys"),
    Sql::new("DELETE FROM projects"),
    Sql::new("DELETE FROM api_keys"),
    Sql::new("DELETE FROM members"),
    Sql::new("DELETE FROM organizations"),
    Sql::new("DELETE FROM meta"),
];
/// How many rows of each kind a vault holds.
static COUNTS: Sql = Sql::new(
    "SELECT (SELECT count(*) FROM organizations), (SELECT count(*) FROM members),
            (SELECT count(*) FROM api_keys), (SELECT count(*) FROM projects),
            (SELECT count(*) FROM provider_keys), (SELECT count(*) FROM data_keys),
            (SELECT count(*) FROM audit_events), (SELECT count(*) FROM usage_rollups),
            (SELECT count(*) FROM budgets)",
);
static META: Sql = Sql::new("SELECT key, value FROM meta ORDER BY key");
static INSERT_META: Sql = Sql::new("INSERT INTO meta (key, value) VALUES ($1, $2)");
static PROJECTS: Sql = Sql::new("SELECT org_id, id, name, created_at FROM projects ORDER BY created_at, id");
static AUDIT: Sql = Sql::new(
    "SELECT org_id, id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at
     FROM audit_events ORDER BY seq",
);
static USAGE: Sql = Sql::new(
    "SELECT org_id, month, day, project_id, api_key_id, provider, model, key_source, status,
            requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
            cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micro_usd, unpriced_requests FROM usage_rollups",
);
static INSERT_USAGE: Sql = Sql::new(
    "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source, status,
       requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
       cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micro_usd, unpriced_requests)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
);

impl FromRow for UsageRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
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
                requests: r.u64(9)?,
                input_tokens: r.u64(10)?,
                output_tokens: r.u64(11)?,
                latency_ms_total: r.u64(12)?,
                latency_ms_max: r.u64(13)?,
                cache_read_tokens: r.u64(14)?,
                cache_write_tokens: r.u64(15)?,
                reasoning_tokens: r.u64(16)?,
                cost_micro_usd: r.u64(17)?,
                unpriced_requests: r.u64(18)?,
            },
        })
    }
}

async fn read_all(c: &impl Conn) -> StoreResult<VaultDump> {
    Ok(VaultDump {
        meta: c.query(&META, &[]).await?,
        organizations: c.query(&orgs::ALL, &[]).await?,
        members: c.query(&orgs::ALL_MEMBERS, &[]).await?,
        api_keys: c.query(&api_keys::ALL, &[]).await?,
        projects: c.query::<(String, Project)>(&PROJECTS, &[]).await?,
        data_keys: c.query(&vault::ALL, &[]).await?,
        provider_keys: c.query(&provider_keys::ALL, &[]).await?,
        audit_events: c.query::<(String, AuditEvent)>(&AUDIT, &[]).await?,
        usage: c.query(&USAGE, &[]).await?,
        budgets: budgets::all(c).await?,
    })
}

async fn write_all(c: &impl Conn, d: &VaultDump) -> StoreResult<()> {
    for (key, value) in &d.meta {
        c.execute(&INSERT_META, &[key, value]).await?;
    }
    for org in &d.organizations {
        orgs::insert_org(c, org).await?;
    }
    for member in &d.members {
        orgs::insert_member(c, member).await?;
    }
    for key in &d.api_keys {
        api_keys::insert(c, key).await?;
    }
    for (org_id, p) in &d.projects {
        c.execute(&projects::INSERT, &[&p.id, org_id, &p.name, &p.created_at]).await?;
    }
    for data_key in &d.data_keys {
        vault::insert_data_key(c, data_key).await?;
    }
    for key in &d.provider_keys {
        provider_keys::insert(c, key).await?;
    }
    for (org_id, e) in &d.audit_events {
        audit::insert_event(c, org_id, e).await?;
    }
    for (org_id, b) in &d.budgets {
        budgets::insert(c, org_id, b).await?;
    }
    for u in &d.usage {
        let n = |v: u64| v as i64;
        let counts = &u.counts;
        c.execute(
            &INSERT_USAGE,
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
                &n(counts.requests),
                &n(counts.input_tokens),
                &n(counts.output_tokens),
                &n(counts.latency_ms_total),
                &n(counts.latency_ms_max),
                &n(counts.cache_read_tokens),
                &n(counts.cache_write_tokens),
                &n(counts.reasoning_tokens),
                &n(counts.cost_micro_usd),
                &n(counts.unpriced_requests),
            ],
        )
        .await?;
    }
    Ok(())
}

impl FromRow for VaultCounts {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(VaultCounts {
            organizations: r.u64(0)?,
            members: r.u64(1)?,
            api_keys: r.u64(2)?,
            projects: r.u64(3)?,
            provider_keys: r.u64(4)?,
            data_keys: r.u64(5)?,
            audit_events: r.u64(6)?,
            usage_rollups: r.u64(7)?,
            budgets: r.u64(8)?,
        })
    }
}

/// Counts every table a vault copy must carry (a store's, or a SQLite backup's).
pub(super) async fn counts(c: &impl Conn) -> StoreResult<VaultCounts> {
    c.query_one(&COUNTS, &[]).await
}

impl Store {
    /// Everything the store holds, read in one snapshot (`converra admin migrate`).
    pub async fn dump(&self) -> StoreResult<VaultDump> {
        match &*self.backend {
            Backend::Sqlite(b) => b.run(|c| sql::ready(read_all(&sqlite::Conn(c)))).await,
            Backend::Postgres(b) => {
                let mut client = b.client().await?;
                // One snapshot for every table.
                let tx = client
                    .build_transaction()
                    .read_only(true)
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .start()
                    .await?;
                let dump = read_all(&postgres::Conn(&tx)).await?;
                tx.commit().await?;
                Ok(dump)
            }
        }
    }

    /// How many rows of each kind the store holds (backups and migrations check these).
    pub async fn counts(&self) -> StoreResult<VaultCounts> {
        read!(self, |c| counts(c))
    }

    /// Writes `dump` in one transaction (so an interruption leaves nothing half-written);
    /// with `replace`, everything the store held is deleted first, in the same transaction.
    pub async fn load(&self, dump: VaultDump, replace: bool) -> StoreResult<()> {
        write!(self, Stale::ALL, [], |c| async {
            if replace {
                for table in &CLEAR {
                    c.execute(table, &[]).await?;
                }
            }
            write_all(c, &dump).await
        })
    }
}
