//! Completion usage, kept as daily roll-ups: one row per organization, day, project, API key,
//! provider, model, key source and outcome, whose counters the usage recorder adds to. Writing
//! a batch costs a few upserts however many completions it holds, and a month's report reads
//! a few rows per day instead of one per completion. Platform-allowance reservations sit beside
//! them (`allowance_reservations`) until the batch holding their call's usage is written.
//! Leases (one replica at a time does a piece of background work) live here too.

use std::sync::Arc;

use converra::UsageGroup;

use super::rows::Applied;
use super::sql::{Conn, FromRow, Row, Sql};
use super::{AllowanceReservation, Stale, Store, StoreResult, UsageBatch, UsageGroupBy, totals};

/// How long written batch ids are kept: far longer than any retry takes.
const BATCH_IDS_KEPT_SECS: i64 = 3600;

static PRUNE_BATCHES: Sql = Sql::new("DELETE FROM usage_batches WHERE written_at < $1");
static INSERT_BATCH: Sql =
    Sql::new("INSERT INTO usage_batches (id, written_at) VALUES ($1, $2) ON CONFLICT DO NOTHING");
static ADD: Sql = Sql::new(
    "INSERT INTO usage_rollups (org_id, month, day, project_id, api_key_id, provider, model, key_source,
       status, requests, input_tokens, output_tokens, latency_ms_total, latency_ms_max,
       cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_micro_usd, unpriced_requests)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
     ON CONFLICT (org_id, month, day, project_id, api_key_id, provider, model, key_source, status) DO UPDATE SET
       requests = usage_rollups.requests + excluded.requests,
       input_tokens = usage_rollups.input_tokens + excluded.input_tokens,
       output_tokens = usage_rollups.output_tokens + excluded.output_tokens,
       cache_read_tokens = usage_rollups.cache_read_tokens + excluded.cache_read_tokens,
       cache_write_tokens = usage_rollups.cache_write_tokens + excluded.cache_write_tokens,
       reasoning_tokens = usage_rollups.reasoning_tokens + excluded.reasoning_tokens,
       cost_micro_usd = usage_rollups.cost_micro_usd + excluded.cost_micro_usd,
       unpriced_requests = usage_rollups.unpriced_requests + excluded.unpriced_requests,
       latency_ms_total = usage_rollups.latency_ms_total + excluded.latency_ms_total,
       latency_ms_max = CASE WHEN excluded.latency_ms_max > usage_rollups.latency_ms_max
                        THEN excluded.latency_ms_max ELSE usage_rollups.latency_ms_max END",
);
static SETTLE: Sql = Sql::new("DELETE FROM allowance_reservations WHERE id = $1");
static PRUNE_RESERVATIONS: Sql = Sql::new("DELETE FROM allowance_reservations WHERE org_id = $1 AND expires_at <= $2");
/// Platform tokens used plus tokens reserved, in one statement: one snapshot, so a batch
/// written meanwhile (adding usage and deleting the reservations it settles) is seen whole
/// or not at all.
static TAKEN: Sql = Sql::new(
    "SELECT CAST((SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage_rollups
                  WHERE org_id = $1 AND month = $2 AND key_source = 'platform') AS BIGINT)
          + CAST((SELECT coalesce(sum(tokens), 0) FROM allowance_reservations
                  WHERE org_id = $1 AND month = $2) AS BIGINT)",
);
static RESERVE: Sql =
    Sql::new("INSERT INTO allowance_reservations (id, org_id, month, tokens, expires_at) VALUES ($1, $2, $3, $4, $5)");
static RESERVED: Sql = Sql::new(
    "SELECT CAST(coalesce(sum(tokens), 0) AS BIGINT) FROM allowance_reservations
     WHERE org_id = $1 AND month = $2 AND expires_at > $3",
);
static LEASE: Sql = Sql::new(
    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
     WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
);
static MODELS: Sql = Sql::new("SELECT DISTINCT model FROM usage_rollups WHERE org_id = $1 AND month = $2");
/// The models of a month's successful completions across every organization: what the operator
/// compares with the price table (`converra prices check`).
static SEEN_MODELS: Sql = Sql::new(
    "SELECT provider, model, CAST(sum(requests) AS BIGINT), CAST(count(DISTINCT org_id) AS BIGINT)
     FROM usage_rollups WHERE month = $1 AND status = 'ok' GROUP BY provider, model ORDER BY provider, model",
);
static PLATFORM_USED: Sql = Sql::new(
    "SELECT CAST(coalesce(sum(input_tokens + output_tokens), 0) AS BIGINT) FROM usage_rollups
     WHERE org_id = $1 AND month = $2 AND key_source = 'platform'",
);

