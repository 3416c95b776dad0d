//! The MCP face over Streamable HTTP at `/api/mcp`, driven by the official rmcp client against
//! the real server: initialize, the tool list (schemas, annotations), every tool's happy path,
//! role, tenant and validation failures as tool errors, and the HTTP-level guarantees
//! (same 401s and rate-limit headers as REST, DNS-rebinding protection, no OAuth discovery).

use converra::{Plan, Provider};
use converra_test_kit::mcp::{Client, MCP_TOOLS, call, connect};
use converra_test_kit::providers::{revoked_key, valid_key};
use converra_test_kit::{Answer, TestApp, app_with_mocks, spawn_app};
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use serde_json::{Value, json};

fn text_of(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect::<Vec<_>>().join("\n")
}

/// The structured answer of a successful call (its text copy says the same).
pub(super) fn ok(result: CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "tool error: {}", text_of(&result));
    let structured = result.structured_content.clone().expect("structuredContent");
    assert!(structured.is_object(), "structured content is an object: {structured}");
    let text: Value = serde_json::from_str(&text_of(&result)).expect("the text copy is JSON");
    assert_eq!(text, structured);
    structured
}

/// The REST error body carried by a tool error.
pub(super) fn tool_error(result: CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(true), "expected a tool error, got {result:?}");
    assert!(result.structured_content.is_none(), "errors carry no structured content");
    serde_json::from_str(&text_of(&result)).unwrap_or_else(|_| panic!("error text is JSON: {}", text_of(&result)))
}

pub(super) fn assert_tool_error(result: CallToolResult, code: &str, message: &str) -> Value {
    let body = tool_error(result);
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
    body
}

/// Stores the valid OpenAI key as `OpenAI-Production` through the tool; its id.
async fn add_openai_key(owner: &Client) -> String {
    let arguments = json!({"provider": "openai", "name": "OpenAI-Production", "api_key": valid_key(Provider::Openai)});
    ok(call(owner, "add_provider_key", arguments).await)["id"].as_str().unwrap().to_owned()
}

/// A raw JSON-RPC POST to `/api/mcp`, with the headers the transport requires.
async fn raw_post(app: &TestApp, headers: &[(&str, &str)], body: Value) -> Answer {
    let mut request = app
        .http
        .post(app.url("/api/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Answer::of(request.send().await.expect("request sent")).await
}

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
}

fn find<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("tool {name} listed"))
}

