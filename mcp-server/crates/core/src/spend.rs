//! The spend service: what completions cost and the budgets that stop them. It owns what that
//! needs — the usage recorder (and through it the price table), the budgets' running spend, the
//! thresholds this process has seen announced — and reads reports from the store. The faces
//! reach it as `core.spend()` (usage reports, budgets, the price check); the completions call
//! it to meter a call and reserve its largest cost. Its methods are in `usage.rs` (reports),
//! `budgets.rs` and `prices.rs`.

use std::collections::HashSet;
use std::sync::Mutex;

use converra_adapters::spend::SpendLedger;
use converra_providers::Providers;
use converra_store::Store;

use crate::Core;
use crate::usage::UsageRecorder;

/// How long a call's reservations (allowance tokens, budget spend) hold if it is never settled
/// (its process died mid-call), at least; stretched to outlast a longer whole-answer timeout.
pub const RESERVATION_TTL_SECS: u64 = 15 * 60;

pub struct Spend {
    pub(crate) store: Store,
    pub(crate) usage: UsageRecorder,
    /// The budgets' running spend (see `budgets.rs`); `None`: reserved in the store.
    pub(crate) ledger: Option<SpendLedger>,
    /// The budget thresholds this process has seen announced (`org/month/budget`), so that a
    /// budget past its threshold asks the store once, not on every call.
    pub(crate) announced: Mutex<HashSet<String>>,
    /// The operator's webhook is configured: a threshold queues its event.
    pub(crate) webhook: bool,
    /// The platform's own keys serve calls: reports show the allowance.
    pub(crate) platform_keys: bool,
    /// How long a reservation outlives a call that never settles it: longer than any answer.
    pub(crate) reservation_ttl: u64,
}

impl Spend {
    pub(crate) fn new(
        store: Store,
        usage: UsageRecorder,
        ledger: Option<SpendLedger>,
        providers: &Providers,
        webhook: bool,
    ) -> Self {
        Self {
            store,
            usage,
            ledger,
            announced: Mutex::default(),
            webhook,
            platform_keys: providers.has_platform_keys(),
            reservation_ttl: RESERVATION_TTL_SECS.max(providers.timeouts().response.as_secs() + 60),
        }
    }
}

impl Core {
    /// Usage reports, budgets and the price check.
    pub fn spend(&self) -> &Spend {
        &self.spend
    }
}
