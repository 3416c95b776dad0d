//! The SDK (`converra` crate) against the real server on a random port: every resource handle,
//! and every error variant the server can produce, each with its request id. Providers are
//! wiremock servers replaying the providers' real bodies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use converra::{
    AddProviderKey, ApiError, CompletionRequest, Converra, CreateApiKey, CreateMember, CreateProject, Environment,
    Error, ErrorCode, FinishReason, KeyScope, KeySource, KeyStatus, Plan, Provider, ProviderKeyFilter, ResolveQuery,
    Role, Tone, UpdateAiSettings, UpdateProviderKey, Usage, UsageQuery,
};
use converra_tests::providers::{MockProviders, chat_stream, invalid_key_answer, revoked_key, valid_key};
use converra_tests::{Options, TestApp, rfc3339, spawn_app, spawn_app_with, unix_now};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MODEL: &str = "gpt-4o-mini";
const OPENAI_MODEL: &str = "openai/gpt-4o-mini";
/// A second OpenAI key the mock accepts once `accept_models` is called for it.
const SECOND_OPENAI: &str = "sk-proj-SECONDopenaiKEY0123456789abcd";
const PLATFORM_OPENAI: &str = "sk-platformKEY0123456789abcdef";

async fn app_with_mocks(platform: &[(Provider, &str)]) -> (TestApp, MockProviders) {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        platform_keys: platform.iter().map(|(p, k)| (*p, (*k).to_owned())).collect(),
        ..Default::default()
    })
    .await;
    (app, mocks)
}

/// Mocks an OpenAI chat answer for `key`, whole and streamed.
async fn answer_openai(mocks: &MockProviders, key: &str, text: &str) {
    mocks.answer_text(Provider::Openai, key, MODEL, text).await;
    let parts: Vec<&str> = text.split_inclusive(' ').collect();
    mocks.answer_chat(Provider::Openai, key, MODEL, true, chat_stream(Provider::Openai, MODEL, &parts)).await;
}

/// An API error: its code, and the server's request id for support.
#[track_caller]
fn assert_api_error(err: &Error, code: ErrorCode) {
    assert_eq!(err.code(), Some(&code), "{err:?}");
    let id = err.request_id().unwrap_or_else(|| panic!("no request id on {err:?}"));
    assert!(!id.is_empty(), "{err:?}");
}

#[track_caller]
fn assert_unauthorized(err: Error, expected: &str) {
    assert_api_error(&err, ErrorCode::Unauthorized);
    assert_eq!(api(&err).message, expected);
}

/// The error answer inside `err`.
#[track_caller]
fn api(err: &Error) -> &ApiError {
    err.api().unwrap_or_else(|| panic!("expected an error answer, got {err:?}"))
}

// ---------------------------------------------------------------------------------------------
// Every resource
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn me_and_the_rate_limit_of_the_last_answer() {
    let app = spawn_app().await;
    let sdk = app.sdk(&app.api_key);
    assert_eq!(sdk.last_rate_limit(), None, "nothing seen before the first call");

    let me = sdk.me().await.unwrap();
    assert_eq!(me.organization.id, app.org_id);
    assert_eq!(me.organization.name, "default");
    assert_eq!(me.organization.plan, Plan::Free);
    assert_eq!(me.member.id, app.owner_id);
    assert_eq!(me.member.role, Role::Owner);
    assert_eq!(me.api_key.environment, Environment::Test);

    let first = sdk.last_rate_limit().expect("rate-limit headers after a call");
    assert_eq!(first.limit, 60, "the free plan");
    assert!(first.remaining < 60);
    assert!(first.reset >= unix_now().saturating_sub(1), "{first:?}");
    // Clones share the record; each call takes one unit.
    let clone = sdk.clone();
    clone.me().await.unwrap();
    assert_eq!(sdk.last_rate_limit().unwrap().remaining + 1, first.remaining);
}

