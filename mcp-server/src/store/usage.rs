//! Completion usage: appended in batches by the core's usage recorder, summed per month.

use converra::{UsageGroup, UsageTotals};
use rusqlite::params;

use super::{Store, StoreResult};

#[derive(Debug, Clone)]
pub struct UsageEventRow {
    pub org_id: String,
    pub project_id: Option<String>,
    pub api_key_id: String,
    pub provider: String,
    pub model: String,
    pub key_source: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: u64,
    pub status: String,
    pub month: String,
    pub created_at: String,
}

impl Store {
    /// Appends a batch of usage events in one transaction (one fsync for the batch).
    pub async fn insert_usage(&self, events: Vec<UsageEventRow>) -> StoreResult<()> {
        self.run_unversioned(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO usage_events (org_id, project_id, api_key_id, provider, model, key_source, input_tokens,
                       output_tokens, latency_ms, status, month, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for e in &events {
                    stmt.execute(params![
                        e.org_id,
                        e.project_id,
                        e.api_key_id,
                        e.provider,
                        e.model,
                        e.key_source,
                        e.input_tokens as i64,
                        e.output_tokens as i64,
                        e.latency_ms as i64,
                        e.status,
                        e.month,
                        e.created_at
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Tokens spent on the platform key by an organization in a month.
    pub async fn platform_tokens_used(&self, org_id: &str, month: &str) -> StoreResult<u64> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        self.run(move |c| {
            let used: i64 = c.query_row(
                "SELECT ifnull(sum(input_tokens + output_tokens), 0) FROM usage_events
                 WHERE org_id = ?1 AND month = ?2 AND key_source = 'platform'",
                [org_id, month],
                |r| r.get(0),
            )?;
            Ok(used as u64)
        })
        .await
    }

    /// Totals of a month grouped by one column (`provider`, `model`, `key_source`, `project_id`),
    /// or overall when `column` is `None`.
    pub async fn usage_groups(
        &self,
        org_id: &str,
        month: &str,
        column: Option<&'static str>,
    ) -> StoreResult<Vec<UsageGroup>> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        self.run(move |c| {
            let key = column.unwrap_or("NULL");
            let group = column.map(|col| format!("GROUP BY {col} ORDER BY {col}")).unwrap_or_default();
            let sql = format!(
                "SELECT {key}, count(*), ifnull(sum(input_tokens), 0), ifnull(sum(output_tokens), 0)
                 FROM usage_events WHERE org_id = ?1 AND month = ?2 AND status = 'ok' {group}"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map([org_id, month], |r| {
                    Ok(UsageGroup {
                        key: r.get(0)?,
                        totals: UsageTotals {
                            requests: r.get::<_, i64>(1)? as u64,
                            input_tokens: r.get::<_, i64>(2)? as u64,
                            output_tokens: r.get::<_, i64>(3)? as u64,
                        },
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}