#[tokio::test]
async fn initialize_names_the_server_and_lists_eight_tools_with_schemas_and_annotations() {
    let app = spawn_app().await;
    let client = connect(&app, &app.api_key).await;

    let info = client.peer_info().expect("initialized");
    let server = info.server_info.as_ref().expect("server info");
    assert_eq!(server.name, "converra");
    assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
    let instructions = info.instructions.as_deref().expect("instructions");
    for tool in MCP_TOOLS {
        assert!(instructions.contains(tool), "instructions mention {tool}");
    }
    // They recommend what add_provider_key's own description does: the connect link.
    assert!(instructions.contains("add_provider_key WITHOUT api_key"), "{instructions}");
    assert!(info.capabilities.tools.is_some());

    let tools = client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, MCP_TOOLS);

    for tool in &tools {
        let name = &tool.name;
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(
            description.len() > 120 && description.len() < 2048,
            "{name}: description of {} chars",
            description.len()
        );
        assert!(tool.title.is_some(), "{name} has a title");
        // `mcp__converra__<name>` must stay well under the 64 characters models accept.
        assert!(name.len() + "mcp__converra__".len() <= 64);

        let input = Value::Object((*tool.input_schema).clone());
        assert_eq!(input["type"], "object", "{name}: {input}");
        for combinator in ["oneOf", "anyOf", "allOf", "not", "if"] {
            assert!(
                input.get(combinator).is_none(),
                "{name}: top-level {combinator} hides the tool from Claude Code: {input}"
            );
        }
        assert!(input["properties"].is_object(), "{name}: {input}");
        assert_eq!(input["additionalProperties"], false, "{name} rejects unknown arguments: {input}");
        for (field, schema) in input["properties"].as_object().unwrap() {
            let described =
                schema.get("description").is_some() || schema.get("$ref").is_some() && input["$defs"].is_object();
            assert!(described, "{name}.{field} has a description: {schema}");
        }

        let output =
            Value::Object((*tool.output_schema.clone().unwrap_or_else(|| panic!("{name}: outputSchema"))).clone());
        assert_eq!(output["type"], "object", "{name}: {output}");

        assert!(tool.annotations.is_some(), "{name} has annotations");
    }

    let hints = |name: &str| {
        let a = find(&tools, name).annotations.clone().unwrap();
        (a.read_only_hint, a.destructive_hint, a.idempotent_hint)
    };
    for read_only in ["list_provider_keys", "resolve_provider_key", "get_usage"] {
        assert_eq!(hints(read_only), (Some(true), Some(false), Some(true)), "{read_only}");
    }
    assert_eq!(hints("revoke_provider_key"), (Some(false), Some(true), Some(true)));
    assert_eq!(hints("test_provider_key"), (Some(false), Some(false), Some(true)));
    assert_eq!(hints("add_provider_key"), (Some(false), Some(false), Some(false)));
    assert_eq!(hints("run_completion"), (Some(false), Some(false), Some(false)));
    assert_eq!(hints("set_budget"), (Some(false), Some(false), Some(true)));

    // Parameters the model must see.
    let props = |name: &str| Value::Object((*find(&tools, name).input_schema).clone())["properties"].clone();
    let add = props("add_provider_key");
    for field in ["provider", "name", "api_key", "project_id", "environment", "test"] {
        assert!(add.get(field).is_some(), "add_provider_key.{field}");
    }
    let add_schema = Value::Object((*find(&tools, "add_provider_key").input_schema).clone());
    // `api_key` is optional: without it the tool answers with a connect link (the recommended path).
    assert_eq!(add_schema["required"], json!(["provider", "name"]));
    let run = props("run_completion");
    assert!(run.get("stream").is_none(), "streaming does not apply to a tool");
    for field in ["model", "messages", "max_tokens", "temperature", "stop", "project_id", "tone"] {
        assert!(run.get(field).is_some(), "run_completion.{field}");
    }
    assert!(props("test_provider_key").get("id").is_some());
    assert!(props("revoke_provider_key").get("id").is_some());
    assert!(props("resolve_provider_key").get("provider").is_some());
    assert!(props("get_usage").get("month").is_some());
    for field in ["scope", "scope_id", "model", "limit_micro_usd", "threshold_percent"] {
        assert!(props("set_budget").get(field).is_some(), "set_budget.{field}");
    }

    let add_description = find(&tools, "add_provider_key").description.as_deref().unwrap();
    assert!(add_description.contains("RECOMMENDED: leave `api_key` out"), "{add_description}");
    assert!(add_description.contains("connect_link"), "{add_description}");
    assert!(add_description.contains("WARNING") && add_description.contains("conversation"), "{add_description}");

    client.cancel().await.ok();
}

#[tokio::test]
async fn every_tool_works_for_an_owner() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let client = connect(&app, &app.api_key).await;
    let secret = valid_key(Provider::Openai);

    let empty = ok(call(&client, "list_provider_keys", json!({})).await);
    assert_eq!(empty, json!({"data": []}));

    let added = call(
        &client,
        "add_provider_key",
        json!({"provider": "openai", "name": "OpenAI-Production", "api_key": secret, "test": true}),
    )
    .await;
    assert!(!text_of(&added).contains(secret), "the secret is never echoed");
    let added = ok(added);
    let id = added["id"].as_str().expect("id").to_owned();
    assert_eq!(added["provider"], "openai");
    assert_eq!(added["name"], "OpenAI-Production");
    assert_eq!(added["scope"], "organization");
    assert_eq!(added["environment"], "test");
    assert_eq!(added["active"], true);
    assert_eq!(added["status"], "ok");
    assert!(added["masked"].as_str().unwrap().ends_with("wxyz"));

    let listed = ok(call(&client, "list_provider_keys", json!({"provider": "openai"})).await);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let other = ok(call(&client, "list_provider_keys", json!({"provider": "anthropic", "environment": "test"})).await);
    assert_eq!(other, json!({"data": []}));

    let tested = ok(call(&client, "test_provider_key", json!({"id": id})).await);
    assert_eq!(tested["status"], "ok");
    assert_eq!(tested["message"], "Connection successful");
    assert!(tested["tested_at"].is_string() && tested["latency_ms"].is_u64());

    let resolved = ok(call(&client, "resolve_provider_key", json!({"provider": "openai"})).await);
    assert_eq!(resolved["source"], "organization");
    assert_eq!(resolved["key_id"], id.as_str());
    assert!(resolved["reason"].as_str().unwrap().contains("organization"));

    mocks.answer_text(Provider::Openai, secret, "gpt-4o-mini", "Hello there!").await;
    let completion = ok(call(
        &client,
        "run_completion",
        json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 20}),
    )
    .await);
    assert_eq!(completion["provider"], "openai");
    assert_eq!(completion["model"], "gpt-4o-mini");
    assert_eq!(completion["content"], "Hello there!");
    assert_eq!(completion["finish_reason"], "stop");
    assert_eq!(completion["usage"], json!({"input_tokens": 12, "output_tokens": 5}));
    assert_eq!(completion["key_source"]["scope"], "organization");
    assert_eq!(completion["key_source"]["key_id"], id.as_str());
    let sent = mocks.chat_bodies(Provider::Openai).await.pop().expect("the provider was called");
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert!(sent.get("stream").is_none_or(|s| s == false), "{sent}");

    let usage = ok(call(&client, "get_usage", json!({})).await);
    assert_eq!(usage["totals"]["requests"], 1);
    assert_eq!(usage["totals"]["input_tokens"], 12);
    assert_eq!(usage["by_provider"][0]["key"], "openai");
    assert!(usage.get("allowance").is_none(), "no platform key configured here: {usage}");
    let month = usage["month"].as_str().unwrap().to_owned();
    let same = ok(call(&client, "get_usage", json!({"month": month})).await);
    assert_eq!(same["totals"], usage["totals"]);

    let removed = ok(call(&client, "revoke_provider_key", json!({"id": id})).await);
    assert_eq!(removed, json!({"id": id, "removed": true}));
    assert_eq!(ok(call(&client, "list_provider_keys", json!({})).await), json!({"data": []}));
    assert_eq!(ok(call(&client, "resolve_provider_key", json!({"provider": "openai"})).await)["source"], "none");
    // Revoking again: the key is gone.
    assert_tool_error(
        call(&client, "revoke_provider_key", json!({"id": id})).await,
        "NOT_FOUND",
        "Provider key not found",
    );

    // The same answers as REST: the audit trail recorded what the tools did.
    let audit = app.get("/api/v1/audit-events", &app.api_key).await;
    let actions: Vec<_> =
        audit.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["provider_key.created", "provider_key.tested", "provider_key.removed"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    client.cancel().await.ok();
}