#[tokio::test]
async fn provider_keys_add_get_list_update_test_activate_resolve_and_remove() {
    let (app, mocks) = app_with_mocks(&[]).await;
    mocks.accept_models(Provider::Openai, SECOND_OPENAI).await;
    let sdk = app.sdk(&app.api_key);
    let keys = sdk.provider_keys();

    // Add, tested first.
    let first = keys
        .add(AddProviderKey::new(Provider::Openai, "OpenAI-Production", valid_key(Provider::Openai)).test_first())
        .await
        .unwrap();
    assert!(first.id.starts_with("pk_"), "{first:?}");
    assert_eq!(
        (first.provider, first.scope, first.environment),
        (Provider::Openai, KeyScope::Organization, Environment::Test)
    );
    assert_eq!(first.project_id, None);
    assert!(first.active);
    assert_eq!(first.status, KeyStatus::Ok);
    assert_eq!(first.name.as_deref(), Some("OpenAI-Production"));
    let masked = first.masked.clone().expect("admins see the masked preview");
    assert!(masked.ends_with("wxyz") && !masked.contains("VALIDopenai"), "{masked}");
    assert_eq!(first.last_test.as_ref().map(|t| t.status), Some(KeyStatus::Ok));
    assert_eq!(first.created_by.as_deref(), Some(app.owner_id.as_str()));
    assert_eq!(keys.get(&first.id).await.unwrap(), first);

    // Update in place: new secret and name, same id.
    let updated = keys
        .update(&first.id, UpdateProviderKey { name: Some("Renamed".into()), ..UpdateProviderKey::new(SECOND_OPENAI) })
        .await
        .unwrap();
    assert_eq!(updated.id, first.id);
    assert_eq!(updated.name.as_deref(), Some("Renamed"));
    assert!(updated.masked.as_deref().unwrap().ends_with("abcd"), "{updated:?}");
    let tested = keys.test(&first.id).await.unwrap();
    assert_eq!(tested.status, KeyStatus::Ok);
    assert_eq!(tested.message, "Connection successful");
    assert!(!tested.tested_at.is_empty());

    // Adding a second key for the slot makes it active and keeps the first as inactive.
    let second =
        keys.add(AddProviderKey::new(Provider::Openai, "Rotated", revoked_key(Provider::Openai))).await.unwrap();
    assert!(second.active);
    assert_eq!(second.status, KeyStatus::Untested);
    assert!(!keys.get(&first.id).await.unwrap().active);
    // A rejected key is a successful test whose status says why.
    let rejected = keys.test(&second.id).await.unwrap();
    assert_eq!((rejected.status, rejected.message.as_str()), (KeyStatus::InvalidKey, "Invalid API key"));
    assert_eq!(keys.get(&second.id).await.unwrap().status, KeyStatus::InvalidKey);

    // Roll back.
    assert!(keys.activate(&first.id).await.unwrap().active);
    assert!(!keys.get(&second.id).await.unwrap().active);
    let resolved = keys.resolve(ResolveQuery { provider: Provider::Openai, project_id: None }).await.unwrap();
    assert_eq!(resolved.source, KeySource::Organization);
    assert_eq!(resolved.key_id.as_deref(), Some(first.id.as_str()));
    assert_eq!(resolved.masked, updated.masked);
    assert!(!resolved.reason.is_empty());
    let none = keys.resolve(ResolveQuery { provider: Provider::Gemini, project_id: None }).await.unwrap();
    assert_eq!((none.source, none.key_id), (KeySource::None, None));

    // A project key overrides the organization's inside its project.
    let project = sdk.projects().create(CreateProject { name: "Support bot".into() }).await.unwrap();
    let project_key = keys
        .add(AddProviderKey::new(Provider::Openai, "Project", valid_key(Provider::Openai)).project(&project.id))
        .await
        .unwrap();
    assert_eq!((project_key.scope, project_key.project_id.as_deref()), (KeyScope::Project, Some(project.id.as_str())));
    let in_project =
        keys.resolve(ResolveQuery { provider: Provider::Openai, project_id: Some(project.id.clone()) }).await.unwrap();
    assert_eq!((in_project.source, in_project.key_id.as_deref()), (KeySource::Project, Some(project_key.id.as_str())));
    assert!(keys.get(&first.id).await.unwrap().active, "the organization's key stays active");

    // Filters.
    let all = keys.list(ProviderKeyFilter::default()).await.unwrap();
    assert_eq!(all.iter().map(|k| k.id.as_str()).collect::<HashSet<_>>().len(), 3);
    let of_project = keys.list(ProviderKeyFilter { project_id: Some(project.id.clone()), ..Default::default() }).await;
    assert_eq!(of_project.unwrap().iter().map(|k| &k.id).collect::<Vec<_>>(), [&project_key.id]);
    let gemini = keys.list(ProviderKeyFilter { provider: Some(Provider::Gemini), ..Default::default() }).await;
    assert!(gemini.unwrap().is_empty());
    let live = keys.list(ProviderKeyFilter { environment: Some(Environment::Live), ..Default::default() }).await;
    assert!(live.unwrap().is_empty(), "a test key's provider keys are test keys");

    // Members see status only.
    let (_, member) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    let seen = app.sdk(&member).provider_keys().list(ProviderKeyFilter::default()).await.unwrap();
    assert_eq!(seen.len(), 3);
    for key in &seen {
        assert!(key.name.is_none() && key.masked.is_none() && key.last_test.is_none(), "{key:?}");
    }

    // Remove.
    keys.remove(&second.id).await.unwrap();
    assert_api_error(&keys.get(&second.id).await.unwrap_err(), ErrorCode::NotFound);
    assert_eq!(keys.list(ProviderKeyFilter::default()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn completions_create_and_stream_with_the_resolved_key() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    let key = sdk
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "OpenAI", valid_key(Provider::Openai)))
        .await
        .unwrap();
    answer_openai(&mocks, valid_key(Provider::Openai), "Hello from OpenAI").await;

    let answer = sdk.completions().create(CompletionRequest::new(OPENAI_MODEL, "Say hello")).await.unwrap();
    assert!(answer.id.starts_with("cmpl_"), "{answer:?}");
    assert_eq!((answer.provider, answer.model.as_str()), (Provider::Openai, MODEL));
    assert_eq!(answer.content, "Hello from OpenAI");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!(answer.usage, Usage { input_tokens: 12, output_tokens: 5 });
    assert_eq!(answer.key_source.scope, KeySource::Organization);
    assert_eq!(answer.key_source.key_id.as_deref(), Some(key.id.as_str()));
    assert_eq!(answer.key_source.masked, key.masked);

    // A bare model name with the request's options.
    let request =
        CompletionRequest { max_tokens: Some(20), temperature: Some(0.5), ..CompletionRequest::new(MODEL, "hi") };
    assert_eq!(sdk.completions().create(request).await.unwrap().content, "Hello from OpenAI");
    let sent = mocks.chat_bodies(Provider::Openai).await.pop().unwrap();
    assert_eq!(sent["max_completion_tokens"], 20);

    let chunks: Vec<_> = sdk.completions().stream(CompletionRequest::new(OPENAI_MODEL, "Say hello")).collect().await;
    let chunks: Vec<_> = chunks.into_iter().collect::<converra::Result<_>>().unwrap();
    let text: String = chunks.iter().map(|c| c.delta.as_str()).collect();
    assert_eq!(text, "Hello from OpenAI");
    assert_eq!(chunks[0].key_source.as_ref().map(|s| s.scope), Some(KeySource::Organization));
    let last = chunks.last().unwrap();
    assert_eq!(last.finish_reason, Some(FinishReason::Stop));
    assert_eq!(last.usage, Some(Usage { input_tokens: 12, output_tokens: 5 }));
    assert!(chunks.iter().all(|c| c.id == chunks[0].id));
}

