//! Completion usage, kept as daily roll-ups: one row per organization, day, project, API key,
//! provider, model, key source and outcome, whose counters the usage recorder adds to. Writing
//! a batch costs a few upserts however many completions it holds, and a month's report reads
//! a few rows per day instead of one per completion.

use std::collections::HashMap;
use std::sync::Arc;

use converra::{UsageGroup, UsageTotals};
use rusqlite::params;

use super::{Store, StoreResult};

/// What a roll-up row counts completions by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsageBucket {
    pub org_id: String,
    /// `YYYY-MM-DD` (UTC); its first seven characters are the allowance month.
    pub day: String,
    pub project_id: Option<String>,
    pub api_key_id: String,
    pub provider: &'static str,
    pub model: String,
    pub key_source: &'static str,
    /// `ok`, or the key status a provider failure left (`invalid_key`, `rate_limited`, …).
    pub status: &'static str,
}

/// The counters of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms_total: u64,
    pub latency_ms_max: u64,
}

impl UsageCounts {
    /// One completion's counts.
    pub fn one(input_tokens: u64, output_tokens: u64, latency_ms: u64) -> Self {
        Self { requests: 1, input_tokens, output_tokens, latency_ms_total: latency_ms, latency_ms_max: latency_ms }
    }

    pub fn add(&mut self, other: Self) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.latency_ms_total += other.latency_ms_total;
        self.latency_ms_max = self.latency_ms_max.max(other.latency_ms_max);
    }
}

/// Completions not yet written, summed per bucket.
pub type UsageBatch = HashMap<UsageBucket, UsageCounts>;

impl Store {
    /// Adds a batch to the roll-ups in one transaction (one fsync for the batch).
    pub async fn add_usage(&self, batch: Arc<UsageBatch>) -> StoreResult<()> {
        self.run_unversioned(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source,
                       status, requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                     ON CONFLICT DO UPDATE SET
                       requests = requests + excluded.requests,
                       input_tokens = input_tokens + excluded.input_tokens,
                       output_tokens = output_tokens + excluded.output_tokens,
                       latency_ms_total = latency_ms_total + excluded.latency_ms_total,
                       latency_ms_max = max(latency_ms_max, excluded.latency_ms_max)",
                )?;
                for (b, n) in batch.iter() {
                    stmt.execute(params![
                        b.org_id,
                        &b.day[..7],
                        b.day,
                        b.project_id.as_deref().unwrap_or(""),
                        b.api_key_id,
                        b.provider,
                        b.model,
                        b.key_source,
                        b.status,
                        n.requests as i64,
                        n.input_tokens as i64,
                        n.output_tokens as i64,
                        n.latency_ms_total as i64,
                        n.latency_ms_max as i64,
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
                "SELECT ifnull(sum(input_tokens + output_tokens), 0) FROM usage_rollups
                 WHERE org_id = ?1 AND month = ?2 AND key_source = 'platform'",
                [org_id, month],
                |r| r.get(0),
            )?;
            Ok(used as u64)
        })
        .await
    }

    /// Totals of a month's successful completions grouped by one column (`provider`, `model`,
    /// `key_source`, `project_id`), or overall when `column` is `None`.
    pub async fn usage_groups(
        &self,
        org_id: &str,
        month: &str,
        column: Option<&'static str>,
    ) -> StoreResult<Vec<UsageGroup>> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        self.run(move |c| {
            // "No project" is stored as '' (a key column cannot usefully hold NULL) and reported as null.
            let key = match column {
                None => "NULL",
                Some("project_id") => "nullif(project_id, '')",
                Some(col) => col,
            };
            let group = column.map(|_| format!("GROUP BY 1 ORDER BY {key}")).unwrap_or_default();
            let sql = format!(
                "SELECT {key}, ifnull(sum(requests), 0), ifnull(sum(input_tokens), 0), ifnull(sum(output_tokens), 0)
                 FROM usage_rollups WHERE org_id = ?1 AND month = ?2 AND status = 'ok' {group}"
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
