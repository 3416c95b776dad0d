//! Completion usage as daily roll-ups, and platform-allowance reservations (see the SQLite
//! backend's `usage.rs` for the shape).

use std::sync::Arc;

use converra::UsageGroup;

use super::Postgres;
use crate::store::{AllowanceReservation, StoreResult, UsageBatch, UsageGroupBy, totals};

/// How long written batch ids are kept: far longer than any retry takes.
const BATCH_IDS_KEPT_SECS: i64 = 3600;

impl Postgres {
    pub(in crate::store) async fn add_usage(
        &self,
        batch_id: String,
        batch: Arc<UsageBatch>,
        settled: Arc<Vec<String>>,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let now = crate::core::ids::unix_now() as i64;
        tx.execute("DELETE FROM usage_batches WHERE written_at < $1", &[&(now - BATCH_IDS_KEPT_SECS)]).await?;
        let fresh = tx
            .execute(
                "INSERT INTO usage_batches (id, written_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&batch_id, &now],
            )
            .await?;
        if fresh == 0 {
            // Written before: its commit was only reported lost.
            return Ok(tx.commit().await?);
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source,
                   status, requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
                   cache_read_tokens, cache_write_tokens, reasoning_tokens)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                 ON CONFLICT (org_id, month, day, project_id, api_key_id, provider, model, key_source, status) DO UPDATE SET
                   requests = usage_rollups.requests + excluded.requests,
                   input_tokens = usage_rollups.input_tokens + excluded.input_tokens,
                   output_tokens = usage_rollups.output_tokens + excluded.output_tokens,
                   cache_read_tokens = usage_rollups.cache_read_tokens + excluded.cache_read_tokens,
                   cache_write_tokens = usage_rollups.cache_write_tokens + excluded.cache_write_tokens,
                   reasoning_tokens = usage_rollups.reasoning_tokens + excluded.reasoning_tokens,
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
                    &(n.cache_read_tokens as i64),
                    &(n.cache_write_tokens as i64),
                    &(n.reasoning_tokens as i64),
                ],
            )
            .await?;
        }
        if !settled.is_empty() {
            tx.execute("DELETE FROM allowance_reservations WHERE id = ANY($1)", &[&*settled]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Reservations of one organization are serialized by a lock on its row (`FOR NO KEY
    /// UPDATE`: it does not block inserts that merely reference the organization), and the
    /// check reads usage and reservations in one statement, so one snapshot: a batch written
    /// meanwhile (adding usage and deleting the reservations it settles) is seen whole or not at all.
    pub(in crate::store) async fn reserve_allowance(
        &self,
        r: AllowanceReservation,
        limit: u64,
        now: u64,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE", &[&r.org_id]).await?;
        tx.execute(
            "DELETE FROM allowance_reservations WHERE org_id = $1 AND expires_at <= $2",
            &[&r.org_id, &(now as i64)],
        )
        .await?;
        let taken: i64 = tx
            .query_one(
                "SELECT (SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage_rollups
                         WHERE org_id = $1 AND month = $2 AND key_source = 'platform')::bigint
                      + (SELECT coalesce(sum(tokens), 0) FROM allowance_reservations
                         WHERE org_id = $1 AND month = $2)::bigint",
                &[&r.org_id, &r.month],
            )
            .await?
            .get(0);
        if (taken as u64).saturating_add(r.tokens) > limit {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO allowance_reservations (id, org_id, month, tokens, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&r.id, &r.org_id, &r.month, &(r.tokens as i64), &(r.expires_at as i64)],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(in crate::store) async fn allowance_reserved(&self, org_id: &str, month: &str, now: u64) -> StoreResult<u64> {
        let c = self.client().await?;
        let held: i64 = c
            .query_one(
                "SELECT coalesce(sum(tokens), 0)::bigint FROM allowance_reservations
                 WHERE org_id = $1 AND month = $2 AND expires_at > $3",
                &[&org_id, &month, &(now as i64)],
            )
            .await?
            .get(0);
        Ok(held as u64)
    }

    pub(in crate::store) async fn try_lease(&self, name: &str, holder: &str, now: u64, ttl: u64) -> StoreResult<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
                &[&name, &holder, &((now + ttl) as i64), &(now as i64)],
            )
            .await?;
        Ok(n == 1)
    }

    pub(in crate::store) async fn usage_models(&self, org_id: &str, month: &str) -> StoreResult<Vec<String>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT DISTINCT model FROM usage_rollups WHERE org_id = $1 AND month = $2", &[&org_id, &month])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
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
        let only_ok = if by == Some(UsageGroupBy::Outcome) { "" } else { "AND status = 'ok'" };
        let sql = format!(
            "SELECT {key}, coalesce(sum(requests), 0)::bigint, coalesce(sum(input_tokens), 0)::bigint,
                    coalesce(sum(output_tokens), 0)::bigint, coalesce(sum(cache_read_tokens), 0)::bigint,
                    coalesce(sum(cache_write_tokens), 0)::bigint, coalesce(sum(reasoning_tokens), 0)::bigint
             FROM usage_rollups WHERE org_id = $1 AND month = $2 {only_ok} {group}"
        );
        let c = self.client().await?;
        let rows = c.query(&sql, &[&org_id, &month]).await?;
        Ok(rows
            .iter()
            .map(|r| UsageGroup {
                key: r.get(0),
                totals: totals([r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)]),
            })
            .collect())
    }
}
