//! The rows both backends read and write. They hold ciphertext and hashes only: the store
//! never sees a secret in the clear.

use std::collections::HashMap;
use std::sync::Arc;

use converra::{Actor, Environment, KeyStatus, Plan, Provider, Role, Tone, UsageTotals};

use super::{StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    pub rate_limit_per_min: Option<u32>,
    pub monthly_tokens: Option<u64>,
    /// Active API keys per member (enterprise only; the plan's number otherwise).
    pub api_key_limit: Option<u32>,
    pub ai_enabled: bool,
    pub ai_tone: Option<Tone>,
    /// Days after which a provider key is due for rotation (`None`: the default, 90).
    pub key_rotation_days: Option<u32>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: Role,
    pub created_at: String,
    /// When the member first signed in to the web (by link or API key); `None`: never. Only
    /// such a member may be handed a new sign-in link by an admin.
    pub first_signed_in_at: Option<String>,
}

/// An enterprise organization's own limits (`None`: the plan's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CustomLimits {
    pub rate_limit_per_min: Option<u32>,
    pub monthly_tokens: Option<u64>,
    pub api_key_limit: Option<u32>,
}

/// What happened to a member change that must keep at least one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    NotFound,
    LastOwner,
    /// The member is an owner and the change was asked by someone who may not touch owners
    /// (checked inside the transaction, so a concurrent promotion cannot slip past it).
    OwnerProtected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRow {
    pub id: String,
    /// The non-secret id embedded in the token, used to find the row without a scan.
    pub lookup_id: String,
    pub org_id: String,
    pub member_id: String,
    pub name: String,
    pub environment: Environment,
    pub secret_hash: [u8; 32],
    pub prefix: String,
    pub last_four: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub created_at: String,
    /// The project a bound key acts in (and only in); `None`: any project of its organization.
    pub project_id: Option<String>,
}

impl ApiKeyRow {
    /// The row as both backends write it: every instant in the one stored form (UTC, whole
    /// seconds: `ids::format_time`), whatever offset it came in, so that the SQL that compares
    /// them as text (the per-member cap counts `expires_at > created_at`) compares instants.
    pub(super) fn in_utc(&self) -> StoreResult<ApiKeyRow> {
        let utc = |at: &str| {
            converra_base::ids::utc_time(at)
                .ok_or_else(|| StoreError::Corrupt { table: "api_keys", what: "a time that is not RFC 3339".into() })
        };
        let maybe = |at: &Option<String>| at.as_deref().map(utc).transpose();
        Ok(ApiKeyRow {
            expires_at: maybe(&self.expires_at)?,
            last_used_at: maybe(&self.last_used_at)?,
            revoked_at: maybe(&self.revoked_at)?,
            created_at: utc(&self.created_at)?,
            ..self.clone()
        })
    }
}

/// What authentication reads: the key with its member and organization, shared (cached).
pub type AuthRow = Arc<(ApiKeyRow, MemberRow, OrgRow)>;

/// An organization's data key, sealed by a master key.
#[derive(Debug, Clone, PartialEq)]
pub struct DataKeyRow {
    pub org_id: String,
    pub version: u32,
    pub wrapped: Vec<u8>,
    pub master_version: u32,
    /// During a master-key rotation: the same data key sealed by the previous master key, so
    /// a server still running with that key keeps working.
    pub wrapped_prev: Option<Vec<u8>>,
    pub prev_master_version: Option<u32>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord {
    pub status: KeyStatus,
    pub message: String,
    pub tested_at: String,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderKeyRow {
    pub id: String,
    pub org_id: String,
    pub project_id: Option<String>,
    pub environment: Environment,
    pub provider: Provider,
    pub name: String,
    pub ciphertext: Vec<u8>,
    pub data_key_version: u32,
    pub masked: String,
    pub last_four: String,
    pub active: bool,
    pub status: KeyStatus,
    pub last_test: Option<TestRecord>,
    /// Live health (real traffic, re-tests) and the rotation bookkeeping.
    pub health: HealthRow,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A provider key's live health as stored. Written when its status changes (and by the
/// batched tallies of failures and successes), never on every completion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthRow {
    /// `ok`, `invalid_key` or `quota_exceeded`; `None` before any live use.
    pub status: Option<KeyStatus>,
    pub since: Option<String>,
    /// Consecutive failures while flagged.
    pub failures: u64,
    /// The last failure's status (a `permission_denied` shows here without flagging).
    pub last_error: Option<KeyStatus>,
    pub last_error_at: Option<String>,
    pub last_success_at: Option<String>,
    /// When the background re-test next checks the key (unix seconds).
    pub retest_at: Option<u64>,
    pub retest_attempts: u32,
    /// When the secret was stored (added or replaced); `None`: the key's `created_at`.
    pub secret_at: Option<String>,
    /// When the rotation-due event was queued for this secret.
    pub rotation_notified_at: Option<String>,
}

/// A key's health status changes (only if it differs from the stored one, so one replica
/// writes it and one event is queued).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthChange {
    /// `ok`, `invalid_key` or `quota_exceeded`.
    pub status: KeyStatus,
    pub at: String,
    /// The last success this process saw, written with a flag.
    pub last_success_at: Option<String>,
    /// The first background re-test of a flagged key (unix seconds).
    pub retest_at: Option<u64>,
}

/// Live outcomes of one key since the last tally write (failure counts are batched).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthTally {
    pub key_id: String,
    /// Failures seen while the key was already flagged.
    pub failures: u64,
    pub last_error: Option<(KeyStatus, String)>,
    pub last_success_at: Option<String>,
}