#[tokio::test]
async fn api_keys_create_list_and_revoke_which_takes_effect_on_the_next_request() {
    let app = spawn_app().await;
    let sdk = app.sdk(&app.api_key);
    let created = sdk.api_keys().create(CreateApiKey { name: "ci".into(), ..Default::default() }).await.unwrap();
    let secret = created.key.expose_secret().to_owned();
    assert!(secret.starts_with("sk_test_"), "defaults to the caller's environment");
    assert!(secret.starts_with(&created.api_key.prefix), "{:?}", created.api_key);
    assert!(secret.ends_with(&created.api_key.last_four));
    assert_eq!(created.api_key.member_id, app.owner_id);
    assert_eq!((created.api_key.revoked_at.as_ref(), created.api_key.expires_at.as_ref()), (None, None));
    assert!(!format!("{created:?}").contains(&secret), "Debug of CreatedApiKey shows the secret");

    let live = sdk
        .api_keys()
        .create(CreateApiKey { name: "prod".into(), environment: Some(Environment::Live), ..Default::default() })
        .await
        .unwrap();
    assert!(live.key.expose_secret().starts_with("sk_live_"));

    let ci = app.sdk(&secret);
    assert_eq!(ci.me().await.unwrap().api_key.name, "ci");
    let listed = sdk.api_keys().list().await.unwrap();
    assert_eq!(listed.len(), 3, "bootstrap, ci and prod: {listed:?}");
    let mine = listed.iter().find(|k| k.id == created.api_key.id).unwrap();
    assert_eq!(mine.name, "ci");
    assert!(mine.last_used_at.is_some(), "it was just used");
    let shown = format!("{listed:?}");
    assert!(!shown.contains(&secret) && !shown.contains(live.key.expose_secret()));

    sdk.api_keys().revoke(&created.api_key.id).await.unwrap();
    assert_unauthorized(ci.me().await.unwrap_err(), "API key has been revoked");
    let revoked = sdk.api_keys().list().await.unwrap().into_iter().find(|k| k.id == created.api_key.id).unwrap();
    assert!(revoked.revoked_at.is_some());
}

