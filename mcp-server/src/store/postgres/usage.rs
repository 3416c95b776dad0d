//! Completion usage as daily roll-ups (see the SQLite backend's `usage.rs` for the shape).

use std::sync::Arc;

use converra::UsageGroup;

use super::Postgres;
use crate::store::{StoreResult, UsageBatch, UsageGroupBy, totals};

impl Postgres {
    pub(in crate::store) async fn add_usage(&self, batch: Arc<UsageBatch>) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source,
                   status, requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (org_id, month, day, project_id, api_key_id, provider, model, key_source, status) DO UPDATE SET
                   requests = usage_rollups.requests + excluded.requests,
                   input_tokens = usage_rollups.input_tokens + excluded.input_tokens,
                   output_tokens = usage_rollups.output_tokens + excluded.output_tokens,
                   latency_ms_total = usage_rollups.latency_ms_total + excluded.latency_ms_total,
                   latency_ms_max = greatest(usage_rollups.latency_ms_max, excluded.latency_ms_max)",
            )
            .await?;
        for (b, n) in batch.iter() {
            tx.execute(
                &stmt,
                &[
                    &b.org_id,
                    &&b.day[..7],
                    &b.day,
                    &b.project_id.as_deref().unwrap_or(""),
                    &b.api_key_id,
                    &b.provider,
                    &b.model,
                    &b.key_source,
                    &b.status,
                    &(n.requests as i64),
                    &(n.input_tokens as i64),
                    &(n.output_tokens as i64),
                    &(n.latency_ms_total as i64),
                    &(n.latency_ms_max as i64),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(in crate::store) async fn platform_tokens_used(&self, org_id: &str, month: &str) -> StoreResult<u64> {
        let c = self.client().await?;
        let used: i64 = c
            .query_one(
                "SELECT coalesce(sum(input_tokens + output_tokens), 0)::bigint FROM usage_rollups
                 WHERE org_id = $1 AND month = $2 AND key_source = 'platform'",
                &[&org_id, &month],
            )
            .await?
            .get(0);
        Ok(used as u64)
    }

    pub(in crate::store) async fn usage_groups(
        &self,
        org_id: &str,
        month: &str,
        by: Option<UsageGroupBy>,
    ) -> StoreResult<Vec<UsageGroup>> {
        let key = by.map_or("NULL::text", UsageGroupBy::sql);
        let group = if by.is_some() { "GROUP BY 1 ORDER BY 1 NULLS FIRST" } else { "" };
        let sql = format!(
            "SELECT {key}, coalesce(sum(requests), 0)::bigint, coalesce(sum(input_tokens), 0)::bigint,
                    coalesce(sum(output_tokens), 0)::bigint
             FROM usage_rollups WHERE org_id = $1 AND month = $2 AND status = 'ok' {group}"
        );
        let c = self.client().await?;
        let rows = c.query(&sql, &[&org_id, &month]).await?;
        Ok(rows.iter().map(|r| UsageGroup { key: r.get(0), totals: totals(r.get(1), r.get(2), r.get(3)) }).collect())
    }
}
