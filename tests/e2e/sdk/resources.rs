//! Every resource handle of the SDK against the real server: me, provider keys, completions
//! (whole and streamed), API keys, members, projects, usage, audit events and AI settings.

use super::*;

/// An app whose organization has an OpenAI key (added through the SDK) that answers `text`:
/// the app, its provider mocks, the SDK as its owner, and the stored key.
async fn with_an_openai_key_saying(text: &str) -> (TestApp, MockProviders, Converra, ProviderKey) {
    let (app, mocks) = app_with_mocks(&[]).await;
    let sdk = app.sdk(&app.api_key);
    let key = sdk
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "OpenAI", valid_key(Provider::Openai)))
        .await
        .unwrap();
    answer_openai(&mocks, valid_key(Provider::Openai), text).await;
    (app, mocks, sdk, key)
}

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
    let (_app, mocks, sdk, key) = with_an_openai_key_saying("Hello from OpenAI").await;

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
    let (app, mocks, sdk, key) = with_an_openai_key_saying("ok").await;

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