#[tokio::test]
async fn members_create_list_update_role_and_remove() {
    let app = spawn_app().await;
    let sdk = app.sdk(&app.api_key);
    let members = sdk.members();
    let dev = members.create(CreateMember { email: "dev@example.com".into(), role: Role::Member }).await.unwrap();
    assert!(dev.id.starts_with("mem_"), "{dev:?}");
    assert_eq!((dev.email.as_str(), dev.role), ("dev@example.com", Role::Member));
    let listed = members.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|m| m.id == app.owner_id && m.role == Role::Owner));

    let promoted = members.update_role(&dev.id, Role::Admin).await.unwrap();
    assert_eq!((promoted.id.as_str(), promoted.role), (dev.id.as_str(), Role::Admin));

    // Conflicts: a duplicate email, the last owner.
    let dup = members.create(CreateMember { email: "dev@example.com".into(), role: Role::Member }).await.unwrap_err();
    assert_api_error(&dup, ErrorCode::Conflict);
    assert!(
        api(&dup).code == Some(ErrorCode::Conflict) && api(&dup).message == "A member with this email already exists"
    );
    let demote = members.update_role(&app.owner_id, Role::Member).await.unwrap_err();
    assert!(
        api(&demote).code == Some(ErrorCode::Conflict) && api(&demote).message.contains("last owner"),
        "{demote:?}"
    );
    assert_api_error(&demote, ErrorCode::Conflict);
    let remove_owner = members.remove(&app.owner_id).await.unwrap_err();
    assert!(api(&remove_owner).code == Some(ErrorCode::Conflict) && api(&remove_owner).message.contains("last owner"));

    members.remove(&dev.id).await.unwrap();
    assert_eq!(members.list().await.unwrap().len(), 1);
    assert_api_error(&members.remove(&dev.id).await.unwrap_err(), ErrorCode::NotFound);
}

#[tokio::test]
async fn projects_create_list_get_and_remove() {
    let app = spawn_app().await;
    let sdk = app.sdk(&app.api_key);
    let projects = sdk.projects();
    let p = projects.create(CreateProject { name: "Support bot".into() }).await.unwrap();
    assert!(p.id.starts_with("prj_"), "{p:?}");
    assert_eq!(p.name, "Support bot");
    assert_eq!(projects.get(&p.id).await.unwrap(), p);
    assert_eq!(projects.list().await.unwrap(), std::slice::from_ref(&p));
    let dup = projects.create(CreateProject { name: "Support bot".into() }).await.unwrap_err();
    assert_api_error(&dup, ErrorCode::Conflict);

    projects.remove(&p.id).await.unwrap();
    assert!(projects.list().await.unwrap().is_empty());
    let gone = projects.get(&p.id).await.unwrap_err();
    assert_api_error(&gone, ErrorCode::NotFound);
    assert!(gone.code() == Some(&ErrorCode::NotFound));
}

