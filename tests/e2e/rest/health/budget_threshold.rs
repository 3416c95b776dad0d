//! A budget's threshold is announced by the signed `budget.threshold` webhook once a month,
//! when the settled spend has reached it, through the same outbox as key health.

use converra_test_kit::providers::MockProviders;

use super::*;

#[tokio::test]
async fn a_budgets_threshold_is_announced_once_signed_when_the_settled_spend_reaches_it() {
    let mocks = MockProviders::start().await;
    mount_account(&mocks, &Account::default()).await;
    let (webhook, received) = webhook_receiver().await;
    let app = health_app(&mocks, &webhook, false).await;
    add_key(&app).await;
    // 12 in and 5 out of gpt-4o-mini cost 5 micro-dollars; the threshold is 4 (40 % of 10).
    let small = json!({"scope": "organization", "limit_micro_usd": 10, "threshold_percent": 40});
    assert_eq!(app.put("/api/v1/budgets", &app.api_key, small).await.status, 200);

    let capped = || json!({"model": format!("openai/{MODEL}"), "max_tokens": 1, "messages": [{"role": "user", "content": "Hello"}]});
    assert_eq!(app.post("/api/v1/completions", &app.api_key, capped()).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received.lock().unwrap().is_empty(), "announced on settled spend only, once a call passes it");
    // The settled 5 is past 4: the next call announces it; the one after does not again.
    assert_eq!(app.post("/api/v1/completions", &app.api_key, capped()).await.status, 200);
    let events = events(&received, 1).await;
    assert_eq!(events[0]["type"], "budget.threshold");
    let data = &events[0]["data"];
    assert_eq!((data["scope"].as_str(), data["limit_micro_usd"].as_u64()), (Some("organization"), Some(10)));
    assert_eq!((data["threshold_percent"].as_u64(), data["spent_micro_usd"].as_u64()), (Some(40), Some(5)));
    assert_eq!(data["month"], converra_test_kit::rfc3339(unix_now())[..7]);
    // Reading the budgets writes the pending usage: the 10 spent is settled.
    assert_eq!(app.get("/api/v1/budgets", &app.api_key).await.body["data"][0]["spent_micro_usd"], 10);
    let after = app.post("/api/v1/completions", &app.api_key, capped()).await;
    assert_eq!(after.status, 402, "10 spent: the budget is used up: {}", after.text);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.lock().unwrap().len(), 1, "announced once a month");
}
