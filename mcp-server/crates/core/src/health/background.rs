//! The background health work, one replica at a time under a lease row: re-testing failing
//! keys (exponential backoff with jitter, from `retest_first` up to `retest_max`), queuing
//! rotation-due events, and delivering the webhook outbox (retried with backoff). The
//! schedule and the outbox live in the store, so a replica taking the lease over carries on.
//! The lease is renewed before every re-test and every delivery, and a round stops where it
//! was lost: however slow the receiver or the provider, a round never outlives its lease, so
//! no second replica delivers or re-tests the same thing meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use converra::{DEFAULT_KEY_ROTATION_DAYS, KeyStatus};
use rand::Rng;

use super::{age_days, events, flags};
use crate::{Core, ids};
use converra_store::ProviderKeyRow;

/// Keys re-tested, and webhook events sent, per round.
const BATCH: u32 = 20;
/// Rounds between two scans for rotation-due keys.
const ROTATION_EVERY: u64 = 30;
/// Delivery attempts of a webhook event before it is dropped (about a day with the backoff).
const WEBHOOK_ATTEMPTS: u32 = 30;
const WEBHOOK_FIRST_RETRY: Duration = Duration::from_secs(5);
const WEBHOOK_MAX_RETRY: Duration = Duration::from_secs(3600);

/// This process among the replicas: its id (the lease holder), and whether its background
/// work was stopped.
pub(crate) struct Replica {
    pub(crate) id: String,
    stopped: AtomicBool,
}

impl Replica {
    pub(crate) fn new() -> Self {
        Self { id: ids::new_id("replica"), stopped: AtomicBool::new(false) }
    }
}

/// The key-health lease as this replica holds it: who, and for how many seconds per renewal.
struct Lease<'a> {
    holder: &'a str,
    ttl: u64,
}

/// `first × 2^attempts` plus up to 20 % jitter (so keys flagged together spread out), never
/// more than `max`: the first re-test comes after `first`, then at most every `max`.
pub(super) fn backoff(first: Duration, max: Duration, attempts: u32) -> u64 {
    let base = first.as_secs_f64() * 2f64.powi(attempts.min(30) as i32);
    let jittered = base * rand::rng().random_range(1.0..=1.2);
    (jittered.min(max.as_secs_f64()).round() as u64).max(1)
}