#[tokio::test]
async fn usage_audit_events_and_ai_settings() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    let key = sdk
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "OpenAI", valid_key(Provider::Openai)))
        .await
        .unwrap();
    answer_openai(&mocks, valid_key(Provider::Openai), "ok").await;

    // Settings: read, change the tone, which then reaches the provider as a system instruction.
    let settings = sdk.settings().get_ai().await.unwrap();
    assert!(settings.enabled);
    let friendly = UpdateAiSettings { tone: Some(Tone::Friendly), ..Default::default() };
    let changed = sdk.settings().update_ai(friendly).await.unwrap();
    assert_eq!((changed.enabled, changed.tone), (true, Some(Tone::Friendly)));
    assert_eq!(sdk.settings().get_ai().await.unwrap(), changed);
    sdk.completions().create(CompletionRequest::new(OPENAI_MODEL, "hi")).await.unwrap();
    let sent = mocks.chat_bodies(Provider::Openai).await.pop().unwrap();
    assert_eq!(sent["messages"][0]["role"], "system");

    // Usage of this month.
    let report = sdk.usage().get(UsageQuery::default()).await.unwrap();
    assert_eq!(report.month.len(), 7, "{report:?}");
    assert_eq!((report.totals.requests, report.totals.input_tokens, report.totals.output_tokens), (1, 12, 5));
    assert_eq!(report.by_provider.len(), 1);
    assert_eq!(report.by_provider[0].key.as_deref(), Some("openai"));
    assert_eq!(report.by_key_source[0].key.as_deref(), Some("organization"));
    assert_eq!(report.allowance, None, "no platform key is configured here, so there is no allowance to show");
    let same = sdk.usage().get(UsageQuery { month: Some(report.month.clone()) }).await.unwrap();
    assert_eq!(same, report);
    let bad = sdk.usage().get(UsageQuery { month: Some("2026-13".into()) }).await.unwrap_err();
    assert_api_error(&bad, ErrorCode::ValidationError);
    assert!(api(&bad).field.as_deref() == Some("month"), "{bad:?}");

    // The audit log has both changes, and never a secret.
    let events = sdk.audit_events().list().await.unwrap();
    let created = events.iter().find(|e| e.action == "provider_key.created").expect("provider_key.created");
    assert_eq!((created.object_type.as_str(), created.object_id.as_str()), ("provider_key", key.id.as_str()));
    assert_eq!(created.actor.member_id.as_deref(), Some(app.owner_id.as_str()));
    assert_eq!(created.outcome, "success");
    assert!(events.iter().any(|e| e.object_type == "settings" || e.action.starts_with("settings")), "{events:?}");
    assert!(!format!("{events:?}").contains(valid_key(Provider::Openai)));
}

// ---------------------------------------------------------------------------------------------
// Every error variant
// ---------------------------------------------------------------------------------------------

/// A local proxy to `target` that removes the `Authorization` header from the first request of
/// each connection: the only way to send the SDK's request without its key.
async fn header_stripping_proxy(target: std::net::SocketAddr) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = client.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let head: String = head
                    .split_inclusive("\r\n")
                    .filter(|line| !line.to_ascii_lowercase().starts_with("authorization:"))
                    .collect();
                let Ok(mut server) = tokio::net::TcpStream::connect(target).await else { return };
                if server.write_all(head.as_bytes()).await.is_err() || server.write_all(&buf[head_end..]).await.is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn unauthorized_carries_each_of_the_four_messages() {
    let app = spawn_app().await;

    // No header at all.
    let proxy = header_stripping_proxy(app.addr).await;
    let no_header = Converra::builder().api_key(&app.api_key).base_url(proxy).max_retries(0).build().unwrap();
    assert_unauthorized(no_header.me().await.unwrap_err(), "Authorization header required");

    // Unknown or malformed.
    assert_unauthorized(app.sdk("sk_test_notarealkey").me().await.unwrap_err(), "Invalid API key");
    assert_unauthorized(app.sdk("not-even-a-key").me().await.unwrap_err(), "Invalid API key");

    // Revoked: on the very next request.
    let sdk = app.sdk(&app.api_key);
    let created = sdk.api_keys().create(CreateApiKey { name: "temp".into(), ..Default::default() }).await.unwrap();
    let temp = app.sdk(created.key.expose_secret());
    temp.me().await.unwrap();
    sdk.api_keys().revoke(&created.api_key.id).await.unwrap();
    assert_unauthorized(temp.me().await.unwrap_err(), "API key has been revoked");

    // Expired.
    let expires = unix_now() + 2;
    let short = sdk
        .api_keys()
        .create(CreateApiKey { name: "short-lived".into(), expires_at: Some(rfc3339(expires)), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(short.api_key.expires_at.as_deref(), Some(rfc3339(expires).as_str()));
    let short_lived = app.sdk(short.key.expose_secret());
    short_lived.me().await.unwrap();
    while unix_now() <= expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = short_lived.me().await.unwrap_err();
    assert!(!err.to_string().contains(short.key.expose_secret()));
    assert_unauthorized(err, "API key has expired");

    // An expiry in the past is a validation error on `expires_at`.
    let past = sdk
        .api_keys()
        .create(CreateApiKey { name: "past".into(), expires_at: Some(rfc3339(unix_now() - 60)), ..Default::default() })
        .await
        .unwrap_err();
    assert!(api(&past).field.as_deref() == Some("expires_at"), "{past:?}");
}

#[tokio::test]
async fn forbidden_for_a_member_and_for_an_admin_changing_ai_settings() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let (_, member) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    let member = app.sdk(&member);
    let refused = member
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "mine", valid_key(Provider::Openai)))
        .await
        .unwrap_err();
    assert_api_error(&refused, ErrorCode::Forbidden);
    assert!(refused.code() == Some(&ErrorCode::Forbidden));
    assert!(!format!("{refused:?}").contains(valid_key(Provider::Openai)));
    assert_api_error(&member.audit_events().list().await.unwrap_err(), ErrorCode::Forbidden);
    assert_api_error(&member.members().list().await.unwrap_err(), ErrorCode::Forbidden);
    // What a member may do still works.
    assert_eq!(member.me().await.unwrap().member.role, Role::Member);
    assert!(member.settings().get_ai().await.unwrap().enabled);

    let (_, admin) = app.member_key(&app.api_key, "admin@example.com", "admin").await;
    let update = UpdateAiSettings { enabled: Some(false), ..Default::default() };
    assert_api_error(&app.sdk(&admin).settings().update_ai(update).await.unwrap_err(), ErrorCode::Forbidden);
}

