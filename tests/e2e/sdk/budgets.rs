//! The SDK's budgets handle against the real server: set (typed), list with the month's spend,
//! the typed `BUDGET_EXCEEDED` error with the budget that refused, and remove.

use converra::{BudgetScope, BudgetTarget, SetBudget};

use super::*;

#[tokio::test]
async fn budgets_set_list_refuse_with_the_budget_named_and_remove() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    sdk.provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "OpenAI", valid_key(Provider::Openai)))
        .await
        .unwrap();
    answer_openai(&mocks, valid_key(Provider::Openai), "ok").await;
    let project = sdk.projects().create(CreateProject { name: "agents".into() }).await.unwrap();

    let set = SetBudget {
        scope: BudgetScope::Project,
        scope_id: Some(project.id.clone()),
        model: None,
        limit_micro_usd: 10,
        threshold_percent: None,
    };
    let budget = sdk.budgets().set(set).await.unwrap();
    assert_eq!((budget.scope, budget.threshold_percent, budget.spent_micro_usd), (BudgetScope::Project, 80, 0));
    assert_eq!(budget.scope_text(), format!("project {}", project.id));

    let mut ask = CompletionRequest::new(OPENAI_MODEL, "hi");
    ask.project_id = Some(project.id.clone());
    ask.max_tokens = Some(5);
    let done = sdk.completions().create(ask.clone()).await.unwrap();
    assert_eq!((done.cost_micro_usd, done.cost_known), (Some(5), true));
    let listed = sdk.budgets().list(UsageQuery::default()).await.unwrap();
    assert_eq!((listed.len(), listed[0].spent_micro_usd, listed[0].over_threshold), (1, 5, false));

    // 5 spent; a call capped at 20 tokens may cost 13 more: refused, typed, naming the budget.
    ask.max_tokens = Some(20);
    let refused = sdk.completions().create(ask).await.unwrap_err();
    assert_api_error(&refused, ErrorCode::BudgetExceeded);
    let why = api(&refused).budget.clone().expect("the refusing budget");
    assert_eq!((why.scope, why.scope_id.as_deref()), (BudgetScope::Project, Some(project.id.as_str())));
    assert_eq!((why.limit_micro_usd, why.spent_micro_usd, why.call_max_micro_usd), (10, 5, Some(13)));
    assert_eq!(api(&refused).status, Some(402));

    let target = BudgetTarget { scope: BudgetScope::Project, scope_id: Some(project.id.clone()), model: None };
    sdk.budgets().remove(target.clone()).await.unwrap();
    assert!(sdk.budgets().list(UsageQuery::default()).await.unwrap().is_empty());
    assert_api_error(&sdk.budgets().remove(target).await.unwrap_err(), ErrorCode::NotFound);
}