/// A month's totals by `$key`, of the successful completions unless `$filter` is empty.
macro_rules! totals_by {
    ($key:literal, $filter:literal, $group:literal) => {
        Sql::new(concat!(
            "SELECT ",
            $key,
            ", CAST(coalesce(sum(requests), 0) AS BIGINT), CAST(coalesce(sum(input_tokens), 0) AS BIGINT),
               CAST(coalesce(sum(output_tokens), 0) AS BIGINT), CAST(coalesce(sum(cache_read_tokens), 0) AS BIGINT),
               CAST(coalesce(sum(cache_write_tokens), 0) AS BIGINT), CAST(coalesce(sum(reasoning_tokens), 0) AS BIGINT),
               CAST(coalesce(sum(cost_micro_usd), 0) AS BIGINT), CAST(coalesce(sum(unpriced_requests), 0) AS BIGINT)
             FROM usage_rollups WHERE org_id = $1 AND month = $2",
            $filter,
            $group
        ))
    };
    ($key:literal, $filter:literal) => {
        totals_by!($key, $filter, " GROUP BY 1 ORDER BY 1 NULLS FIRST")
    };
}

static TOTAL: Sql = totals_by!("CAST(NULL AS TEXT)", " AND status = 'ok'", "");
static BY_PROVIDER: Sql = totals_by!("provider", " AND status = 'ok'");
static BY_MODEL: Sql = totals_by!("model", " AND status = 'ok'");
static BY_KEY_SOURCE: Sql = totals_by!("key_source", " AND status = 'ok'");
/// "No project" is stored as '' (a key column cannot usefully hold NULL) and reported as null.
static BY_PROJECT: Sql = totals_by!("nullif(project_id, '')", " AND status = 'ok'");
static BY_API_KEY: Sql = totals_by!("api_key_id", " AND status = 'ok'");
/// The member whose API key made the calls (null once the key is deleted with its member).
static BY_MEMBER: Sql =
    totals_by!("(SELECT member_id FROM api_keys k WHERE k.id = usage_rollups.api_key_id)", " AND status = 'ok'");
/// `ok` or the failure's code: the one grouping that counts failed completions too.
static BY_OUTCOME: Sql = totals_by!("status", "");

impl FromRow for UsageGroup {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        let sums = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?];
        Ok(UsageGroup { key: r.get(0)?, totals: totals(sums) })
    }
}

/// Whether a reservation was held. Refused or not, the expired reservations it deleted stay
/// deleted (so it is never rolled back).
struct Held(bool);

impl Applied for Held {
    fn applied(&self) -> bool {
        true
    }
}

impl Store {
    /// Adds a batch to the roll-ups and deletes the allowance reservations it settles, in one
    /// transaction, so a reader never sees a call's tokens twice or not at all. No cached query
    /// reads usage.
    ///
    /// `batch_id` is written in the same transaction: a retry of a batch whose commit was
    /// reported lost (but happened) adds nothing the second time.
    pub async fn add_usage(
        &self,
        batch_id: &str,
        batch: Arc<UsageBatch>,
        settled: Arc<Vec<String>>,
    ) -> StoreResult<()> {
        let batch_id = batch_id.to_owned();
        write!(self, Stale::NONE, [], |c| async {
            let now = converra_base::ids::unix_now() as i64;
            c.execute(&PRUNE_BATCHES, &[&(now - BATCH_IDS_KEPT_SECS)]).await?;
            if c.execute(&INSERT_BATCH, &[&batch_id, &now]).await? == 0 {
                // Written before: its commit was only reported lost.
                return Ok(());
            }
            for (b, n) in batch.iter() {
                let params: [&dyn super::sql::Value; 19] = [
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
                    &(n.cost_micro_usd as i64),
                    &(n.unpriced_requests as i64),
                ];
                c.execute(&ADD, &params).await?;
            }
            // Sent together: PostgreSQL pipelines them on the connection (one round trip).
            // A call's allowance and spend reservations share its id.
            futures_util::future::try_join_all(settled.iter().flat_map(|id| {
                [&SETTLE, &super::budgets::SETTLE].map(|sql| async move { c.execute(sql, &[id]).await })
            }))
            .await?;
            Ok(())
        })
    }

