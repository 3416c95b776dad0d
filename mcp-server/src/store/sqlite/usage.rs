//! Completion usage, kept as daily roll-ups: one row per organization, day, project, API key,
//! provider, model, key source and outcome, whose counters the usage recorder adds to. Writing
//! a batch costs a few upserts however many completions it holds, and a month's report reads
//! a few rows per day instead of one per completion. Platform-allowance reservations sit beside
//! them (`allowance_reservations`) until the batch holding their call's usage is written.

use std::sync::Arc;

use converra::UsageGroup;
use rusqlite::params;

use super::Sqlite;
use crate::store::{AllowanceReservation, StoreResult, UsageBatch, UsageGroupBy, totals};

/// How long written batch ids are kept: far longer than any retry takes.
const BATCH_IDS_KEPT_SECS: i64 = 3600;

impl Sqlite {
    /// Adds a batch to the roll-ups and deletes the reservations it settles, in one transaction
    /// (one fsync for the batch).
    pub(in crate::store) async fn add_usage(
        &self,
        batch_id: String,
        batch: Arc<UsageBatch>,
        settled: Arc<Vec<String>>,
    ) -> StoreResult<()> {
        self.transaction(move |c| {
            let now = crate::core::ids::unix_now() as i64;
            c.execute("DELETE FROM usage_batches WHERE written_at < ?1", [now - BATCH_IDS_KEPT_SECS])?;
            if c.execute(
                "INSERT INTO usage_batches (id, written_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![batch_id, now],
            )? == 0
            {
                // Written before: its commit was only reported lost.
                return Ok(());
            }
            {
                let mut stmt = c.prepare_cached(
                    "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source,
                       status, requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
                       cache_read_tokens, cache_write_tokens, reasoning_tokens)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                     ON CONFLICT DO UPDATE SET
                       requests = requests + excluded.requests,
                       input_tokens = input_tokens + excluded.input_tokens,
                       output_tokens = output_tokens + excluded.output_tokens,
                       cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                       cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                       reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
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
                        n.cache_read_tokens as i64,
                        n.cache_write_tokens as i64,
                        n.reasoning_tokens as i64,
                    ])?;
                }
                let mut release = c.prepare_cached("DELETE FROM allowance_reservations WHERE id = ?1")?;
                for id in settled.iter() {
                    release.execute([id])?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Takes or renews the lease `name` for `holder` until `now + ttl` if it is free, expired,
    /// or already `holder`'s. Returns whether `holder` holds it.
    pub(in crate::store) async fn try_lease(&self, name: &str, holder: &str, now: u64, ttl: u64) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.transaction(move |c| {
            Ok(c.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
                params![name, holder, (now + ttl) as i64, now as i64],
            )? == 1)
        })
        .await
    }

    /// The immediate transaction holds SQLite's write lock from the check to the insert, so no
    /// other reservation (from this process or another) lands in between.
    pub(in crate::store) async fn reserve_allowance(
        &self,
        r: AllowanceReservation,
        limit: u64,
        now: u64,
    ) -> StoreResult<bool> {
        self.transaction(move |tx| {
            tx.execute("DELETE FROM allowance_reservations WHERE org_id = ?1 AND expires_at <= ?2", params![
                r.org_id,
                now as i64
            ])?;
            let taken: i64 = tx.query_row(
                "SELECT (SELECT ifnull(sum(input_tokens + output_tokens), 0) FROM usage_rollups
                         WHERE org_id = ?1 AND month = ?2 AND key_source = 'platform')
                      + (SELECT ifnull(sum(tokens), 0) FROM allowance_reservations WHERE org_id = ?1 AND month = ?2)",
                params![r.org_id, r.month],
                |row| row.get(0),
            )?;
            if (taken as u64).saturating_add(r.tokens) > limit {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO allowance_reservations (id, org_id, month, tokens, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.id, r.org_id, r.month, r.tokens as i64, r.expires_at as i64],
            )?;
            Ok(true)
        })
        .await
    }

    pub(in crate::store) async fn allowance_reserved(&self, org_id: &str, month: &str, now: u64) -> StoreResult<u64> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        self.run(move |c| {
            let held: i64 = c.query_row(
                "SELECT ifnull(sum(tokens), 0) FROM allowance_reservations
                 WHERE org_id = ?1 AND month = ?2 AND expires_at > ?3",
                params![org_id, month, now as i64],
                |r| r.get(0),
            )?;
            Ok(held as u64)
        })
        .await
    }

    /// Tokens spent on the platform key by an organization in a month.
    pub(in crate::store) async fn usage_models(&self, org_id: &str, month: &str) -> StoreResult<Vec<String>> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        self.run(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT DISTINCT model FROM usage_rollups WHERE org_id = ?1 AND month = ?2")?;
            let names = stmt.query_map([org_id, month], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(names)
        })
        .await
    }

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
            let only_ok = if by == Some(UsageGroupBy::Outcome) { "" } else { "AND status = 'ok'" };
            let sql = format!(
                "SELECT {key}, ifnull(sum(requests), 0), ifnull(sum(input_tokens), 0), ifnull(sum(output_tokens), 0),
                        ifnull(sum(cache_read_tokens), 0), ifnull(sum(cache_write_tokens), 0),
                        ifnull(sum(reasoning_tokens), 0)
                 FROM usage_rollups WHERE org_id = ?1 AND month = ?2 {only_ok} {group}"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map([org_id, month], |r| {
                    let sums = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?];
                    Ok(UsageGroup { key: r.get(0)?, totals: totals(sums) })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}