#[tokio::test]
async fn members_see_status_only_and_may_not_manage_keys() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let owner = connect(&app, &app.api_key).await;
    let id = add_openai_key(&owner).await;

    let (_, member_key) = app.member_key(&app.api_key, "m@x.example", "member").await;
    let member = connect(&app, &member_key).await;

    let listed = ok(call(&member, "list_provider_keys", json!({})).await);
    let key = &listed["data"][0];
    assert_eq!(key["id"], id.as_str());
    assert_eq!(key["status"], "untested");
    for hidden in ["name", "masked", "last_test", "created_by"] {
        assert!(key.get(hidden).is_none(), "members do not see {hidden}: {key}");
    }
    let resolved = ok(call(&member, "resolve_provider_key", json!({"provider": "openai"})).await);
    assert_eq!(resolved["source"], "organization");
    assert!(resolved.get("masked").is_none());
    ok(call(&member, "get_usage", json!({})).await);

    let forbidden = "This action requires the admin or owner role";
    let add = json!({"provider": "anthropic", "name": "Mine", "api_key": valid_key(Provider::Anthropic)});
    assert_tool_error(call(&member, "add_provider_key", add).await, "FORBIDDEN", forbidden);
    assert_tool_error(call(&member, "test_provider_key", json!({"id": id})).await, "FORBIDDEN", forbidden);
    assert_tool_error(call(&member, "revoke_provider_key", json!({"id": id})).await, "FORBIDDEN", forbidden);
    // REST says the same.
    app.delete(&format!("/api/v1/provider-keys/{id}"), &member_key).await.assert_error(403, "FORBIDDEN", forbidden);
    assert_eq!(ok(call(&owner, "list_provider_keys", json!({})).await)["data"].as_array().unwrap().len(), 1);

    // Members run completions; with no key for the provider and no platform allowance:
    let no_key = assert_tool_error(
        call(
            &member,
            "run_completion",
            json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await,
        "NO_PROVIDER_KEY",
        "No anthropic key is configured for this scope and no platform allowance covers it: add a provider key",
    );
    let rest = app
        .post(
            "/api/v1/completions",
            &member_key,
            json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(rest.status, 409);
    assert_eq!(rest.body, no_key, "the tool error carries the REST body");
    member.cancel().await.ok();
    owner.cancel().await.ok();
}

#[tokio::test]
async fn another_organizations_key_is_not_found() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let owner = connect(&app, &app.api_key).await;
    let id = add_openai_key(&owner).await;

    let other_key = app.new_org("other", Plan::Free).await;
    let other = connect(&app, &other_key).await;
    assert_eq!(ok(call(&other, "list_provider_keys", json!({})).await), json!({"data": []}));
    let not_found = "Provider key not found";
    assert_tool_error(call(&other, "test_provider_key", json!({"id": id})).await, "NOT_FOUND", not_found);
    assert_tool_error(call(&other, "revoke_provider_key", json!({"id": id})).await, "NOT_FOUND", not_found);
    assert_eq!(ok(call(&other, "resolve_provider_key", json!({"provider": "openai"})).await)["source"], "none");
    assert_tool_error(
        call(&other, "resolve_provider_key", json!({"provider": "openai", "project_id": "prj_nope"})).await,
        "NOT_FOUND",
        "Project not found",
    );
    // Untouched for its owner.
    assert_eq!(ok(call(&owner, "list_provider_keys", json!({})).await)["data"][0]["id"], id.as_str());
    other.cancel().await.ok();
    owner.cancel().await.ok();
}

