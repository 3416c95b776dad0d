//! Budgets: admins set a monthly limit in dollars on the organization, a project (optionally
//! one of its models), an API key or a member. Every completion is checked against the budgets
//! it falls in before anything is sent: it reserves its largest possible cost (its prompt at
//! the dearest input price, its output cap or the model's maximum output), which its usage
//! settles, so concurrent calls on any replica never take a budget past its limit. A call
//! whose cost has no bound (no price, an uncapped charge) is refused while a budget applies.
//! The soft threshold is announced once a month (`budget.threshold` webhook, the Usage banner).

use converra::{Budget, BudgetRefusal, BudgetScope, BudgetTarget, Provider, SetBudget};
use converra_adapters::spend::{Ask, Hold, Limit, Period, Reserved, SpendLedger};
use converra_prices::Bound;
use converra_store::{BudgetRow, OutboxEvent, Spend as BudgetSpend, SpendHeld, SpendReservation};
use serde_json::json;

use super::completions::{Prepared, parse_model};
use crate::{Caller, Error, Result, Spend, audit, ids};

/// The threshold when an admin sets none.
const DEFAULT_THRESHOLD_PERCENT: u8 = 80;
/// The most a limit may be: far above any month's spend, far below the integers' end.
const MAX_LIMIT_MICRO_USD: u64 = 1_000_000_000 * 1_000_000;

/// A model's largest output when a call gives no cap: the longest any of the provider's current
/// models writes (a budget must reserve what the call may cost, never less).
fn max_output_tokens(provider: Provider) -> u64 {
    match provider {
        Provider::Openai => 128_000,
        Provider::Anthropic => 64_000,
        Provider::Gemini => 65_536,
        Provider::Deepseek => 64_000,
    }
}

/// The first day of the month after `month` (`YYYY-MM`), when its budgets start again.
fn resets_at(month: &str) -> String {
    let parsed = month.split_once('-').and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u8>().ok()?)));
    let (year, m) = parsed.unwrap_or((1970, 1));
    let (year, m) = if m >= 12 { (year + 1, 1) } else { (year, m + 1) };
    format!("{year:04}-{m:02}-01T00:00:00Z")
}

fn scope_of(row: &BudgetRow) -> BudgetScope {
    row.scope.parse().unwrap_or(BudgetScope::Organization)
}

