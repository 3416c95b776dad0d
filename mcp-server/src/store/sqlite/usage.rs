//! Completion usage, kept as daily roll-ups: one row per organization, day, project, API key,
//! provider, model, key source and outcome, whose counters the usage recorder adds to. Writing
//! a batch costs a few upserts however many completions it holds, and a month's report reads
//! a few rows per day instead of one per completion.

use std::sync::Arc;

use converra::UsageGroup;
use rusqlite::params;

use super::Sqlite;
use crate::store::{StoreResult, UsageBatch, UsageGroupBy, totals};

impl Sqlite {
    /// Adds a batch to the roll-ups in one transaction (one fsync for the batch).
    pub(in crate::store) async fn add_usage(&self, batch: Arc<UsageBatch>) -> StoreResult<()> {
        self.transaction(move |c| {
            {
                let mut stmt = c.prepare_cached(
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
            Ok(())
        })
        .await
    }

    /// Tokens spent on the platform key by an organization in a month.
    pub(in crate::store) async fn platform_tokens_used(&self, org_id: &str, month: &str) -> StoreResult<u64> {
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

    pub(in crate::store) async fn usage_groups(
        &self,
        org_id: &str,
        month: &str,
        by: Option<UsageGroupBy>,
    ) -> StoreResult<Vec<UsageGroup>> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        self.run(move |c| {
            let key = by.map_or("NULL", UsageGroupBy::sql);
            let group = if by.is_some() { "GROUP BY 1 ORDER BY 1 NULLS FIRST" } else { "" };
            let sql = format!(
                "SELECT {key}, ifnull(sum(requests), 0), ifnull(sum(input_tokens), 0), ifnull(sum(output_tokens), 0)
                 FROM usage_rollups WHERE org_id = ?1 AND month = ?2 AND status = 'ok' {group}"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map([org_id, month], |r| {
                    Ok(UsageGroup { key: r.get(0)?, totals: totals(r.get(1)?, r.get(2)?, r.get(3)?) })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}