/// A webhook event waiting in the outbox: `body` is the JSON sent as is.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: String,
    pub body: String,
    /// Unix seconds.
    pub created_at: u64,
    pub attempts: u32,
}

/// A key to insert as the active key of its slot.
pub type NewProviderKey = ProviderKeyRow;

/// A new secret for an existing provider key (`PUT /provider-keys/{id}`).
#[derive(Debug, Clone)]
pub struct SecretUpdate {
    pub ciphertext: Vec<u8>,
    pub data_key_version: u32,
    pub masked: String,
    pub last_four: String,
    pub name: Option<String>,
    pub updated_by: String,
    pub at: String,
}

/// One provider key re-encrypted under a new data key: applied only if the key still holds
/// `previous` (a compare-and-swap, so a secret replaced meanwhile is never reverted).
#[derive(Debug, Clone)]
pub struct Reencrypted {
    pub id: String,
    pub previous: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// An audit event to record. `detail` must never hold a secret (the core builds it from ids,
/// last fours and outcomes only).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub id: String,
    pub org_id: String,
    pub actor: Actor,
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    pub detail: serde_json::Value,
    pub outcome: &'static str,
    pub created_at: String,
}

impl NewAuditEvent {
    /// The event as it is read back (and as a vault copy carries it).
    pub fn to_event(&self) -> converra::AuditEvent {
        converra::AuditEvent {
            id: self.id.clone(),
            actor: self.actor.clone(),
            action: self.action.to_owned(),
            object_type: self.object_type.to_owned(),
            object_id: self.object_id.clone(),
            detail: self.detail.clone(),
            outcome: self.outcome.to_owned(),
            created_at: self.created_at.clone(),
        }
    }
}

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
    /// Prompt tokens read from the provider's cache (a part of `input_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache (a part of `input_tokens`).
    pub cache_write_tokens: u64,
    /// Output tokens spent reasoning (a part of `output_tokens`).
    pub reasoning_tokens: u64,
    pub latency_ms_total: u64,
    pub latency_ms_max: u64,
    /// What the priced completions cost, micro-USD (the price table's, rounded once per call).
    pub cost_micro_usd: u64,
    /// Completions the price table had no price for: their cost is unknown, never 0.
    pub unpriced_requests: u64,
}

impl UsageCounts {
    /// One completion's counts (no cached or reasoning tokens: see [`UsageCounts::with_parts`]).
    pub fn one(input_tokens: u64, output_tokens: u64, latency_ms: u64) -> Self {
        Self {
            requests: 1,
            input_tokens,
            output_tokens,
            latency_ms_total: latency_ms,
            latency_ms_max: latency_ms,
            ..Self::default()
        }
    }

    /// These counts with the parts of their totals the provider reported: prompt tokens read
    /// from and written to its cache, output tokens spent reasoning.
    pub fn with_parts(self, cache_read_tokens: u64, cache_write_tokens: u64, reasoning_tokens: u64) -> Self {
        Self { cache_read_tokens, cache_write_tokens, reasoning_tokens, ..self }
    }

    /// These counts with their cost: micro-USD, or `None` when the call had no price.
    pub fn with_cost(self, cost: Option<u64>) -> Self {
        match cost {
            Some(micro_usd) => Self { cost_micro_usd: micro_usd, ..self },
            None => Self { unpriced_requests: self.requests, ..self },
        }
    }

    pub fn add(&mut self, other: Self) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.latency_ms_total += other.latency_ms_total;
        self.latency_ms_max = self.latency_ms_max.max(other.latency_ms_max);
        self.cost_micro_usd += other.cost_micro_usd;
        self.unpriced_requests += other.unpriced_requests;
    }
}