impl Core {
    /// Starts the background health work of a serving process (`serve`); stops when the core
    /// is dropped or [`Core::stop_background`] is called.
    pub fn start_background(self: &Arc<Self>) {
        let interval = self.health.config.interval;
        let core = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut round: u64 = 0;
            loop {
                let Some(core) = Weak::upgrade(&core) else { return };
                if core.replica.stopped.load(Ordering::Acquire) {
                    return;
                }
                core.background_round(interval, round).await;
                drop(core);
                round += 1;
                tokio::time::sleep(interval).await;
            }
        });
    }

    /// Stops the background work (a server shutting down) and withdraws this server's report of
    /// its master-key version, so `rotate-master-key --finish` need not wait for it to lapse.
    pub async fn stop_background(&self) {
        self.replica.stopped.store(true, Ordering::Release);
        if let Err(e) = self.store.withdraw_master_key_report(&self.replica.id).await {
            tracing::warn!(error = %e, "cannot withdraw this server's master-key report");
        }
    }

    async fn background_round(&self, interval: Duration, round: u64) {
        // Whole seconds, rounded up: the store compares unix seconds.
        let ttl = (interval * 3).max(self.health.config.lease).as_secs_f64().ceil() as u64;
        // Every replica, holding the lease or not, says which master key it runs with.
        let (id, version) = (&self.replica.id, self.keyring.master_version());
        if let Err(e) = self.store.report_master_key_version(id, version, ids::unix_now(), ttl).await {
            tracing::warn!(error = %e, "cannot report this server's master-key version");
        }
        let lease = Lease { holder: id, ttl };
        if !self.hold(&lease).await {
            return;
        }
        if self.health.config.retest && !self.retest_due(&lease).await {
            return;
        }
        if round.is_multiple_of(ROTATION_EVERY) {
            self.queue_rotation_due().await;
        }
        if self.webhook.is_some() {
            self.deliver_webhooks(&lease).await;
        }
    }

    /// Takes or renews the key-health lease for its ttl from now: whether this replica holds it.
    async fn hold(&self, lease: &Lease<'_>) -> bool {
        match self.store.try_lease("key_health", lease.holder, ids::unix_now(), lease.ttl).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the key-health lease");
                false
            }
        }
    }

    /// Re-tests the active failing keys whose time has come. Returns false if the lease was
    /// lost on the way (the rest of the round is another replica's).
    async fn retest_due(&self, lease: &Lease<'_>) -> bool {
        let due = match self.store.keys_due_for_retest(ids::unix_now(), BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the keys due for a re-test");
                return true;
            }
        };
        for row in due {
            if !self.hold(lease).await {
                return false;
            }
            self.retest(&row).await;
        }
        true
    }

    async fn retest(&self, row: &ProviderKeyRow) {
        let status = match self.open_provider_key(row).await {
            Ok(secret) => self.provider_verify(row.provider, &secret).await.status,
            Err(_) => KeyStatus::ProviderError,
        };
        tracing::info!(provider_key_id = %row.id, status = status.as_str(), "re-tested a failing provider key");
        if (status == KeyStatus::Ok || flags(status) && row.health.status != Some(status))
            && self.health.observe(row, status, "retest").await
        {
            return;
        }
        // Still failing (or the provider could not tell): try again later, less often.
        let attempts = row.health.retest_attempts + 1;
        let next = ids::unix_now() + self.health.retest_delay(attempts);
        if let Err(e) = self.store.schedule_retest(&row.id, Some(next), attempts).await {
            tracing::warn!(provider_key_id = %row.id, error = %e, "cannot schedule the next re-test");
        }
    }

    /// Queues one `key.rotation_due` event per key whose secret passed its organization's
    /// rotation period (marked even without a webhook, so turning one on later does not
    /// replay old keys).
    async fn queue_rotation_due(&self) {
        let (keys, orgs) = match (self.store.keys_not_yet_due().await, self.store.organizations().await) {
            (Ok(k), Ok(o)) => (k, o),
            (Err(e), _) | (_, Err(e)) => return tracing::warn!(error = %e, "cannot scan for rotation-due keys"),
        };
        let periods: HashMap<String, u32> =
            orgs.into_iter().map(|o| (o.id, o.key_rotation_days.unwrap_or(DEFAULT_KEY_ROTATION_DAYS))).collect();
        let now = ids::unix_now();
        for row in keys {
            let days = periods.get(&row.org_id).copied().unwrap_or(DEFAULT_KEY_ROTATION_DAYS);
            let age = age_days(&row, now);
            if age < u64::from(days) {
                continue;
            }
            let event = self.webhook.as_ref().map(|_| events::rotation_due(&row, age, days));
            if let Err(e) = self.store.mark_rotation_due(&row.id, &ids::now(), event).await {
                tracing::warn!(provider_key_id = %row.id, error = %e, "cannot mark a key rotation-due");
            }
        }
    }

    /// Sends the due webhook events, oldest first, while this replica holds the lease; a
    /// failure is retried with backoff.
    async fn deliver_webhooks(&self, lease: &Lease<'_>) {
        let Some(webhook) = &self.webhook else { return };
        let now = ids::unix_now();
        let due = match self.store.due_webhooks(now, BATCH).await {
            Ok(due) => due,
            Err(e) => return tracing::warn!(error = %e, "cannot read the webhook outbox"),
        };
        for event in due {
            if !self.hold(lease).await {
                return;
            }
            let result = match webhook.deliver(&event.id, &event.body, ids::unix_now()).await {
                Ok(()) => self.store.remove_webhook(&event.id).await,
                Err(why) if event.attempts + 1 >= WEBHOOK_ATTEMPTS => {
                    tracing::error!(event_id = %event.id, why, "webhook event dropped after repeated failures");
                    self.store.remove_webhook(&event.id).await
                }
                Err(why) => {
                    let attempts = event.attempts + 1;
                    let next = now + backoff(WEBHOOK_FIRST_RETRY, WEBHOOK_MAX_RETRY, attempts - 1);
                    tracing::warn!(event_id = %event.id, attempts, why, "webhook delivery failed; will retry");
                    self.store.retry_webhook(&event.id, attempts, next).await
                }
            };
            if let Err(e) = result {
                tracing::warn!(event_id = %event.id, error = %e, "cannot update the webhook outbox");
            }
        }
    }
}

impl super::Health {
    /// Seconds until the next re-test of a key that failed `attempts` re-tests.
    pub(super) fn retest_delay(&self, attempts: u32) -> u64 {
        backoff(self.config.retest_first, self.config.retest_max, attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_delay_up_to_the_cap_with_jitter() {
        let (first, max) = (Duration::from_secs(60), Duration::from_secs(3600));
        for _ in 0..100 {
            assert!((60..=72).contains(&backoff(first, max, 0)));
            assert!((120..=144).contains(&backoff(first, max, 1)));
            assert_eq!(backoff(first, max, 10), 3600, "at most hourly");
        }
    }
}
