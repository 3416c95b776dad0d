//! Budgets and the spend reserved against them. A budget row limits the month's cost of one
//! scope (the organization, a project, an API key, a member; optionally one model of a
//! project). A completion checked by budgets reserves its largest possible cost first, in the
//! adapters' running spend when there is one (seeded from [`Store::budget_spend`]), else here
//! (`spend_reservations`, settled with its usage batch like an allowance reservation), so
//! concurrent calls on any replica overshoot a limit by nothing: the check and the insert
//! run under one lock per organization. `budget_alerts` remembers which thresholds were
//! announced (on settled spend), once per month.

use super::rows::Applied;
use super::sql::{Conn, FromRow, Row, Sql};
use super::{NewAuditEvent, Stale, Store, StoreResult};

/// The spend of one scope in one month: settled cost, then what unexpired reservations hold.
/// `$3` scope, `$4` its id, `$5` `provider/model` or '' for every model, `$6` now (unix s).
static SPENT: Sql = Sql::new(
    "SELECT CAST((SELECT coalesce(sum(cost_micro_usd), 0) FROM usage_rollups u
                  WHERE u.org_id = $1 AND u.month = $2
                    AND (CAST($5 AS TEXT) = '' OR u.provider || '/' || u.model = $5)
                    AND (CAST($3 AS TEXT) = 'organization'
                         OR ($3 = 'project' AND u.project_id = $4)
                         OR ($3 = 'api_key' AND u.api_key_id = $4)
                         OR ($3 = 'member' AND u.api_key_id IN (SELECT id FROM api_keys WHERE member_id = $4))))
                 AS BIGINT),
            CAST((SELECT coalesce(sum(micro_usd), 0) FROM spend_reservations r
                  WHERE r.org_id = $1 AND r.month = $2 AND r.expires_at > $6
                    AND ($5 = '' OR r.model = $5)
                    AND ($3 = 'organization'
                         OR ($3 = 'project' AND r.project_id = $4)
                         OR ($3 = 'api_key' AND r.api_key_id = $4)
                         OR ($3 = 'member' AND r.member_id = $4)))
                 AS BIGINT)",
);
static ALL: Sql = Sql::new(
    "SELECT scope, scope_id, model, limit_micro_usd, threshold_percent, updated_at FROM budgets
     WHERE org_id = $1 ORDER BY scope, scope_id, model",
);
static EVERY: Sql = Sql::new(
    "SELECT org_id, scope, scope_id, model, limit_micro_usd, threshold_percent, updated_at FROM budgets
     ORDER BY org_id, scope, scope_id, model",
);
static INSERT: Sql = Sql::new(
    "INSERT INTO budgets (org_id, scope, scope_id, model, limit_micro_usd, threshold_percent, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (org_id, scope, scope_id, model) DO UPDATE SET
       limit_micro_usd = excluded.limit_micro_usd, threshold_percent = excluded.threshold_percent,
       updated_at = excluded.updated_at",
);
static DELETE: Sql = Sql::new("DELETE FROM budgets WHERE org_id = $1 AND scope = $2 AND scope_id = $3 AND model = $4");
/// A deleted project's budgets.
pub(super) static OF_PROJECT: Sql =
    Sql::new("DELETE FROM budgets WHERE org_id = $1 AND scope = 'project' AND scope_id = $2");
/// A revoked API key's budgets.
pub(super) static OF_API_KEY: Sql =
    Sql::new("DELETE FROM budgets WHERE org_id = $1 AND scope = 'api_key' AND scope_id = $2");
/// A removed member's budgets, and those of the API keys removed with them (run before them).
pub(super) static OF_MEMBER: Sql = Sql::new(
    "DELETE FROM budgets WHERE org_id = $1 AND ((scope = 'member' AND scope_id = $2)
       OR (scope = 'api_key' AND scope_id IN (SELECT id FROM api_keys WHERE member_id = $2)))",
);
static PRUNE: Sql = Sql::new("DELETE FROM spend_reservations WHERE org_id = $1 AND expires_at <= $2");
static RESERVE: Sql = Sql::new(
    "INSERT INTO spend_reservations (id, org_id, month, project_id, api_key_id, member_id, model, micro_usd, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
);
pub(super) static SETTLE: Sql = Sql::new("DELETE FROM spend_reservations WHERE id = $1");
static ALERT: Sql = Sql::new(
    "INSERT INTO budget_alerts (org_id, scope, scope_id, model, month) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING",
);

/// A budget as stored: '' stands for "none" in `scope_id` (the organization) and `model`
/// (every model), since key columns cannot usefully hold NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRow {
    /// `organization`, `project`, `api_key` or `member`.
    pub scope: String,
    pub scope_id: String,
    /// `provider/model`, or ''.
    pub model: String,
    pub limit_micro_usd: u64,
    pub threshold_percent: u8,
    pub updated_at: String,
}