#[tokio::test]
async fn a_key_that_fails_its_test_is_a_tool_error_saying_it_was_not_stored() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    let client = connect(&app, &app.api_key).await;
    let secret = revoked_key(Provider::Openai);
    let arguments = json!({"provider": "openai", "name": "Rejected", "api_key": secret, "test": true});
    let result = call(&client, "add_provider_key", arguments).await;
    assert!(!text_of(&result).contains(secret), "the secret is never echoed");
    let body = tool_error(result);
    assert_eq!(
        body,
        json!({"error": {"code": "KEY_REJECTED", "message": "Invalid API key", "provider_status": "invalid_key", "stored": false}})
    );
    assert_eq!(ok(call(&client, "list_provider_keys", json!({})).await), json!({"data": []}));
    client.cancel().await.ok();
}

#[tokio::test]
async fn invalid_arguments_are_validation_tool_errors_naming_the_field() {
    let app = spawn_app().await;
    let client = connect(&app, &app.api_key).await;

    let body = tool_error(call(&client, "resolve_provider_key", json!({"provider": "foo"})).await);
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["field"], "provider");
    assert!(body["error"]["message"].as_str().unwrap().contains("unknown variant `foo`"), "{body}");

    let body = tool_error(call(&client, "list_provider_keys", json!({"provder": "openai"})).await);
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert!(body["error"]["message"].as_str().unwrap().contains("provder"), "{body}");

    let body = tool_error(call(&client, "test_provider_key", json!({})).await);
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert!(body["error"]["message"].as_str().unwrap().contains("missing field `id`"), "{body}");

    let body = tool_error(
        call(&client, "run_completion", json!({"model": "gpt-4o-mini", "messages": [], "stream": true})).await,
    );
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "stream is not a tool argument: {body}");
    assert_eq!(body["error"]["field"], "stream", "{body}");
    assert_eq!(
        body["error"]["message"],
        "run_completion returns the whole answer at once; `stream` is not one of its arguments"
    );

    let body = tool_error(
        call(
            &client,
            "run_completion",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "hi"}]}),
        )
        .await,
    );
    assert_eq!(body["error"]["field"], "messages[0].role", "{body}");

    // Rules the core checks, in the REST wording.
    let body = tool_error(call(&client, "get_usage", json!({"month": "2026-13"})).await);
    assert_eq!(
        body["error"],
        json!({"code": "VALIDATION_ERROR", "message": "month must be a calendar month like 2026-11", "field": "month"})
    );
    let body = tool_error(call(&client, "run_completion", json!({"model": "gpt-4o-mini", "messages": []})).await);
    assert_eq!(body["error"]["field"], "messages");
    let body = tool_error(
        call(&client, "add_provider_key", json!({"provider": "openai", "name": "x", "api_key": "not a key"})).await,
    );
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert!(!body.to_string().contains("not a key"), "the secret is not echoed: {body}");

    // Unknown tool: a protocol error, not a crash.
    let unknown = client.call_tool(CallToolRequestParams::new("drop_database")).await;
    assert!(unknown.is_err() || unknown.unwrap().is_error == Some(true));
    client.cancel().await.ok();
}

