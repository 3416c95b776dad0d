//! Rate limits: the headers on every authenticated answer and the plan's limit, exactly.

use super::*;

fn assert_rate_limit_headers(answer: &Answer, limit: u32) {
    let number = |name: &str| -> u64 {
        answer
            .header(name)
            .unwrap_or_else(|| panic!("{name} on a {} answer: {}", answer.status, answer.text))
            .parse()
            .unwrap_or_else(|_| panic!("{name} is a number"))
    };
    assert_eq!(number("x-ratelimit-limit"), u64::from(limit), "{}", answer.text);
    assert!(number("x-ratelimit-remaining") < u64::from(limit));
    let reset = number("x-ratelimit-reset");
    let now = unix_now();
    assert!(reset >= now && reset <= now + 61, "reset {reset} is unix seconds within a minute of {now}");
}

#[tokio::test]
async fn every_authenticated_answer_carries_rate_limit_headers() {
    let app = spawn_app().await;
    let (_, member) = app.member_key(&app.api_key, "m@example.com", "member").await;
    let answers = [
        app.get("/api/v1/me", &app.api_key).await,
        app.post("/api/v1/projects", &app.api_key, json!({"name": "web"})).await,
        app.get("/api/v1/projects/prj_missing", &app.api_key).await,
        app.post("/api/v1/projects", &app.api_key, json!({"nom": "web"})).await,
        app.get("/api/v1/members", &member).await,
        app.get("/api/v1/api-keys", &member).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 201, 404, 400, 403, 200]);
    for answer in &answers {
        assert_rate_limit_headers(answer, 60);
    }
    // Remaining counts down per key.
    let first: u32 =
        app.get("/api/v1/me", &app.api_key).await.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    let second: u32 =
        app.get("/api/v1/me", &app.api_key).await.header("x-ratelimit-remaining").unwrap().parse().unwrap();
    assert_eq!(second + 1, first);
}

#[tokio::test]
async fn with_a_plan_of_five_per_minute_exactly_five_pass_and_the_sixth_is_429() {
    let app = spawn_app().await;
    let (_, other_key) = create_api_key(&app, &app.api_key, json!({"name": "other"})).await;
    app.core.admin_set_plan(&app.org_id, Plan::Enterprise, Some(5), None, None).await.expect("plan set");

    for i in 0..5u32 {
        let answer = app.get("/api/v1/me", &app.api_key).await;
        assert_eq!(answer.status, 200, "request {} of 5: {}", i + 1, answer.text);
        assert_eq!(answer.body["organization"]["plan"], "enterprise");
        assert_eq!(answer.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(answer.header("x-ratelimit-remaining"), Some((4 - i).to_string().as_str()));
    }
    let refused = app.get("/api/v1/me", &app.api_key).await;
    refused.assert_code(429, "RATE_LIMITED");
    assert_eq!(refused.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    let retry_after: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(refused.body["error"]["retry_after"], retry_after, "the seconds are a field too: {}", refused.text);
    assert!(refused.header("x-ratelimit-reset").is_some());

    // Every route shares the key's bucket; another key of the same organization has its own.
    app.get("/api/v1/projects", &app.api_key).await.assert_code(429, "RATE_LIMITED");
    let other = app.get("/api/v1/me", &other_key).await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(other.header("x-ratelimit-remaining"), Some("4"));
}
