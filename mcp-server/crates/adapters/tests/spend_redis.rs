//! The budgets' running spend in a real Redis (its scripts are what every replica shares):
//! holds, refusals naming the budget without room, settlements, seeds, a hold dropped unsettled,
//! and the freeing of holds whose calls never settled.

#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use converra_adapters::Counters;
use converra_adapters::spend::{Ask, Hold, Limit, Period, Reserved, SpendLedger};
use secrecy::SecretString;

const KEYS: [&str; 2] = ["project/prj_1/@2026-12-01T00:00:00Z", "organization//@2026-12-01T00:00:00Z"];

/// A Redis server of the test's own, on a free port, writing nothing to disk.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn period(org_id: &str) -> Period<'_> {
    Period { org_id, month: "2026-12" }
}

fn limits(limit: u64) -> [Limit<'static>; 2] {
    [Limit { key: KEYS[0], limit: 1_000 }, Limit { key: KEYS[1], limit }]
}

fn ask(micro_usd: u64, now: u64) -> Ask {
    Ask { micro_usd, now, expires_at: now + 100, generation: None }
}

/// The ledger in `redis`, once its connection is up (a budget unknown there answers "seed").
async fn ledger(redis: &Redis, org_id: &str) -> SpendLedger {
    let url = SecretString::from(format!("redis://127.0.0.1:{}", redis.port));
    let ledger = Counters::redis(&url).unwrap().spend.expect("a ledger in Redis");
    let started = Instant::now();
    loop {
        match ledger.reserve(period(org_id), &limits(50), ask(1, 0)).await {
            Reserved::Unseeded(missing) => {
                assert_eq!(missing, [0, 1]);
                return ledger;
            }
            Reserved::Unavailable => assert!(started.elapsed() < Duration::from_secs(10), "Redis never answered"),
            other => panic!("nothing is seeded yet: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn held(reserved: Reserved) -> (Vec<u64>, Hold) {
    match reserved {
        Reserved::Held { settled, hold } => (settled, hold),
        other => panic!("not held: {other:?}"),
    }
}

/// Waits until Redis says `KEYS[1]` holds `expected` (settlements are sent by a task).
async fn until_held(ledger: &SpendLedger, org_id: &str, expected: u64) {
    let started = Instant::now();
    while ledger.held(period(org_id), &[KEYS[1]]).await != [expected] {
        assert!(started.elapsed() < Duration::from_secs(5), "the hold was never taken back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
#[ignore = "needs redis-server, installed by .ci/run"]
async fn calls_hold_their_largest_cost_the_first_budget_without_room_refuses_and_settling_counts_the_cost() {
    let redis = Redis::start();
    let ledger = ledger(&redis, "org_a").await;
    ledger.seed(period("org_a"), &[(KEYS[0], 0), (KEYS[1], 40)], None).await;
    let (settled, hold) = held(ledger.reserve(period("org_a"), &limits(50), ask(7, 10)).await);
    assert_eq!(settled, [0, 40]);
    match ledger.reserve(period("org_a"), &limits(50), ask(7, 10)).await {
        Reserved::Refused { index, settled, held } => assert_eq!((index, settled, held), (1, 40, 7)),
        other => panic!("40 spent and 7 held leave no room for 7 in 50: {other:?}"),
    }
    // Another organization's budgets of the same names are its own.
    let (settled, _other) = {
        ledger.seed(period("org_b"), &[(KEYS[0], 0), (KEYS[1], 0)], None).await;
        held(ledger.reserve(period("org_b"), &limits(50), ask(7, 10)).await)
    };
    assert_eq!(settled, [0, 0]);

    hold.settle(Some(5));
    until_held(&ledger, "org_a", 0).await;
    let (settled, _five) = held(ledger.reserve(period("org_a"), &limits(50), ask(5, 10)).await);
    assert_eq!(settled, [5, 45], "the cost settled, not the hold");
    match ledger.reserve(period("org_a"), &limits(50), ask(1, 10)).await {
        Reserved::Refused { index, settled, held } => assert_eq!((index, settled, held), (1, 45, 5)),
        other => panic!("50 of 50: {other:?}"),
    }
    // A seed never overwrites a count Redis already keeps.
    ledger.seed(period("org_a"), &[(KEYS[1], 0)], None).await;
    assert!(matches!(ledger.reserve(period("org_a"), &limits(50), ask(1, 10)).await, Reserved::Refused { .. }));
}

#[tokio::test]
#[ignore = "needs redis-server, installed by .ci/run"]
async fn a_hold_dropped_unsettled_is_taken_back_and_one_never_settled_is_freed_when_it_expires() {
    let redis = Redis::start();
    let ledger = ledger(&redis, "org_a").await;
    ledger.seed(period("org_a"), &[(KEYS[0], 0), (KEYS[1], 0)], None).await;

    drop(held(ledger.reserve(period("org_a"), &limits(10), ask(10, 100)).await));
    until_held(&ledger, "org_a", 0).await;

    // A call whose process died: its hold is neither settled nor dropped.
    let (_, lost) = held(ledger.reserve(period("org_a"), &limits(10), Ask { expires_at: 200, ..ask(10, 100) }).await);
    std::mem::forget(lost);
    assert!(
        matches!(ledger.reserve(period("org_a"), &limits(10), ask(10, 199)).await, Reserved::Refused { .. }),
        "held until it expires"
    );
    let (settled, _) = held(ledger.reserve(period("org_a"), &limits(10), ask(10, 200)).await);
    assert_eq!(settled, [0, 0]);
    assert_eq!(ledger.held(period("org_a"), &[KEYS[1]]).await, [10], "only the new call holds");
}