#[tokio::test]
async fn http_requests_are_authenticated_and_rate_limited_like_rest() {
    let app = spawn_app().await;

    let missing = raw_post(&app, &[], tools_list()).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.text, r#"{"error":{"code":"UNAUTHORIZED","message":"Authorization header required"}}"#);
    assert_eq!(missing.header("www-authenticate"), Some(r#"Bearer realm="converra""#));

    let bad = raw_post(&app, &[("authorization", "Bearer sk_test_nope")], tools_list()).await;
    bad.assert_error(401, "UNAUTHORIZED", "Invalid API key");
    assert_eq!(bad.header("www-authenticate"), Some(r#"Bearer realm="converra", error="invalid_token""#));

    let bearer = format!("Bearer {}", app.api_key);
    let listed = raw_post(&app, &[("authorization", &bearer)], tools_list()).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert!(listed.header("content-type").unwrap().starts_with("application/json"), "stateless JSON answers");
    assert!(listed.header("mcp-session-id").is_none(), "no sessions");
    assert_eq!(listed.body["result"]["tools"].as_array().unwrap().len(), MCP_TOOLS.len());
    // tools/list is protocol traffic: it spends the protocol bucket (10× the plan's 60).
    assert_eq!(listed.header("x-ratelimit-limit"), Some("600"));
    assert!(listed.header("x-ratelimit-reset").is_some());

    // A tool call spends the plan bucket, the same one a REST call spends from.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_provider_keys", "arguments": {}}});
    let called = raw_post(&app, &[("authorization", &bearer)], call).await;
    assert_eq!(called.header("x-ratelimit-limit"), Some("60"));
    let remaining: u32 = called.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    assert!(remaining < 60);
    let me = app.get("/api/v1/me", &app.api_key).await;
    let after: u32 = me.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    assert!(after < remaining, "{after} < {remaining}");

    // A revoked key stops working on the very next MCP request.
    let (_, member_key) = app.member_key(&app.api_key, "m@x.example", "member").await;
    let member_bearer = format!("Bearer {member_key}");
    assert_eq!(raw_post(&app, &[("authorization", &member_bearer)], tools_list()).await.status, 200);
    let keys = app.get("/api/v1/api-keys", &app.api_key).await;
    let member_key_id = keys.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "member key")
        .expect("member key listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{member_key_id}"), &app.api_key).await.status, 204);
    raw_post(&app, &[("authorization", &member_bearer)], tools_list()).await.assert_error(
        401,
        "UNAUTHORIZED",
        "API key has been revoked",
    );
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", app.api_key);
    let auth = ("authorization", bearer.as_str());

    let evil_host = raw_post(&app, &[auth, ("host", "evil.example.com")], tools_list()).await;
    assert!((400..500).contains(&evil_host.status), "Host evil.example.com: {}", evil_host.status);
    let evil_origin = raw_post(&app, &[auth, ("origin", "http://evil.example.com")], tools_list()).await;
    assert!((400..500).contains(&evil_origin.status), "Origin evil.example.com: {}", evil_origin.status);
    let unauthenticated_evil = raw_post(&app, &[("host", "evil.example.com")], tools_list()).await;
    assert!((400..500).contains(&unauthenticated_evil.status));

    let local_origin = format!("http://localhost:{}", app.addr.port());
    let host = format!("localhost:{}", app.addr.port());
    let local = raw_post(&app, &[auth, ("host", &host), ("origin", &local_origin)], tools_list()).await;
    assert_eq!(local.status, 200, "{}", local.text);
    let loopback = raw_post(&app, &[auth, ("origin", "http://127.0.0.1")], tools_list()).await;
    assert_eq!(loopback.status, 200, "{}", loopback.text);
}

#[tokio::test]
async fn no_oauth_discovery_documents_are_served() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/api/mcp",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/api/mcp",
        "/.well-known/openid-configuration",
        "/.well-known/openid-configuration/api/mcp",
        "/api/mcp/.well-known/openid-configuration",
    ] {
        let answer = Answer::of(app.http.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
        let with_key = app.get(path, &app.api_key).await;
        assert_eq!(with_key.status, 404, "{path} with a key: {}", with_key.text);
    }
    // The endpoint itself: POST only; GET (server-to-client stream) is not offered in stateless mode.
    let get = Answer::of(
        app.http
            .get(app.url("/api/mcp"))
            .bearer_auth(&app.api_key)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(get.status, 405, "{}", get.text);
}

#[tokio::test]
async fn reading_the_usage_resource_spends_the_plan_bucket_as_a_tool_call_does() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", app.api_key);
    let month = converra_base::ids::current_month();
    let read = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read",
        "params": {"uri": format!("converra://usage/{month}")}});
    let answer = raw_post(&app, &[("authorization", &bearer)], read).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let text = answer.body["result"]["contents"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("\"totals\""), "the month's report: {}", answer.text);
    // A usage report flushes and aggregates: work, charged like the tool, not as protocol.
    assert_eq!(answer.header("x-ratelimit-limit"), Some("60"), "the plan bucket");
    let remaining: u32 = answer.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    let me = app.get("/api/v1/me", &app.api_key).await;
    let after: u32 = me.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    assert!(after < remaining && remaining < 60, "one plan bucket: {after} < {remaining} < 60");
}