#[tokio::test]
async fn another_organizations_ids_are_not_found() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let other = app.sdk(&app.new_org("acme", Plan::Pro).await);
    let their_project = other.projects().create(CreateProject { name: "theirs".into() }).await.unwrap();
    let their_key = other
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "theirs", valid_key(Provider::Openai)))
        .await
        .unwrap();
    let their_member = other.members().list().await.unwrap().remove(0);

    let sdk = app.sdk(&app.api_key);
    let errors = [
        sdk.projects().get(&their_project.id).await.unwrap_err(),
        sdk.projects().remove(&their_project.id).await.unwrap_err(),
        sdk.provider_keys().get(&their_key.id).await.unwrap_err(),
        sdk.provider_keys().test(&their_key.id).await.unwrap_err(),
        sdk.provider_keys().activate(&their_key.id).await.unwrap_err(),
        sdk.provider_keys().remove(&their_key.id).await.unwrap_err(),
        sdk.members().update_role(&their_member.id, Role::Member).await.unwrap_err(),
        sdk.provider_keys().get("pk_doesnotexist").await.unwrap_err(),
    ];
    for err in &errors {
        assert_api_error(err, ErrorCode::NotFound);
        assert!(err.code() == Some(&ErrorCode::NotFound), "{err:?}");
    }
    // Still there for its owner.
    assert!(other.provider_keys().get(&their_key.id).await.unwrap().active);
    assert_eq!(other.projects().get(&their_project.id).await.unwrap().name, "theirs");
}

#[tokio::test]
async fn validation_names_the_field_and_never_echoes_the_secret() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    let wrong = valid_key(Provider::Gemini);
    let err = sdk.provider_keys().add(AddProviderKey::new(Provider::Openai, "wrong", wrong)).await.unwrap_err();
    assert_api_error(&err, ErrorCode::ValidationError);
    assert!(api(&err).field.as_deref() == Some("api_key"), "{err:?}");
    assert!(!err.to_string().contains(wrong) && !format!("{err:?}").contains(wrong), "{err:?}");

    let err = sdk.projects().create(CreateProject { name: String::new() }).await.unwrap_err();
    assert!(api(&err).field.as_deref() == Some("name"), "{err:?}");
    let err = sdk.completions().create(CompletionRequest::new("llama-3", "hi")).await.unwrap_err();
    assert!(api(&err).field.as_deref() == Some("model"), "{err:?}");
}

#[tokio::test]
async fn an_oversized_body_is_payload_too_large() {
    let app = spawn_app_with(Options { body_limit: Some(512), ..Default::default() }).await;
    let sdk = app.sdk(&app.api_key);
    let err = sdk.projects().create(CreateProject { name: "x".repeat(2000) }).await.unwrap_err();
    assert_api_error(&err, ErrorCode::PayloadTooLarge);
    assert!(err.code() == Some(&ErrorCode::PayloadTooLarge));
    // Small bodies still pass.
    sdk.projects().create(CreateProject { name: "small".into() }).await.unwrap();
}

