//! Spend reservations against budgets: held only while every budget the call falls in keeps
//! settled + reserved + this within its limit (the first without room named), scoped by
//! project, API key, member and model, settled by the usage batch that writes the call's cost,
//! announced once a month at the threshold of settled spend, never overshooting under
//! concurrent callers on two handles (replicas), and gone with what they limit.

use std::sync::Arc;

use super::{api_key, contract, create_org, event, id, member};
use converra::{Project, Role};

use crate::{
    BudgetRow, MemberChange, OutboxEvent, Spend, SpendHeld, SpendReservation, Store, UsageBatch, UsageBucket,
    UsageCounts,
};

contract!(
    a_reservation_is_held_only_while_every_budget_it_falls_in_has_room,
    a_budget_counts_only_the_calls_of_its_scope_and_model,
    the_usage_batch_settles_a_reservation_at_the_calls_cost,
    the_threshold_is_announced_once_a_month_on_settled_spend,
    concurrent_reservations_on_two_handles_never_overshoot_a_budget,
    budgets_are_set_replaced_and_deleted_per_organization,
    a_deleted_project_removed_member_or_revoked_key_takes_its_budgets_along,
);

const MONTH: &str = "2026-11";
const NOW: u64 = 1_790_000_000;

fn budget(scope: &str, scope_id: &str, model: &str, limit: u64) -> BudgetRow {
    BudgetRow {
        scope: scope.into(),
        scope_id: scope_id.into(),
        model: model.into(),
        limit_micro_usd: limit,
        threshold_percent: 80,
        updated_at: "2026-11-01T00:00:00Z".into(),
    }
}

fn call(org_id: &str, micro_usd: u64) -> SpendReservation {
    SpendReservation {
        id: id("rsv"),
        org_id: org_id.to_owned(),
        month: MONTH.into(),
        project_id: String::new(),
        api_key_id: "key_1".into(),
        member_id: "mem_1".into(),
        model: "openai/gpt-4o-mini".into(),
        micro_usd,
        expires_at: NOW + 900,
    }
}

fn held(outcome: SpendHeld) -> bool {
    matches!(outcome, SpendHeld::Held { .. })
}