fn some(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn refusal(row: &BudgetRow, spent: u64, month: &str, call_max: Option<u64>) -> Box<BudgetRefusal> {
    Box::new(BudgetRefusal {
        scope: scope_of(row),
        scope_id: some(&row.scope_id),
        model: some(&row.model),
        limit_micro_usd: row.limit_micro_usd,
        spent_micro_usd: spent,
        resets_at: resets_at(month),
        call_max_micro_usd: call_max,
    })
}

/// `budget.threshold`: a budget's settled spend reached its threshold this month (sent once).
fn threshold_event(row: &BudgetRow, org_id: &str, month: &str, settled: u64) -> OutboxEvent {
    let id = ids::new_id("whe");
    let body = json!({
        "id": id,
        "type": "budget.threshold",
        "created_at": ids::now(),
        "data": {
            "organization_id": org_id,
            "scope": row.scope,
            "scope_id": some(&row.scope_id),
            "model": some(&row.model),
            "month": month,
            "limit_micro_usd": row.limit_micro_usd,
            "threshold_percent": row.threshold_percent,
            "spent_micro_usd": settled,
        },
    });
    OutboxEvent { id, body: body.to_string(), created_at: ids::unix_now(), attempts: 0 }
}

/// A budget's name in the running spend: a changed budget (a new limit, or deleted and set
/// again) is a new one there, counted afresh from the database.
fn ledger_key(row: &BudgetRow) -> String {
    [row.scope.as_str(), "/", &row.scope_id, "/", &row.model, "@", &row.updated_at].concat()
}

/// How narrow a scope is: the narrowest budget is checked (and named) first.
fn narrowness(row: &BudgetRow) -> u8 {
    match (scope_of(row), row.model.is_empty()) {
        (BudgetScope::ApiKey, _) => 0,
        (BudgetScope::Member, _) => 1,
        (BudgetScope::Project, false) => 2,
        (BudgetScope::Project, true) => 3,
        (BudgetScope::Organization, _) => 4,
    }
}

impl Spend {
    /// The organization's budgets with the spend of the month asked for (everybody may read them).
    pub async fn list_budgets(&self, caller: &Caller, query: converra::UsageQuery) -> Result<Vec<Budget>> {
        self.usage.flush().await;
        self.budgets(caller, &super::usage::month_of(query)?).await
    }

    /// The organization's budgets with `month`'s spend against each.
    pub(crate) async fn budgets(&self, caller: &Caller, month: &str) -> Result<Vec<Budget>> {
        let rows = self.store.budgets(&caller.org_id).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut spends = self.store.budget_spend(&caller.org_id, month, &rows, ids::unix_now()).await?;
        if let Some(ledger) = &self.ledger {
            let keys: Vec<String> = rows.iter().map(ledger_key).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let held = ledger.held(Period { org_id: &caller.org_id, month }, &keys).await;
            for (spend, held) in spends.iter_mut().zip(held) {
                spend.reserved = spend.reserved.saturating_add(held);
            }
        }
        Ok(rows.iter().zip(spends).map(|(row, spend)| budget(row, spend, month)).collect())
    }

    /// Sets (or replaces) the budget of a scope (and model). Admins only.
    pub async fn set_budget(&self, caller: &Caller, req: SetBudget) -> Result<Budget> {
        caller.require_admin()?;
        let (scope_id, model) =
            self.budget_target(caller, req.scope, req.scope_id.as_deref(), req.model.as_deref()).await?;
        if req.limit_micro_usd > MAX_LIMIT_MICRO_USD {
            return Err(Error::validation("limit_micro_usd", "limit_micro_usd may be at most 1,000,000,000 USD"));
        }
        let threshold_percent = req.threshold_percent.unwrap_or(DEFAULT_THRESHOLD_PERCENT);
        if !(1..=100).contains(&threshold_percent) {
            return Err(Error::validation("threshold_percent", "threshold_percent must be between 1 and 100"));
        }
        let row = BudgetRow {
            scope: req.scope.as_str().to_owned(),
            scope_id,
            model,
            limit_micro_usd: req.limit_micro_usd,
            threshold_percent,
            updated_at: ids::now(),
        };
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "budget.set",
            "budget",
            &row.scope,
            json!({"scope_id": some(&row.scope_id), "model": some(&row.model), "limit_micro_usd": row.limit_micro_usd,
                   "threshold_percent": threshold_percent}),
        );
        self.store.set_budget(&caller.org_id, row.clone(), event).await?;
        let month = ids::current_month();
        let spend =
            self.store.budget_spend(&caller.org_id, &month, std::slice::from_ref(&row), ids::unix_now()).await?;
        Ok(budget(&row, spend.first().copied().unwrap_or_default(), &month))
    }

    /// Removes the budget of a scope (and model). Admins only.
    pub async fn delete_budget(&self, caller: &Caller, target: BudgetTarget) -> Result<()> {
        caller.require_admin()?;
        let (scope_id, model) =
            self.budget_target(caller, target.scope, target.scope_id.as_deref(), target.model.as_deref()).await?;
        let scope = target.scope.as_str();
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "budget.deleted",
            "budget",
            scope,
            json!({"scope_id": some(&scope_id), "model": some(&model)}),
        );
        if self.store.delete_budget(&caller.org_id, (scope, &scope_id, &model), event).await? {
            Ok(())
        } else {
            Err(Error::NotFound("Budget"))
        }
    }

    /// A budget's scope id and model as stored ('' for none), checked: the object exists in
    /// the caller's organization (another's answers as missing), a model only on a project.
    async fn budget_target(
        &self,
        caller: &Caller,
        scope: BudgetScope,
        scope_id: Option<&str>,
        model: Option<&str>,
    ) -> Result<(String, String)> {
        let org = &caller.org_id;
        let id = match (scope, scope_id) {
            (BudgetScope::Organization, None) => String::new(),
            (BudgetScope::Organization, Some(_)) => {
                return Err(Error::validation("scope_id", "the organization's budget takes no scope_id"));
            }
            (_, None) => {
                return Err(Error::validation(
                    "scope_id",
                    format!("a {} budget needs the {0}'s id in scope_id", scope.label()),
                ));
            }
            (BudgetScope::Project, Some(id)) => {
                let id = ids::shaped("prj", "Project", id)?;
                self.store.project(org, id).await?.ok_or(Error::NotFound("Project"))?;
                id.to_owned()
            }
            (BudgetScope::ApiKey, Some(id)) => {
                let id = ids::shaped("key", "API key", id)?;
                self.store.api_key(org, id).await?.ok_or(Error::NotFound("API key"))?;
                id.to_owned()
            }
            (BudgetScope::Member, Some(id)) => {
                let id = ids::shaped("mem", "Member", id)?;
                self.store.member(org, id).await?.ok_or(Error::NotFound("Member"))?;
                id.to_owned()
            }
        };
        let model = match model {
            None => String::new(),
            Some(_) if scope != BudgetScope::Project => {
                return Err(Error::validation("model", "a per-model limit is set on a project budget only"));
            }
            Some(model) => {
                let (provider, name) = parse_model(model)?;
                format!("{}/{name}", provider.as_str())
            }
        };
        Ok((id, model))
    }

    /// The provider-run tools a call may use (`tools`, read by the wire), read only while the
    /// organization has a budget: an agent's tool list is long, and only a budget needs it.
    pub(super) async fn hosted_charges(
        &self,
        caller: &Caller,
        tools: impl FnOnce() -> Vec<(String, Option<u64>)>,
    ) -> Result<Vec<(String, Option<u64>)>> {
        Ok(if self.store.budgets(&caller.org_id).await?.is_empty() { Vec::new() } else { tools() })
    }

    /// Reserves `p`'s largest cost against every budget it falls in: in the running spend
    /// when there is one (see `converra_adapters::spend`), else (or while Redis has no answer)
    /// in the database under the meter's reservation id (settled with its usage; made here when
    /// the allowance held none). Nothing when no budget applies; a refusal names the narrowest
    /// budget without room. The hold returned is settled by the call's meter.
    pub(super) async fn reserve_budgets(
        &self,
        caller: &Caller,
        p: &Prepared,
        id: &mut Option<String>,
    ) -> Result<Option<Hold>> {
        let all = self.store.budgets(&caller.org_id).await?;
        if all.is_empty() {
            return Ok(None);
        }
        let model = format!("{}/{}", p.provider.as_str(), p.chat.model);
        let project = p.project_id.as_deref().unwrap_or("");
        let mut applying: Vec<&BudgetRow> = all
            .iter()
            .filter(|b| match scope_of(b) {
                BudgetScope::Organization => true,
                BudgetScope::Project => b.scope_id == project && (b.model.is_empty() || b.model == model),
                BudgetScope::ApiKey => b.scope_id == caller.api_key_id,
                BudgetScope::Member => b.scope_id == caller.member_id,
            })
            .collect();
        if applying.is_empty() {
            return Ok(None);
        }
        applying.sort_by_key(|b| narrowness(b));
        let clock = time::OffsetDateTime::now_utc();
        let (month, now) = (ids::month_of(clock), clock.unix_timestamp().max(0) as u64);
        let cap = p.chat.max_tokens.map_or(max_output_tokens(p.provider), u64::from);
        let charges: Vec<(&str, Option<u64>)> = p.charges.iter().map(|(name, cap)| (name.as_str(), *cap)).collect();
        let bound = Bound { charges: &charges, ..Bound::new(p.provider, &p.chat.model, clock, p.input_estimate, cap) };
        let micro_usd = self.usage.prices().max_cost(&bound).map_err(|why| Error::BudgetUnbounded {
            refusal: refusal(applying[0], 0, &month, None),
            why: why.to_string(),
        })?;
        let expires_at = now + self.reservation_ttl;
        if let Some(ledger) = &self.ledger {
            let ask = Ask { micro_usd, now, expires_at, generation: self.store.budgets_generation() };
            if let Some(held) = self.hold_spend(ledger, caller, &applying, &month, ask).await? {
                return Ok(Some(held));
            }
        }
        let applying: Vec<BudgetRow> = applying.into_iter().cloned().collect();
        let reservation = SpendReservation {
            id: id.get_or_insert_with(|| ids::new_id("rsv")).clone(),
            org_id: caller.org_id.clone(),
            month: month.clone(),
            project_id: project.to_owned(),
            api_key_id: caller.api_key_id.clone(),
            member_id: caller.member_id.clone(),
            model,
            micro_usd,
            expires_at,
        };
        let alert: Option<converra_store::Alert> =
            self.webhook.then_some(|b, r, spend| threshold_event(b, &r.org_id, &r.month, spend.settled));
        match self.store.reserve_spend(reservation, &applying, now, alert).await? {
            SpendHeld::Held { .. } => Ok(None),
            SpendHeld::Refused { budget, spend } => {
                Err(Error::BudgetExceeded(refusal(&applying[budget], spend.total(), &month, Some(micro_usd))))
            }
        }
    }

    /// [`Spend::reserve_budgets`] in the running spend: the hold, or `None` when the ledger
    /// cannot answer (the database reserves instead). A budget it does not know yet is seeded
    /// from the database (this process's usage written first, so that it is in the count).
    async fn hold_spend(
        &self,
        ledger: &SpendLedger,
        caller: &Caller,
        applying: &[&BudgetRow],
        month: &str,
        ask: Ask,
    ) -> Result<Option<Hold>> {
        let keys: Vec<String> = applying.iter().map(|b| ledger_key(b)).collect();
        let limits: Vec<Limit> =
            keys.iter().zip(applying).map(|(key, b)| Limit { key, limit: b.limit_micro_usd }).collect();
        let period = Period { org_id: &caller.org_id, month };
        // A seed is read once; another call may reseed meanwhile, so this tries twice more.
        for _ in 0..3 {
            match ledger.reserve(period, &limits, ask).await {
                Reserved::Held { settled, hold } => {
                    self.announce_thresholds(caller, applying, &keys, month, &settled).await;
                    return Ok(Some(hold));
                }
                Reserved::Refused { index, settled, held } => {
                    let spent = settled.saturating_add(held);
                    return Err(Error::BudgetExceeded(refusal(applying[index], spent, month, Some(ask.micro_usd))));
                }
                Reserved::Unseeded(missing) => {
                    // Read before the spend, so that a write meanwhile has it read again.
                    let generation = self.store.budgets_generation();
                    if !self.usage.flush().await {
                        // The store lacks this process's latest usage: a seed read now would
                        // forget spend the ledger counted, so the store reserves this call.
                        return Ok(None);
                    }
                    let rows: Vec<BudgetRow> = missing.iter().map(|i| applying[*i].clone()).collect();
                    let spends = self.store.budget_spend(&caller.org_id, month, &rows, ask.now).await?;
                    let seeds: Vec<(&str, u64)> =
                        missing.iter().zip(spends).map(|(i, spend)| (keys[*i].as_str(), spend.total())).collect();
                    ledger.seed(period, &seeds, generation).await;
                }
                Reserved::Unavailable => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Announces each budget whose settled spend (as the ledger read it) reached its threshold,
    /// once a month: the database decides which caller is first, and this process remembers.
    async fn announce_thresholds(
        &self,
        caller: &Caller,
        applying: &[&BudgetRow],
        keys: &[String],
        month: &str,
        settled: &[u64],
    ) {
        let announced = |memo: &str| self.announced.lock().unwrap_or_else(|p| p.into_inner()).contains(memo);
        for ((b, key), settled) in applying.iter().zip(keys).zip(settled) {
            let memo = format!("{}/{month}/{key}", caller.org_id);
            if *settled < converra_store::threshold_of(b) || announced(&memo) {
                continue;
            }
            let event = self.webhook.then(|| threshold_event(b, &caller.org_id, month, *settled));
            match self.store.announce_threshold(&caller.org_id, b, month, event).await {
                Ok(_) => {
                    self.announced.lock().unwrap_or_else(|p| p.into_inner()).insert(memo);
                }
                // The call goes on; the next one announces it.
                Err(error) => tracing::warn!(%error, "a budget's threshold could not be recorded"),
            }
        }
    }
}

fn budget(row: &BudgetRow, spend: BudgetSpend, month: &str) -> Budget {
    Budget {
        scope: scope_of(row),
        scope_id: some(&row.scope_id),
        model: some(&row.model),
        limit_micro_usd: row.limit_micro_usd,
        threshold_percent: row.threshold_percent,
        spent_micro_usd: spend.settled,
        reserved_micro_usd: spend.reserved,
        resets_at: resets_at(month),
        over_threshold: spend.settled >= converra_store::threshold_of(row),
        exhausted: spend.total() >= row.limit_micro_usd,
        updated_at: row.updated_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_resets_on_the_first_of_the_next_and_december_on_new_year() {
        assert_eq!(resets_at("2026-11"), "2026-12-01T00:00:00Z");
        assert_eq!(resets_at("2026-12"), "2027-01-01T00:00:00Z");
    }
}