#[tokio::test]
async fn the_third_call_at_two_per_minute_is_rate_limited_with_retry_after() {
    let app = spawn_app().await;
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(2), None, None).await.expect("plan set");
    let sdk = app.sdk(&app.api_key);
    sdk.me().await.unwrap();
    sdk.projects().list().await.unwrap();
    let limit = sdk.last_rate_limit().unwrap();
    assert_eq!((limit.limit, limit.remaining), (2, 0));

    let err = sdk.me().await.unwrap_err();
    assert_api_error(&err, ErrorCode::RateLimited);
    let wait = err.retry_after().expect("Retry-After");
    assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60), "{wait:?}");
    assert!(err.code() == Some(&ErrorCode::RateLimited) && err.retry_after().is_some());
    let limit = sdk.last_rate_limit().unwrap();
    assert_eq!((limit.limit, limit.remaining), (2, 0));

    // With default retries, a non-idempotent call is never retried: the error comes at once.
    let retrying = Converra::builder().api_key(&app.api_key).base_url(&app.base_url).build().unwrap();
    let started = Instant::now();
    let err = retrying.projects().create(CreateProject { name: "p".into() }).await.unwrap_err();
    assert!(err.code() == Some(&ErrorCode::RateLimited) && err.retry_after().is_some(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "POST was retried: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_idempotent_call_waits_out_a_short_retry_after_and_succeeds() {
    let app = spawn_app().await;
    // 60 a minute: one unit comes back every second, so Retry-After is about a second.
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(60), None, None).await.expect("plan set");
    let once = app.sdk(&app.api_key);
    let retrying = Converra::builder().api_key(&app.api_key).base_url(&app.base_url).max_retries(2).build().unwrap();
    let mut refused = None;
    for _ in 0..70 {
        if let Err(e) = once.me().await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("the limit is reached within 70 calls");
    let wait = refused.retry_after().expect("Retry-After");
    assert!(wait <= Duration::from_secs(2), "{wait:?}");

    // Its first attempt comes a few milliseconds after the refusal, so it is refused too (the
    // next unit is due up to a second later), waits Retry-After (whole seconds) and succeeds.
    let started = Instant::now();
    let me = retrying.me().await.expect("retried after Retry-After");
    assert_eq!(me.organization.id, app.org_id);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn no_provider_key_whole_and_streamed() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    let err = sdk.completions().create(CompletionRequest::new("anthropic/claude-sonnet-4-5", "hi")).await.unwrap_err();
    assert_api_error(&err, ErrorCode::NoProviderKey);
    assert!(api(&err).code == Some(ErrorCode::NoProviderKey) && api(&err).message.contains("anthropic"), "{err:?}");

    let items: Vec<_> =
        sdk.completions().stream(CompletionRequest::new("anthropic/claude-sonnet-4-5", "hi")).collect().await;
    assert_eq!(items.len(), 1, "the failure is the stream's only item");
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert_api_error(&err, ErrorCode::NoProviderKey);
}

#[tokio::test]
async fn the_platform_allowance_runs_out() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, PLATFORM_OPENAI)]).await;
    answer_openai(&mocks, PLATFORM_OPENAI, "on the house").await;
    // Room for one call that reserves its estimated prompt (12 tokens) plus max_tokens (5).
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, None, Some(17), None).await.expect("plan set");
    let sdk = app.sdk(&app.api_key);
    let resolved = sdk.provider_keys().resolve(ResolveQuery { provider: Provider::Openai, project_id: None }).await;
    assert_eq!(resolved.unwrap().source, KeySource::Platform);

    let ask = CompletionRequest {
        max_tokens: Some(5),
        ..CompletionRequest::new(OPENAI_MODEL, "Please answer this question in one short word.")
    };
    let first = sdk.completions().create(ask).await.unwrap();
    assert_eq!((first.content.as_str(), first.key_source.scope), ("on the house", KeySource::Platform));
    assert_eq!(first.key_source.key_id, None);

    let err = sdk.completions().create(CompletionRequest::new(OPENAI_MODEL, "hi")).await.unwrap_err();
    assert_api_error(&err, ErrorCode::AllowanceExhausted);
    assert!(err.code() == Some(&ErrorCode::AllowanceExhausted));
    let report = sdk.usage().get(UsageQuery::default()).await.unwrap();
    let allowance = report.allowance.expect("a platform key is configured: the allowance is shown");
    assert_eq!((allowance.limit, allowance.used, allowance.remaining), (17, 17, 0));
}