/// Sums usage rows into a report's totals (both backends return raw sums: requests, input,
/// output, cache read, cache write and reasoning tokens, cost and unpriced calls, in that order).
pub(crate) fn totals(
    [requests, input, output, cache_read, cache_write, reasoning, cost, unpriced]: [i64; 8],
) -> UsageTotals {
    UsageTotals {
        requests: requests as u64,
        input_tokens: input as u64,
        output_tokens: output as u64,
        cache_read_tokens: cache_read as u64,
        cache_write_tokens: cache_write as u64,
        reasoning_tokens: reasoning as u64,
        cost_micro_usd: cost as u64,
        unpriced_requests: unpriced as u64,
        cost_known: unpriced == 0,
    }
}

/// Completions not yet written, summed per bucket. Every completion hashes its bucket (seven
/// strings) into this map: foldhash instead of SipHash, ~3 % of a proxied completion's work
/// (`docs/performance.md`, "Third round"). The keys are our own, not chosen by a caller.
pub type UsageBatch = HashMap<UsageBucket, UsageCounts, foldhash::fast::RandomState>;

/// Platform-allowance tokens held for one call in flight: counted against the month's allowance
/// until the call's usage is written (which releases it) or `expires_at` passes (a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowanceReservation {
    pub id: String,
    pub org_id: String,
    /// `YYYY-MM` (UTC), the allowance period.
    pub month: String,
    pub tokens: u64,
    /// Unix seconds.
    pub expires_at: u64,
}

impl VaultDump {
    /// How many rows of each kind it holds.
    pub fn counts(&self) -> VaultCounts {
        let n = |len: usize| len as u64;
        VaultCounts {
            organizations: n(self.organizations.len()),
            members: n(self.members.len()),
            api_keys: n(self.api_keys.len()),
            projects: n(self.projects.len()),
            provider_keys: n(self.provider_keys.len()),
            data_keys: n(self.data_keys.len()),
            audit_events: n(self.audit_events.len()),
            usage_rollups: n(self.usage.len()),
            budgets: n(self.budgets.len()),
        }
    }
}

/// A usage report's grouping column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroupBy {
    Provider,
    Model,
    KeySource,
    Project,
    ApiKey,
    Member,
    /// `ok` or the failure's code; the one grouping that counts failed completions too.
    Outcome,
}

/// What a backup or a copy holds, counted on the copy itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VaultCounts {
    pub organizations: u64,
    pub members: u64,
    pub api_keys: u64,
    pub projects: u64,
    pub provider_keys: u64,
    pub data_keys: u64,
    pub audit_events: u64,
    pub usage_rollups: u64,
    pub budgets: u64,
}

/// The result of a write that may not apply (a missing row, a refused change): only an
/// applied change gets its audit event, in the same transaction.
pub(crate) trait Applied {
    fn applied(&self) -> bool;
}

impl Applied for () {
    fn applied(&self) -> bool {
        true
    }
}

impl Applied for bool {
    fn applied(&self) -> bool {
        *self
    }
}

impl Applied for u64 {
    fn applied(&self) -> bool {
        true
    }
}

impl Applied for String {
    fn applied(&self) -> bool {
        true
    }
}

impl<T> Applied for Option<T> {
    fn applied(&self) -> bool {
        self.is_some()
    }
}

impl Applied for MemberChange {
    fn applied(&self) -> bool {
        *self == MemberChange::Done
    }
}

/// One usage roll-up row as stored (for copying a vault between stores).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub org_id: String,
    pub month: String,
    pub day: String,
    /// '' outside any project.
    pub project_id: String,
    pub api_key_id: String,
    pub provider: String,
    pub model: String,
    pub key_source: String,
    pub status: String,
    pub counts: UsageCounts,
}

/// Everything a vault holds, in dependency order, for `converra admin migrate`. Secrets are in
/// it only as ciphertext and hashes, exactly as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VaultDump {
    pub meta: Vec<(String, String)>,
    pub organizations: Vec<OrgRow>,
    pub members: Vec<MemberRow>,
    pub api_keys: Vec<ApiKeyRow>,
    pub projects: Vec<(String, converra::Project)>,
    pub data_keys: Vec<DataKeyRow>,
    pub provider_keys: Vec<ProviderKeyRow>,
    /// `(organization, event)`, oldest first.
    pub audit_events: Vec<(String, converra::AuditEvent)>,
    pub usage: Vec<UsageRow>,
    /// `(organization, budget)`.
    pub budgets: Vec<(String, super::BudgetRow)>,
}
