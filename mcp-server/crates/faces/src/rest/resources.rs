//! REST handlers for `/api/v1`: each extracts input, calls one core function, renders the answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use converra::{
    AddProviderKey, CreateApiKey, CreateMember, CreateProject, List, ProviderKeyFilter, ResolveQuery, UpdateAiSettings,
    UpdateMember, UpdateProviderKey,
};

use super::extract::{Authenticated, Json, Path, Query};
use crate::http::error::ApiResult;
use converra_core::Core;

type Core_ = State<Arc<Core>>;
type Out<T> = ApiResult<axum::Json<T>>;

fn created<T: serde::Serialize>(value: T) -> impl IntoResponse {
    (StatusCode::CREATED, axum::Json(value))
}

pub async fn me(State(core): Core_, Authenticated(caller): Authenticated) -> Out<converra::Me> {
    Ok(axum::Json(core.me(&caller)))
}

// API keys

pub async fn create_api_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Json(req): Json<CreateApiKey>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(core.create_api_key(&caller, req).await?))
}

pub async fn list_api_keys(State(core): Core_, Authenticated(caller): Authenticated) -> Out<List<converra::ApiKey>> {
    Ok(axum::Json(core.list_api_keys(&caller).await?.into()))
}

pub async fn revoke_api_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    core.revoke_api_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Members

pub async fn create_member(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Json(req): Json<CreateMember>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(core.create_member(&caller, req).await?))
}

pub async fn list_members(State(core): Core_, Authenticated(caller): Authenticated) -> Out<List<converra::Member>> {
    Ok(axum::Json(core.list_members(&caller).await?.into()))
}

pub async fn update_member(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(req): Json<UpdateMember>,
) -> Out<converra::Member> {
    Ok(axum::Json(core.update_member(&caller, &id, req).await?))
}

pub async fn remove_member(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    core.remove_member(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Projects

pub async fn create_project(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Json(req): Json<CreateProject>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(core.create_project(&caller, req).await?))
}

pub async fn list_projects(State(core): Core_, Authenticated(caller): Authenticated) -> Out<List<converra::Project>> {
    Ok(axum::Json(core.list_projects(&caller).await?.into()))
}

pub async fn get_project(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Out<converra::Project> {
    Ok(axum::Json(core.get_project(&caller, &id).await?))
}

pub async fn delete_project(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    core.delete_project(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Provider keys

pub async fn add_provider_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Json(req): Json<AddProviderKey>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(core.add_provider_key(&caller, req).await?))
}

/// `POST /provider-keys/connect-links`: a one-time link where a signed-in admin pastes the secret.
pub async fn create_connect_link(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Json(req): Json<converra::CreateConnectLink>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(core.create_connect_link(&caller, req).await?))
}

pub async fn list_provider_keys(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Query(filter): Query<ProviderKeyFilter>,
) -> Out<List<converra::ProviderKey>> {
    Ok(axum::Json(core.list_provider_keys(&caller, filter).await?.into()))
}

pub async fn get_provider_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Out<converra::ProviderKey> {
    Ok(axum::Json(core.get_provider_key(&caller, &id).await?))
}

pub async fn update_provider_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(req): Json<UpdateProviderKey>,
) -> Out<converra::ProviderKey> {
    Ok(axum::Json(core.update_provider_key(&caller, &id, req).await?))
}

pub async fn activate_provider_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Out<converra::ProviderKey> {
    Ok(axum::Json(core.activate_provider_key(&caller, &id).await?))
}

pub async fn test_provider_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Out<converra::TestResult> {
    Ok(axum::Json(core.test_provider_key(&caller, &id).await?))
}

pub async fn remove_provider_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    core.remove_provider_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn resolve_provider_key(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Query(q): Query<ResolveQuery>,
) -> Out<converra::Resolution> {
    Ok(axum::Json(core.explain_resolution(&caller, q.provider, q.project_id.as_deref()).await?))
}

// Budgets

pub async fn list_budgets(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Query(q): Query<converra::UsageQuery>,
) -> Out<List<converra::Budget>> {
    Ok(axum::Json(core.spend().list_budgets(&caller, q).await?.into()))
}

pub async fn set_budget(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Json(req): Json<converra::SetBudget>,
) -> Out<converra::Budget> {
    Ok(axum::Json(core.spend().set_budget(&caller, req).await?))
}

pub async fn delete_budget(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Query(target): Query<converra::BudgetTarget>,
) -> ApiResult<StatusCode> {
    core.spend().delete_budget(&caller, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Audit and settings

pub async fn audit_events(State(core): Core_, Authenticated(caller): Authenticated) -> Out<List<converra::AuditEvent>> {
    Ok(axum::Json(core.audit_events(&caller).await?.into()))
}

pub async fn get_ai_settings(State(core): Core_, Authenticated(caller): Authenticated) -> Out<converra::AiSettings> {
    Ok(axum::Json(core.ai_settings(&caller).await?))
}

pub async fn update_ai_settings(
    State(core): Core_,
    Authenticated(caller): Authenticated,
    Json(req): Json<UpdateAiSettings>,
) -> Out<converra::AiSettings> {
    Ok(axum::Json(core.update_ai_settings(&caller, req).await?))
}