#[tokio::test]
async fn ai_disabled_whole_and_streamed() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    sdk.provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "OpenAI", valid_key(Provider::Openai)))
        .await
        .unwrap();
    answer_openai(&mocks, valid_key(Provider::Openai), "ok").await;

    let off = sdk.settings().update_ai(UpdateAiSettings { enabled: Some(false), ..Default::default() }).await.unwrap();
    assert!(!off.enabled);
    let err = sdk.completions().create(CompletionRequest::new(OPENAI_MODEL, "hi")).await.unwrap_err();
    assert_api_error(&err, ErrorCode::AiDisabled);
    assert!(err.code() == Some(&ErrorCode::AiDisabled));
    let first = sdk.completions().stream(CompletionRequest::new(OPENAI_MODEL, "hi")).next().await.unwrap();
    assert_eq!(first.as_ref().err().and_then(Error::code), Some(&ErrorCode::AiDisabled), "{first:?}");

    sdk.settings().update_ai(UpdateAiSettings { enabled: Some(true), ..Default::default() }).await.unwrap();
    assert_eq!(sdk.completions().create(CompletionRequest::new(OPENAI_MODEL, "hi")).await.unwrap().content, "ok");
}

#[tokio::test]
async fn a_key_the_provider_rejects_is_a_provider_error_with_its_status() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let dead = "sk-proj-DEADkey0123456789abcdefghzzzz";
    let sdk = app.sdk(&app.api_key);
    let key = sdk.provider_keys().add(AddProviderKey::new(Provider::Openai, "dead", dead)).await.unwrap();
    mocks.answer_chat(Provider::Openai, dead, MODEL, false, invalid_key_answer(Provider::Openai, dead)).await;

    let err = sdk.completions().create(CompletionRequest::new(OPENAI_MODEL, "hi")).await.unwrap_err();
    assert_api_error(&err, ErrorCode::ProviderError);
    assert_eq!(
        (api(&err).provider_status, api(&err).message.as_str()),
        (Some(KeyStatus::InvalidKey), "Invalid API key")
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("DEADkey") && !shown.contains("Incorrect API key provided"), "{shown}");
    assert_eq!(sdk.provider_keys().get(&key.id).await.unwrap().status, KeyStatus::InvalidKey);

    // Adding with test_first refuses the key: the caller's error, and nothing is stored.
    let refused = sdk
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "revoked", revoked_key(Provider::Openai)).test_first())
        .await
        .unwrap_err();
    assert_api_error(&refused, ErrorCode::KeyRejected);
    let answer = api(&refused);
    assert_eq!(
        (answer.status, answer.provider_status, answer.stored),
        (Some(422), Some(KeyStatus::InvalidKey), Some(false))
    );
    assert_eq!(
        (answer.host.as_deref(), refused.to_string().as_str()),
        (None, "The key was not stored: Invalid API key")
    );
}

#[tokio::test]
async fn debug_output_never_shows_a_secret() {
    let app = spawn_app().await;
    let sdk = app.sdk(&app.api_key);
    let shown = format!("{sdk:?} {:?}", sdk.clone());
    assert!(!shown.contains(&app.api_key), "{shown}");
    assert!(shown.contains(&app.base_url), "{shown}");
    let from_builder = Converra::builder().api_key(&app.api_key).base_url(&app.base_url);
    assert!(!format!("{from_builder:?}").contains(&app.api_key));

    let created = sdk.api_keys().create(CreateApiKey { name: "shown once".into(), ..Default::default() }).await;
    let created = created.unwrap();
    let secret = created.key.expose_secret();
    assert!(!format!("{created:?} {:#?}", created).contains(secret));

    let add = AddProviderKey::new(Provider::Openai, "x", valid_key(Provider::Openai));
    assert!(!format!("{add:?}").contains(valid_key(Provider::Openai)));
    let update = UpdateProviderKey::new(SECOND_OPENAI);
    assert!(!format!("{update:?}").contains(SECOND_OPENAI));

    // The secret shown once is the working key.
    assert_eq!(app.sdk(secret).me().await.unwrap().api_key.name, "shown once");
}
