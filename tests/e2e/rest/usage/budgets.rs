//! Budgets on the REST API: admins set them, everybody reads them with the month's spend; a
//! completion is refused with `BUDGET_EXCEEDED` (402) before anything reaches the provider when
//! its largest possible cost does not fit what is left, naming the narrowest budget that
//! refused; a model without a price cannot be bounded, so it is refused while a budget applies;
//! spend never passes a limit.

use converra::Provider;
use converra_test_kit::providers::{MockProviders, chat_answer, valid_key};
use converra_test_kit::{Answer, TestApp, app_with_mocks, id_of};
use serde_json::{Value, json};

const GPT: &str = "gpt-4o-mini";

/// An OpenAI key answering every gpt-4o-mini chat with 12 tokens in and 5 out: 12 × 0.15 +
/// 5 × 0.60 = 4.8, so 5 micro-dollars a call.
async fn openai_ready() -> (TestApp, MockProviders) {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    mocks.answer_chat(Provider::Openai, key, GPT, false, chat_answer(Provider::Openai, GPT, "Hi")).await;
    (app, mocks)
}

/// A completion capped at `max_tokens`: "Say hi" is 2 tokens by the estimate, so it reserves
/// ⌈2 × 0.15 + max_tokens × 0.60⌉ micro-dollars (7 for 10 tokens) until its usage is written
/// (within 50 ms; reading the budgets writes it at once, which this does after every call so
/// that the next sees its cost settled, not its reservation).
async fn complete(app: &TestApp, key: &str, max_tokens: u32, project: Option<&str>) -> Answer {
    let mut ask = json!({"model": "openai/gpt-4o-mini", "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Say hi"}]});
    if let Some(project) = project {
        ask["project_id"] = json!(project);
    }
    let answer = app.post("/api/v1/completions", key, ask).await;
    assert_eq!(app.get("/api/v1/budgets", key).await.status, 200);
    answer
}

async fn set(app: &TestApp, key: &str, budget: Value) -> Answer {
    app.put("/api/v1/budgets", key, budget).await
}

async fn provider_calls(mocks: &MockProviders) -> usize {
    mocks.server(Provider::Openai).received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn a_budget_refuses_a_call_whose_largest_cost_does_not_fit_before_the_provider_sees_it() {
    let (app, mocks) = openai_ready().await;
    let set = set(&app, &app.api_key, json!({"scope": "organization", "limit_micro_usd": 100})).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["limit_micro_usd"], 100);
    assert_eq!(set.body["threshold_percent"], 80, "the default threshold");
    assert_eq!(set.body["spent_micro_usd"], 0);

    let ok = complete(&app, &app.api_key, 10, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["cost_micro_usd"], 5);

    // 1000 output tokens may cost 600 micro-dollars: more than the 95 left.
    let refused = complete(&app, &app.api_key, 1000, None).await;
    let resets = refused.body["error"]["budget"]["resets_at"].as_str().unwrap_or_default().to_owned();
    assert!(resets.ends_with("-01T00:00:00Z"), "resets on the first of next month: {}", refused.text);
    refused.assert_error(
        402,
        "BUDGET_EXCEEDED",
        &format!(
            "The organization budget of $0.000100 for this month has no room for this call: $0.000005 is spent or held \
             by calls in flight, and this call may cost up to $0.000601. Set a lower output cap (max_tokens), wait for it \
             to reset at {resets}, or ask an admin to raise it"
        ),
    );
    assert_eq!(
        refused.body["error"]["budget"],
        json!({"scope": "organization", "limit_micro_usd": 100, "spent_micro_usd": 5, "resets_at": resets,
               "call_max_micro_usd": 601})
    );
    assert_eq!(provider_calls(&mocks).await, 1, "the refused call never reached the provider");

    let listed = app.get("/api/v1/budgets", &app.api_key).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let budget = &listed.body["data"][0];
    assert_eq!((budget["spent_micro_usd"].as_u64(), budget["reserved_micro_usd"].as_u64()), (Some(5), Some(0)));
    assert_eq!(budget["exhausted"], false);
    let report = app.get("/api/v1/usage", &app.api_key).await;
    assert_eq!(report.body["budgets"], listed.body["data"], "the usage report carries the same budgets");
}

#[tokio::test]
async fn calls_spend_up_to_the_limit_and_never_past_it() {
    let (app, mocks) = openai_ready().await;
    assert_eq!(set(&app, &app.api_key, json!({"scope": "organization", "limit_micro_usd": 30})).await.status, 200);
    // Each call reserves 7 and costs 5: after five (25 spent) a sixth needs 7 of the 5 left.
    for call in 1..=5 {
        let ok = complete(&app, &app.api_key, 10, None).await;
        assert_eq!(ok.status, 200, "call {call}: {}", ok.text);
    }
    complete(&app, &app.api_key, 10, None).await.assert_code(402, "BUDGET_EXCEEDED");
    assert_eq!(provider_calls(&mocks).await, 5);
    let report = app.get("/api/v1/usage", &app.api_key).await;
    assert_eq!(report.body["totals"]["cost_micro_usd"], 25);
    assert_eq!(report.body["budgets"][0]["exhausted"], false, "5 micro-dollars are left for a smaller call");
    assert_eq!(report.body["budgets"][0]["over_threshold"], true, "25 of 30 is past 80 %");

    // An admin raises it: the same call passes at once.
    assert_eq!(set(&app, &app.api_key, json!({"scope": "organization", "limit_micro_usd": 40})).await.status, 200);
    assert_eq!(complete(&app, &app.api_key, 10, None).await.status, 200);
}