impl FromRow for BudgetRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(BudgetRow {
            scope: r.get(0)?,
            scope_id: r.get(1)?,
            model: r.get(2)?,
            limit_micro_usd: r.u64(3)?,
            threshold_percent: r.u64(4)?.min(100) as u8,
            updated_at: r.get(5)?,
        })
    }
}

/// A budget's month: settled spend and what is reserved in flight, micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spend {
    pub settled: u64,
    pub reserved: u64,
}

impl Spend {
    pub fn total(self) -> u64 {
        self.settled.saturating_add(self.reserved)
    }
}

impl FromRow for Spend {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(Spend { settled: r.u64(0)?, reserved: r.u64(1)? })
    }
}

/// The largest cost of one call in flight, held against every budget its scope falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendReservation {
    /// Shared with the call's allowance reservation, if any: its usage batch settles both.
    pub id: String,
    pub org_id: String,
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// '' outside any project.
    pub project_id: String,
    pub api_key_id: String,
    pub member_id: String,
    /// `provider/model`.
    pub model: String,
    pub micro_usd: u64,
    /// Unix seconds: frees the reservation of a process that died mid-call.
    pub expires_at: u64,
}

/// The spend at which a budget warns, micro-dollars.
pub fn threshold_of(b: &BudgetRow) -> u64 {
    (u128::from(b.limit_micro_usd) * u128::from(b.threshold_percent) / 100) as u64
}

/// Builds a threshold's webhook event from its budget, the crossing call and the spend.
pub type Alert = fn(&BudgetRow, &SpendReservation, Spend) -> super::OutboxEvent;

/// What a reservation came to: held (with the budgets whose threshold it crossed first this
/// month, by index), or refused by the first budget without room, with its spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendHeld {
    Held { crossed: Vec<usize> },
    Refused { budget: usize, spend: Spend },
}

impl Applied for SpendHeld {
    fn applied(&self) -> bool {
        // Refused or not, the expired reservations it deleted stay deleted.
        true
    }
}

fn spend_params<'a>(
    org_id: &'a String,
    month: &'a String,
    b: &'a BudgetRow,
    now: &'a i64,
) -> [&'a dyn super::sql::Value; 6] {
    [org_id, month, &b.scope, &b.scope_id, &b.model, now]
}

impl Store {
    /// An organization's budgets, in a stable order. Cached: every completion reads them.
    pub async fn budgets(&self, org_id: &str) -> StoreResult<std::sync::Arc<[BudgetRow]>> {
        let generation = self.generation(Stale::BUDGETS);
        if let Some(hit) = generation.and_then(|g| self.caches.budgets.get(org_id, g)) {
            return Ok(hit);
        }
        let org = org_id.to_owned();
        let rows: Vec<BudgetRow> = read!(self, |c| c.query(&ALL, &[&org]))?;
        let rows: std::sync::Arc<[BudgetRow]> = rows.into();
        if let Some(g) = generation {
            self.caches.budgets.put(org_id.to_owned(), g, rows.clone());
        }
        Ok(rows)
    }

    /// How many times the budgets may have changed under this process: moved by its own budget
    /// writes and by any other process's (which may have spent against them); `None` while
    /// the change watch is not confirming. A count of spend read from the database is good
    /// while this stays the same.
    pub fn budgets_generation(&self) -> Option<u64> {
        self.generation(Stale::BUDGETS)
    }

