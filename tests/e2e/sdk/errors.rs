//! Every error variant the server can produce, as the SDK reports it, each with its request
//! id: 401s, 403s, 404s, validation, 413, rate limits with Retry-After, provider errors.

use super::*;

#[tokio::test]
async fn unauthorized_carries_each_of_the_four_messages() {
    let app = spawn_app().await;

    // No header at all.
    // A proxy removes the header: the only way to send the SDK's request without its key.
    let proxy = converra_test_kit::proxy::start(&app.base_url, None).await;
    let no_header =
        Converra::builder().api_key(&app.api_key).base_url(format!("http://{proxy}")).max_retries(0).build().unwrap();
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