#[tokio::test]
async fn the_narrowest_budget_that_refuses_is_named_and_every_budget_that_applies_must_pass() {
    let (app, _mocks) = openai_ready().await;
    let project = id_of(&app.post("/api/v1/projects", &app.api_key, json!({"name": "agents"})).await.body);
    let (member_id, member_key) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    assert_eq!(
        set(&app, &app.api_key, json!({"scope": "organization", "limit_micro_usd": 1_000_000})).await.status,
        200
    );
    let on_project =
        json!({"scope": "project", "scope_id": project, "model": "openai/gpt-4o-mini", "limit_micro_usd": 6});
    assert_eq!(set(&app, &app.api_key, on_project).await.status, 200);
    let on_member = json!({"scope": "member", "scope_id": member_id, "limit_micro_usd": 3});
    assert_eq!(set(&app, &app.api_key, on_member).await.status, 200);

    // The member's own budget (3) is narrower than the project's (6): it is named.
    let refused = complete(&app, &member_key, 10, Some(&project)).await;
    refused.assert_code(402, "BUDGET_EXCEEDED");
    assert_eq!(refused.body["error"]["budget"]["scope"], "member");
    assert_eq!(refused.body["error"]["budget"]["scope_id"], member_id.as_str());
    // The owner is not that member: the project's model budget refuses the same call.
    let refused = complete(&app, &app.api_key, 10, Some(&project)).await;
    assert_eq!(refused.body["error"]["budget"]["scope"], "project", "{}", refused.text);
    assert_eq!(refused.body["error"]["budget"]["model"], "openai/gpt-4o-mini");
    // Outside the project only the organization's applies.
    assert_eq!(complete(&app, &app.api_key, 10, None).await.status, 200);
}

#[tokio::test]
async fn a_model_without_a_price_cannot_be_bounded_so_a_budget_refuses_it() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Deepseek);
    app.add_provider_key(&app.api_key, Provider::Deepseek, key, Value::Null).await;
    let reasoner = "deepseek-reasoner";
    mocks.answer_chat(Provider::Deepseek, key, reasoner, false, chat_answer(Provider::Deepseek, reasoner, "Hi")).await;
    let ask = json!({"model": "deepseek/deepseek-reasoner", "messages": [{"role": "user", "content": "Say hi"}]});
    assert_eq!(app.post("/api/v1/completions", &app.api_key, ask.clone()).await.status, 200, "no budget: it runs");

    assert_eq!(
        set(&app, &app.api_key, json!({"scope": "organization", "limit_micro_usd": 50_000_000})).await.status,
        200
    );
    let refused = app.post("/api/v1/completions", &app.api_key, ask).await;
    refused.assert_error(
        402,
        "BUDGET_EXCEEDED",
        "The organization budget applies to this call and its cost cannot be bounded: no price for deepseek model \
         `deepseek-reasoner`",
    );
}

#[tokio::test]
async fn only_admins_set_budgets_on_objects_of_their_own_organization() {
    let (app, _mocks) = openai_ready().await;
    let (_, member_key) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    set(&app, &member_key, json!({"scope": "organization", "limit_micro_usd": 1})).await.assert_error(
        403,
        "FORBIDDEN",
        "This action requires the admin or owner role",
    );
    let other = app.new_org("rival", converra::Plan::Free).await;
    let their_project = id_of(&app.post("/api/v1/projects", &other, json!({"name": "theirs"})).await.body);
    set(&app, &app.api_key, json!({"scope": "project", "scope_id": their_project, "limit_micro_usd": 1}))
        .await
        .assert_error(404, "NOT_FOUND", "Project not found");
    set(&app, &app.api_key, json!({"scope": "organization", "model": "openai/gpt-4o", "limit_micro_usd": 1}))
        .await
        .assert_error(400, "VALIDATION_ERROR", "a per-model limit is set on a project budget only");
    set(&app, &app.api_key, json!({"scope": "member", "limit_micro_usd": 1})).await.assert_error(
        400,
        "VALIDATION_ERROR",
        "a member budget needs the member's id in scope_id",
    );
    set(&app, &app.api_key, json!({"scope": "organization", "limit_micro_usd": 1, "threshold_percent": 0}))
        .await
        .assert_error(400, "VALIDATION_ERROR", "threshold_percent must be between 1 and 100");

    // Everybody reads them; their rival sees none of them.
    assert_eq!(set(&app, &app.api_key, json!({"scope": "organization", "limit_micro_usd": 1})).await.status, 200);
    assert_eq!(app.get("/api/v1/budgets", &member_key).await.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get("/api/v1/budgets", &other).await.body["data"], json!([]));
    assert_eq!(app.delete("/api/v1/budgets?scope=organization", &member_key).await.status, 403);
    assert_eq!(app.delete("/api/v1/budgets?scope=organization", &app.api_key).await.status, 204);
    app.delete("/api/v1/budgets?scope=organization", &app.api_key).await.assert_error(
        404,
        "NOT_FOUND",
        "Budget not found",
    );
    assert_eq!(complete(&app, &member_key, 10, None).await.status, 200, "no budget left to refuse it");
}