fn alert(b: &BudgetRow, r: &SpendReservation, spend: Spend) -> OutboxEvent {
    let body = format!(r#"{{"scope":"{}","month":"{}","spent":{}}}"#, b.scope, r.month, spend.settled);
    OutboxEvent { id: id("whe"), body, created_at: NOW, attempts: 0 }
}

/// A batch writing `cost` micro-dollars of the call `r` (its scope, its model).
fn cost_of(r: &SpendReservation, cost: u64) -> UsageBatch {
    let (provider, model) = r.model.split_once('/').unwrap();
    let bucket = UsageBucket {
        org_id: r.org_id.clone(),
        day: format!("{MONTH}-02"),
        project_id: (!r.project_id.is_empty()).then(|| r.project_id.clone()),
        api_key_id: r.api_key_id.clone(),
        provider: if provider == "openai" { "openai" } else { "anthropic" },
        model: model.into(),
        key_source: "organization",
        status: "ok",
    };
    UsageBatch::from_iter([(bucket, UsageCounts::one(10, 10, 5).with_cost(Some(cost)))])
}

async fn spend(store: &Store, org: &str, b: &BudgetRow) -> Spend {
    store.budget_spend(org, MONTH, std::slice::from_ref(b), NOW).await.unwrap()[0]
}

async fn a_reservation_is_held_only_while_every_budget_it_falls_in_has_room(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let budgets = [budget("api_key", "key_1", "", 50), budget("organization", "", "", 100)];
    assert!(held(store.reserve_spend(call(org, 40), &budgets, NOW, None).await.unwrap()));
    // 40 + 11 passes the key's 50 though the organization's 100 has room: the key's refuses.
    let refused = store.reserve_spend(call(org, 11), &budgets, NOW, None).await.unwrap();
    assert_eq!(refused, SpendHeld::Refused { budget: 0, spend: Spend { settled: 0, reserved: 40 } });
    assert!(held(store.reserve_spend(call(org, 10), &budgets, NOW, None).await.unwrap()), "40 + 10 fits exactly");
    // Another key of the organization: only the organization's budget applies to it.
    let other_key = SpendReservation { api_key_id: "key_2".into(), ..call(org, 50) };
    assert!(held(store.reserve_spend(other_key, &budgets[1..], NOW, None).await.unwrap()));
    let over = store.reserve_spend(call(org, 1), &budgets[1..], NOW, None).await.unwrap();
    assert_eq!(over, SpendHeld::Refused { budget: 0, spend: Spend { settled: 0, reserved: 100 } });
    // A reservation past its deadline (a crashed call) holds nothing.
    assert_eq!(store.budget_spend(org, MONTH, &budgets[1..], NOW + 900).await.unwrap()[0].reserved, 0);
}

async fn a_budget_counts_only_the_calls_of_its_scope_and_model(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let member = a.owner.id.clone();
    let key = a.key.id.clone();
    // Settled usage on the owner's key, in project prj_1, on two models.
    let on = |project: &str, model: &str| SpendReservation {
        project_id: project.into(),
        api_key_id: key.clone(),
        member_id: member.clone(),
        model: model.into(),
        ..call(org, 0)
    };
    let batch = |r: &SpendReservation, cost| Arc::new(cost_of(r, cost));
    store.add_usage("b1", batch(&on("prj_1", "openai/gpt-4o-mini"), 30), Arc::new(vec![])).await.unwrap();
    store.add_usage("b2", batch(&on("prj_1", "anthropic/claude-sonnet-4-5"), 20), Arc::new(vec![])).await.unwrap();
    store.add_usage("b3", batch(&on("", "openai/gpt-4o-mini"), 5), Arc::new(vec![])).await.unwrap();
    let store = &store;
    let settled = |b: BudgetRow| async move { spend(store, org, &b).await.settled };
    assert_eq!(settled(budget("organization", "", "", 1)).await, 55);
    assert_eq!(settled(budget("project", "prj_1", "", 1)).await, 50);
    assert_eq!(settled(budget("project", "prj_1", "openai/gpt-4o-mini", 1)).await, 30);
    assert_eq!(settled(budget("project", "prj_2", "", 1)).await, 0);
    assert_eq!(settled(budget("api_key", &key, "", 1)).await, 55);
    assert_eq!(settled(budget("member", &member, "", 1)).await, 55, "the member's keys' calls");
    assert_eq!(settled(budget("member", "mem_other", "", 1)).await, 0);
    // Another organization's budget sees none of it.
    let b = create_org(store, "globex").await;
    assert_eq!(spend(store, &b.org.id, &budget("organization", "", "", 1)).await.settled, 0);
}

async fn the_usage_batch_settles_a_reservation_at_the_calls_cost(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let budgets = [budget("organization", "", "", 100)];
    let r = call(org, 80);
    assert!(held(store.reserve_spend(r.clone(), &budgets, NOW, None).await.unwrap()));
    assert_eq!(spend(&store, org, &budgets[0]).await, Spend { settled: 0, reserved: 80 });
    // The call cost 7 of the 80 it held: the batch writes 7 and releases the 80, in one step.
    store.add_usage("b1", Arc::new(cost_of(&r, 7)), Arc::new(vec![r.id.clone()])).await.unwrap();
    assert_eq!(spend(&store, org, &budgets[0]).await, Spend { settled: 7, reserved: 0 });
    let last = call(org, 93);
    assert!(held(store.reserve_spend(last.clone(), &budgets, NOW, None).await.unwrap()), "7 + 93 fits");
    // A call refused after its reservation (by the allowance) gives it back at once.
    store.release_reservation(&last.id).await.unwrap();
    assert_eq!(spend(&store, org, &budgets[0]).await, Spend { settled: 7, reserved: 0 });
}

async fn the_threshold_is_announced_once_a_month_on_settled_spend(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let budgets = [budget("organization", "", "", 100)];
    let first = call(org, 90);
    // 90 reserved is not 90 spent: no announcement yet.
    let outcome = store.reserve_spend(first.clone(), &budgets, NOW, Some(alert)).await.unwrap();
    assert_eq!(outcome, SpendHeld::Held { crossed: vec![] });
    store.add_usage("b1", Arc::new(cost_of(&first, 85)), Arc::new(vec![first.id.clone()])).await.unwrap();
    // 85 settled is past 80 %: the next call announces it, queued in the outbox; the one after does not.
    let outcome = store.reserve_spend(call(org, 5), &budgets, NOW, Some(alert)).await.unwrap();
    assert_eq!(outcome, SpendHeld::Held { crossed: vec![0] });
    assert_eq!(
        store.reserve_spend(call(org, 5), &budgets, NOW, Some(alert)).await.unwrap(),
        SpendHeld::Held { crossed: vec![] }
    );
    let queued = store.due_webhooks(NOW + 60, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].body, r#"{"scope":"organization","month":"2026-11","spent":85}"#);
    // Next month starts over.
    let december = SpendReservation { month: "2026-12".into(), ..call(org, 5) };
    assert_eq!(
        store.reserve_spend(december, &budgets, NOW, Some(alert)).await.unwrap(),
        SpendHeld::Held { crossed: vec![] }
    );
}

async fn concurrent_reservations_on_two_handles_never_overshoot_a_budget(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = a.org.id.clone();
    let other = store.reopen().await;
    let budgets = Arc::new([budget("organization", "", "", 100)]);
    // 25 calls of 10 race for 100, half through each handle (two replicas).
    let calls = (0..25).map(|i| {
        let handle = if i % 2 == 0 { store.clone() } else { other.clone() };
        let (r, budgets) = (call(&org, 10), budgets.clone());
        tokio::spawn(async move { held(handle.reserve_spend(r, &budgets[..], NOW, None).await.unwrap()) })
    });
    let held = futures_util::future::join_all(calls).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(held, 10, "exactly the calls that fit are held");
    assert_eq!(spend(&store, &org, &budgets[0]).await.reserved, 100);
}

async fn budgets_are_set_replaced_and_deleted_per_organization(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    store.set_budget(org, budget("organization", "", "", 100), event(org, "budget.set", "organization")).await.unwrap();
    store.set_budget(org, budget("organization", "", "", 250), event(org, "budget.set", "organization")).await.unwrap();
    store
        .set_budget(org, budget("project", "prj_1", "openai/gpt-4o", 5), event(org, "budget.set", "project"))
        .await
        .unwrap();
    let listed = store.budgets(org).await.unwrap();
    assert_eq!(
        listed.iter().map(|b| (b.scope.as_str(), b.limit_micro_usd)).collect::<Vec<_>>(),
        [("organization", 250), ("project", 5)]
    );
    let b = create_org(&store, "globex").await;
    assert!(store.budgets(&b.org.id).await.unwrap().is_empty(), "another organization's are invisible");
    let gone = event(org, "budget.deleted", "organization");
    assert!(store.delete_budget(org, ("organization", "", ""), gone).await.unwrap());
    let again = event(org, "budget.deleted", "organization");
    assert!(!store.delete_budget(org, ("organization", "", ""), again).await.unwrap());
    assert_eq!(store.budgets(org).await.unwrap().len(), 1);
}

async fn a_deleted_project_removed_member_or_revoked_key_takes_its_budgets_along(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let project = Project { id: id("prj"), name: "agents".into(), created_at: "2026-11-01T00:00:00Z".into() };
    store.insert_project(org, project.clone(), event(org, "project.created", &project.id)).await.unwrap();
    let dev = member(org, "dev@acme.example", Role::Member);
    store.insert_member(dev.clone(), event(org, "member.created", &dev.id)).await.unwrap();
    let key = api_key(org, &dev.id);
    store.insert_api_key(key.clone(), 10, event(org, "api_key.created", &key.id)).await.unwrap();
    let owners = api_key(org, &a.owner.id);
    store.insert_api_key(owners.clone(), 10, event(org, "api_key.created", &owners.id)).await.unwrap();
    let scopes = [
        ("project", &project.id),
        ("member", &dev.id),
        ("api_key", &key.id),
        ("api_key", &owners.id),
        ("member", &a.owner.id),
    ];
    for (scope, scope_id) in scopes {
        store.set_budget(org, budget(scope, scope_id, "", 5), event(org, "budget.set", scope)).await.unwrap();
    }
    assert!(store.delete_project(org, &project.id, event(org, "project.deleted", &project.id)).await.unwrap());
    let gone = store.delete_member(org, &dev.id, false, event(org, "member.removed", &dev.id)).await.unwrap();
    assert_eq!(gone, MemberChange::Done);
    let revoked = event(org, "api_key.revoked", &owners.id);
    assert!(store.revoke_api_key(org, &owners.id, "2026-11-02T00:00:00Z", revoked).await.unwrap());
    let left: Vec<_> =
        store.budgets(org).await.unwrap().iter().map(|b| (b.scope.clone(), b.scope_id.clone())).collect();
    assert_eq!(left, [("member".to_owned(), a.owner.id.clone())], "only the owner's budget is left");
}