    /// Takes or renews the lease `name` for `holder` until `now + ttl` (unix seconds) if it is
    /// free, expired or already `holder`'s, so that one replica at a time does a piece of
    /// background work. Returns whether `holder` holds it.
    pub async fn try_lease(&self, name: &str, holder: &str, now: u64, ttl: u64) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        read!(self, |c| async move {
            Ok(c.execute(&LEASE, &[&name, &holder, &((now + ttl) as i64), &(now as i64)]).await? == 1)
        })
    }

    /// Holds `reservation.tokens` of its organization's month if the platform tokens used, plus
    /// every reservation unexpired at `now` (unix seconds), plus these, stay within `limit`;
    /// atomically, so concurrent calls on any number of replicas never overshoot. Expired
    /// reservations of the organization are deleted on the way. Returns whether it was held.
    ///
    /// The reservations of one organization are serialized by a lock until the transaction
    /// ends (`Conn::lock`: SQLite's write transaction already is one); the check is one
    /// statement, so one snapshot.
    pub async fn reserve_allowance(&self, r: AllowanceReservation, limit: u64, now: u64) -> StoreResult<bool> {
        let held = write!(ephemeral self, Stale::NONE, [], |c| async {
            c.lock_ephemeral(&format!("allowance/{}", r.org_id)).await?;
            c.execute(&PRUNE_RESERVATIONS, &[&r.org_id, &(now as i64)]).await?;
            let taken: i64 = c.query_one(&TAKEN, &[&r.org_id, &r.month]).await?;
            if (taken as u64).saturating_add(r.tokens) > limit {
                return Ok(Held(false));
            }
            let params: [&dyn super::sql::Value; 5] =
                [&r.id, &r.org_id, &r.month, &(r.tokens as i64), &(r.expires_at as i64)];
            c.execute(&RESERVE, &params).await?;
            Ok(Held(true))
        })?;
        Ok(held.0)
    }

    /// Releases a call's reservations (allowance and spend) that no usage will settle: the call
    /// was refused after they were held.
    pub async fn release_reservation(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        write!(ephemeral self, Stale::NONE, [], |c| async {
            c.execute(&SETTLE, &[&id]).await?;
            c.execute(&super::budgets::SETTLE, &[&id]).await?;
            Ok(())
        })
    }

    /// Tokens held by an organization's reservations for `month` that are unexpired at `now`.
    pub async fn allowance_reserved(&self, org_id: &str, month: &str, now: u64) -> StoreResult<u64> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        let held: i64 = read!(self, |c| c.query_one(&RESERVED, &[&org_id, &month, &(now as i64)]))?;
        Ok(held as u64)
    }

    /// The distinct model names of an organization's usage in a month.
    pub async fn usage_models(&self, org_id: &str, month: &str) -> StoreResult<Vec<String>> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        read!(self, |c| c.query(&MODELS, &[&org_id, &month]))
    }

    /// The models of a month's successful completions, every organization's, with their calls.
    pub async fn models_seen(&self, month: &str) -> StoreResult<Vec<SeenModel>> {
        let month = month.to_owned();
        read!(self, |c| c.query(&SEEN_MODELS, &[&month]))
    }

    /// Tokens spent on the platform key by an organization in a month.
    pub async fn platform_tokens_used(&self, org_id: &str, month: &str) -> StoreResult<u64> {
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        let used: i64 = read!(self, |c| c.query_one(&PLATFORM_USED, &[&org_id, &month]))?;
        Ok(used as u64)
    }

    /// Totals of a month's successful completions, grouped (or overall when `by` is `None`).
    pub async fn usage_groups(
        &self,
        org_id: &str,
        month: &str,
        by: Option<UsageGroupBy>,
    ) -> StoreResult<Vec<UsageGroup>> {
        let sql = match by {
            None => &TOTAL,
            Some(UsageGroupBy::Provider) => &BY_PROVIDER,
            Some(UsageGroupBy::Model) => &BY_MODEL,
            Some(UsageGroupBy::KeySource) => &BY_KEY_SOURCE,
            Some(UsageGroupBy::Project) => &BY_PROJECT,
            Some(UsageGroupBy::ApiKey) => &BY_API_KEY,
            Some(UsageGroupBy::Member) => &BY_MEMBER,
            Some(UsageGroupBy::Outcome) => &BY_OUTCOME,
        };
        let (org_id, month) = (org_id.to_owned(), month.to_owned());
        read!(self, |c| c.query(sql, &[&org_id, &month]))
    }
}

/// A model the month's traffic used: its provider, its id as the usage recorded it (an
/// organization's names beyond its first 100 of a month read as `(other)`), its successful
/// calls and how many organizations made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenModel {
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub organizations: u64,
}

impl FromRow for SeenModel {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        let (requests, organizations): (i64, i64) = (r.get(2)?, r.get(3)?);
        Ok(SeenModel {
            provider: r.get(0)?,
            model: r.get(1)?,
            requests: requests as u64,
            organizations: organizations as u64,
        })
    }
}