    /// Sets (or replaces) a budget.
    pub async fn set_budget(&self, org_id: &str, b: BudgetRow, audit: NewAuditEvent) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        write!(self, Stale::BUDGETS, [audit], |c| insert(c, &org_id, &b))
    }

    /// Deletes a budget; returns whether it existed.
    pub async fn delete_budget(
        &self,
        org_id: &str,
        (scope, scope_id, model): (&str, &str, &str),
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let key = [org_id, scope, scope_id, model].map(str::to_owned);
        write!(self, Stale::BUDGETS, [audit], |c| async {
            Ok(c.execute(&DELETE, &[&key[0], &key[1], &key[2], &key[3]]).await? == 1)
        })
    }

    /// The month's spend of each budget, settled and reserved at `now` (unix seconds).
    pub async fn budget_spend(
        &self,
        org_id: &str,
        month: &str,
        budgets: &[BudgetRow],
        now: u64,
    ) -> StoreResult<Vec<Spend>> {
        let (org_id, month, now) = (org_id.to_owned(), month.to_owned(), now as i64);
        let budgets = budgets.to_vec();
        read!(self, |c| async move {
            let mut spends = Vec::with_capacity(budgets.len());
            for b in &budgets {
                spends.push(c.query_one(&SPENT, &spend_params(&org_id, &month, b, &now)).await?);
            }
            Ok(spends)
        })
    }

    /// Holds `r.micro_usd` against every budget in `budgets` (those its call falls in) if each
    /// keeps spent + reserved + this within its limit; atomically, under one lock per
    /// organization, so concurrent calls on any number of replicas never overshoot. Records the
    /// thresholds it crosses first this month. Expired reservations count for nothing, and are
    /// deleted when it refuses. Committed without waiting for the disk: a crash that loses it
    /// ends its call too.
    ///
    /// `alert` builds the `budget.threshold` webhook event, queued in the same transaction as
    /// the mark that it was sent (so a crash loses neither); `None` without a webhook.
    pub async fn reserve_spend(
        &self,
        r: SpendReservation,
        budgets: &[BudgetRow],
        now: u64,
        alert: Option<Alert>,
    ) -> StoreResult<SpendHeld> {
        let budgets = budgets.to_vec();
        write!(ephemeral self, Stale::NONE, [], |c| async {
            c.lock_ephemeral(&format!("spend/{}", r.org_id)).await?;
            let now = now as i64;
            // Every budget's spend at once: PostgreSQL pipelines them (one round trip under the lock).
            let (org_id, month, at) = (&r.org_id, &r.month, &now);
            let spends = futures_util::future::try_join_all(budgets.iter().map(|b| async move {
                c.query_one::<Spend>(&SPENT, &spend_params(org_id, month, b, at)).await
            }))
            .await?;
            let mut crossed = Vec::new();
            for (i, (b, spend)) in budgets.iter().zip(spends).enumerate() {
                let after = spend.total().saturating_add(r.micro_usd);
                if after > b.limit_micro_usd {
                    // Expired reservations (of calls whose process died) count for nothing;
                    // they are deleted here, where a budget is nearly spent, not on every call.
                    c.execute(&PRUNE, &[&r.org_id, &now]).await?;
                    return Ok(SpendHeld::Refused { budget: i, spend });
                }
                // Announced on settled spend, never on an estimate a call may not reach.
                if spend.settled >= threshold_of(b)
                    && mark_announced(c, &r.org_id, b, &r.month, || alert.map(|alert| alert(b, &r, spend))).await?
                {
                    crossed.push(i);
                }
            }
            let params: [&dyn super::sql::Value; 9] = [
                &r.id,
                &r.org_id,
                &r.month,
                &r.project_id,
                &r.api_key_id,
                &r.member_id,
                &r.model,
                &(r.micro_usd as i64),
                &(r.expires_at as i64),
            ];
            c.execute(&RESERVE, &params).await?;
            Ok(SpendHeld::Held { crossed })
        })
    }

    /// Marks `b`'s threshold announced for `month`, once: the first caller gets `true` and
    /// queues `event` (its `budget.threshold` webhook, if any) in the same transaction, so a
    /// crash loses neither. For reservations counted outside the database (see
    /// `converra_adapters::spend`), which learn of a crossing from the settled spend they read.
    pub async fn announce_threshold(
        &self,
        org_id: &str,
        b: &BudgetRow,
        month: &str,
        event: Option<super::OutboxEvent>,
    ) -> StoreResult<bool> {
        let (org_id, b, month) = (org_id.to_owned(), b.clone(), month.to_owned());
        write!(self, Stale::NONE, [], |c| mark_announced(c, &org_id, &b, &month, || event))
    }
}

/// Marks `b`'s threshold announced for `month` unless it was; the first to mark it queues the
/// event `event` builds (if any) in the same transaction. Returns whether this was the first.
async fn mark_announced(
    c: &impl Conn,
    org_id: &String,
    b: &BudgetRow,
    month: &String,
    event: impl FnOnce() -> Option<super::OutboxEvent>,
) -> StoreResult<bool> {
    let key: [&dyn super::sql::Value; 5] = [org_id, &b.scope, &b.scope_id, &b.model, month];
    if c.execute(&ALERT, &key).await? != 1 {
        return Ok(false);
    }
    if let Some(event) = event() {
        super::health::queue_event(c, &event).await?;
    }
    Ok(true)
}

/// Every organization's budgets (`converra admin migrate`).
pub(super) async fn all(c: &impl Conn) -> StoreResult<Vec<(String, BudgetRow)>> {
    c.query(&EVERY, &[]).await
}

/// Writes one organization's budget as it was (`converra admin migrate`).
pub(super) async fn insert(c: &impl Conn, org_id: &String, b: &BudgetRow) -> StoreResult<()> {
    let params: [&dyn super::sql::Value; 7] = [
        org_id,
        &b.scope,
        &b.scope_id,
        &b.model,
        &(b.limit_micro_usd as i64),
        &i64::from(b.threshold_percent),
        &b.updated_at,
    ];
    c.execute(&INSERT, &params).await?;
    Ok(())
}
