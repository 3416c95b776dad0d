//! Platform-allowance reservations: held atomically against used + reserved, released by the
//! usage batch that settles them, expired after their deadline, never overshooting under
//! concurrent callers on several handles (replicas).

use std::sync::Arc;

use super::{contract, create_org, id};
use crate::{AllowanceReservation, Store, UsageBatch, UsageBucket, UsageCounts};

contract!(
    reservations_are_held_only_while_they_fit,
    a_usage_batch_settles_its_reservations_in_the_same_step,
    an_unsettled_reservation_expires_at_its_deadline,
    concurrent_reservations_on_two_handles_never_overshoot,
);

const MONTH: &str = "2026-11";
const NOW: u64 = 1_790_000_000;

fn reservation(org_id: &str, tokens: u64, expires_at: u64) -> AllowanceReservation {
    AllowanceReservation { id: id("rsv"), org_id: org_id.to_owned(), month: MONTH.into(), tokens, expires_at }
}

fn platform_usage(org_id: &str, input: u64, output: u64) -> UsageBatch {
    let bucket = UsageBucket {
        org_id: org_id.to_owned(),
        day: format!("{MONTH}-02"),
        project_id: None,
        api_key_id: "key_1".into(),
        provider: "openai",
        model: "gpt-4o-mini".into(),
        key_source: "platform",
        status: "ok",
    };
    UsageBatch::from_iter([(bucket, UsageCounts::one(input, output, 10))])
}

async fn reservations_are_held_only_while_they_fit(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let later = NOW + 900;
    assert!(store.reserve_allowance(reservation(org, 60, later), 100, NOW).await.unwrap());
    assert!(!store.reserve_allowance(reservation(org, 41, later), 100, NOW).await.unwrap(), "60 + 41 > 100");
    assert!(store.reserve_allowance(reservation(org, 40, later), 100, NOW).await.unwrap(), "60 + 40 fits exactly");
    assert!(!store.reserve_allowance(reservation(org, 1, later), 100, NOW).await.unwrap());
    assert_eq!(store.allowance_reserved(org, MONTH, NOW).await.unwrap(), 100);
    // Another organization's allowance, and another month, are their own.
    let b = create_org(&store, "globex").await;
    assert!(store.reserve_allowance(reservation(&b.org.id, 100, later), 100, NOW).await.unwrap());
    let december = AllowanceReservation { month: "2026-12".into(), ..reservation(org, 100, later) };
    assert!(store.reserve_allowance(december, 100, NOW).await.unwrap());
    assert_eq!(store.allowance_reserved(org, MONTH, NOW).await.unwrap(), 100);
}

async fn a_usage_batch_settles_its_reservations_in_the_same_step(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let held = reservation(org, 80, NOW + 900);
    assert!(store.reserve_allowance(held.clone(), 100, NOW).await.unwrap());
    // The call used 30 of the 80 it held: the batch writes 30 and releases the 80.
    store.add_usage("batch-1", Arc::new(platform_usage(org, 20, 10)), Arc::new(vec![held.id])).await.unwrap();
    assert_eq!(store.allowance_reserved(org, MONTH, NOW).await.unwrap(), 0);
    assert_eq!(store.platform_tokens_used(org, MONTH).await.unwrap(), 30);
    assert!(!store.reserve_allowance(reservation(org, 71, NOW + 900), 100, NOW).await.unwrap(), "30 used + 71 > 100");
    assert!(store.reserve_allowance(reservation(org, 70, NOW + 900), 100, NOW).await.unwrap());
}

async fn an_unsettled_reservation_expires_at_its_deadline(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    // A call that never settles (its process died) holds the whole allowance for 15 minutes.
    let deadline = NOW + 15 * 60;
    assert!(store.reserve_allowance(reservation(org, 100, deadline), 100, NOW).await.unwrap());
    let just_before = deadline - 1;
    assert!(!store.reserve_allowance(reservation(org, 1, deadline + 900), 100, just_before).await.unwrap());
    assert_eq!(store.allowance_reserved(org, MONTH, just_before).await.unwrap(), 100);
    assert_eq!(store.allowance_reserved(org, MONTH, deadline).await.unwrap(), 0, "expired at its deadline");
    assert!(store.reserve_allowance(reservation(org, 100, deadline + 900), 100, deadline).await.unwrap());
}

async fn concurrent_reservations_on_two_handles_never_overshoot(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = a.org.id.clone();
    let other = store.reopen().await;
    // 25 calls of 10 tokens race for 100 tokens, half through each handle (two replicas).
    let calls = (0..25).map(|i| {
        let handle = if i % 2 == 0 { store.clone() } else { other.clone() };
        let r = reservation(&org, 10, NOW + 900);
        tokio::spawn(async move { handle.reserve_allowance(r, 100, NOW).await.unwrap() })
    });
    let held = futures_util::future::join_all(calls).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(held, 10, "exactly the calls that fit are held");
    assert_eq!(store.allowance_reserved(&org, MONTH, NOW).await.unwrap(), 100);
}
