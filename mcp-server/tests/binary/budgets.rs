//! `converra budgets …` and the budget parts of `converra usage`, run as the real binary against
//! a real `converra serve`: what the tables and `--json` show, who may set a budget, a bad
//! amount as a usage error, a refused completion's exit code, and deleting.

use serde_json::json;

use crate::cli_client::{SECRET, Server, mock_openai};

#[tokio::test]
async fn budgets_are_set_listed_enforced_and_deleted_from_the_command_line() {
    let openai = mock_openai().await;
    let server = Server::start(&openai).await;
    let none = server.owner(&["budgets", "list"]).await;
    assert_eq!(none.ok().stdout, "No budgets.\n");
    assert_eq!(server.owner(&["budgets", "list", "--json"]).await.ok().json(), json!({"data": []}));

    // One completion, costed 12 × 0.15 + 5 × 0.60 = 4.8 → 5 micro-USD by gpt-4o-mini's row.
    server.cli(&["keys", "add", "openai", "--name", "Main"], Some(&server.owner_key), Some(SECRET)).await.ok();
    server.owner(&["complete", "hi", "--model", "openai/gpt-4o-mini"]).await.ok();

    // set: what was set on stderr, its row on stdout.
    let set = server.owner(&["budgets", "set", "--scope", "organization", "--limit-usd", "50"]).await;
    set.ok();
    assert!(set.stderr.contains("Set the organization budget: $50.000000 a month, warning at 80%."), "{}", set.stderr);
    let lines: Vec<&str> = set.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["SCOPE", "LIMIT", "SPENT", "RESERVED", "THRESHOLD", "STATUS", "RESETS"],
        "{}",
        set.stdout
    );
    assert!(lines[1].starts_with("organization  $50.000000  "), "{}", set.stdout);

    let project = server.owner(&["projects", "create", "--name", "mobile", "--json"]).await.ok().json();
    let project = project["id"].as_str().unwrap().to_owned();
    let args = [
        "budgets",
        "set",
        "--scope",
        "project",
        "--id",
        &project,
        "--model",
        "openai/gpt-4o-mini",
        "--limit-usd",
        "$12.5",
        "--threshold-percent",
        "50",
        "--json",
    ];
    let set = server.owner(&args).await.ok().json();
    assert_eq!(
        (&set["scope"], &set["scope_id"], &set["model"]),
        (&json!("project"), &json!(project), &json!("openai/gpt-4o-mini"))
    );
    assert_eq!((&set["limit_micro_usd"], &set["threshold_percent"]), (&json!(12_500_000), &json!(50)));

    // list: the month's spend against each, as a table and as JSON.
    let table = server.owner(&["budgets", "list"]).await;
    table.ok();
    let org_row = table.stdout.lines().find(|l| l.starts_with("organization ")).expect("the organization's row");
    let cells: Vec<&str> = org_row.split_whitespace().collect();
    assert_eq!(cells[..6], ["organization", "$50.000000", "$0.000005", "$0.000000", "80%", "ok"], "{}", table.stdout);
    assert!(cells[6].ends_with("-01T00:00:00Z"), "RESETS: {}", table.stdout);
    let project_row = format!("project {project} on openai/gpt-4o-mini  $12.500000  ");
    assert!(table.stdout.lines().any(|l| l.starts_with(&project_row)), "{}", table.stdout);
    let listed = server.owner(&["budgets", "list", "--json"]).await.ok().json();
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{listed}");
    let org = data.iter().find(|b| b["scope"] == "organization").expect("the organization's budget");
    assert_eq!((&org["limit_micro_usd"], &org["spent_micro_usd"]), (&json!(50_000_000), &json!(5)));
    assert_eq!((&org["over_threshold"], &org["exhausted"]), (&json!(false), &json!(false)));
    let month = server.owner(&["usage", "--json"]).await.ok().json()["month"].as_str().unwrap().to_owned();
    let same = server.owner(&["budgets", "list", "--month", &month, "--json"]).await.ok().json();
    assert_eq!(same["data"].as_array().map(Vec::len), Some(2), "{same}");

    // A member reads them but may not set or delete one.
    let member = server.member_key("dev@example.com", "member").await;
    server.cli(&["budgets", "list"], Some(&member), None).await.ok();
    let refused =
        server.cli(&["budgets", "set", "--scope", "organization", "--limit-usd", "1"], Some(&member), None).await;
    refused.assert_fails(5, "forbidden");
    server
        .cli(&["budgets", "delete", "--scope", "organization"], Some(&member), None)
        .await
        .assert_fails(5, "forbidden");

    // A limit that is no amount is a usage error, named before any request.
    for bad in ["ten", "-5", "1.0000001", "1,5"] {
        let wrong = server.owner(&["budgets", "set", "--scope", "organization", "--limit-usd", bad]).await;
        wrong.assert_fails(2, &format!("invalid value '{bad}' for '--limit-usd <DOLLARS>': not an amount in dollars"));
        assert!(wrong.stdout.is_empty(), "{}", wrong.stdout);
    }
    server.owner(&["budgets", "set", "--scope", "team", "--limit-usd", "1"]).await.assert_code(2);
    // The server's rules come back as invalid input (7): a project budget names its project.
    let no_id = server.owner(&["budgets", "set", "--scope", "project", "--limit-usd", "1"]).await;
    no_id.assert_fails(7, "invalid request");
    assert!(no_id.stderr.contains("scope_id"), "{}", no_id.stderr);

    // A budget with no room refuses the completion: exit 9, nothing sent to the provider.
    server.owner(&["budgets", "set", "--scope", "organization", "--limit-usd", "0.000001"]).await.ok();
    let sent = openai.received_requests().await.unwrap().len();
    let refused = server.owner(&["complete", "hi", "--model", "openai/gpt-4o-mini"]).await;
    refused.assert_fails(9, "budget exceeded: The organization budget of $0.000001 for this month has no room");
    assert_eq!(openai.received_requests().await.unwrap().len(), sent, "a refused call reached the provider");

    // usage: the new groupings, the forecast and the budgets.
    let keys = server.owner(&["api-keys", "list", "--json"]).await.ok().json();
    let owner = keys["data"].as_array().unwrap().iter().find(|k| k["name"] != "member key").unwrap().clone();
    let (key_id, member_id) = (owner["id"].as_str().unwrap(), owner["member_id"].as_str().unwrap());
    let usage = server.owner(&["usage"]).await;
    usage.ok();
    let out = &usage.stdout;
    assert!(out.contains("\nForecast for the month: $"), "{out}");
    assert!(out.contains(" at the rate so far (") && out.contains("% of the month gone)\n"), "{out}");
    for (title, key) in [("API KEY", key_id), ("MEMBER", member_id)] {
        let at = out.find(&format!("\n{title} ")).unwrap_or_else(|| panic!("no {title} table: {out}"));
        let row = out[at..].lines().nth(2).unwrap_or_default();
        assert_eq!(row.split_whitespace().collect::<Vec<_>>(), [key, "1", "12", "5", "$0.000005"], "{out}");
    }
    let budgets = &out[out.find("\nSCOPE ").unwrap_or_else(|| panic!("no budgets table: {out}"))..];
    let exhausted = budgets.lines().find(|l| l.starts_with("organization ")).expect("the organization's budget");
    let cells: Vec<&str> = exhausted.split_whitespace().collect();
    assert_eq!(cells[..6], ["organization", "$0.000001", "$0.000005", "$0.000000", "80%", "exhausted"], "{out}");
    let usage = server.owner(&["usage", "--json"]).await.ok().json();
    assert_eq!(usage["by_api_key"][0]["key"], key_id, "{usage}");
    assert_eq!(usage["budgets"].as_array().map(Vec::len), Some(2), "{usage}");

    // delete: the named budget goes; a second time it is not found.
    let deleted = server.owner(&["budgets", "delete", "--scope", "organization"]).await;
    assert!(deleted.ok().stderr.contains("Deleted the organization budget."), "{}", deleted.stderr);
    server.owner(&["budgets", "delete", "--scope", "organization"]).await.assert_fails(6, "not found");
    let args = ["budgets", "delete", "--scope", "project", "--id", &project, "--model", "openai/gpt-4o-mini", "--json"];
    let deleted = server.owner(&args).await.ok().json();
    assert_eq!(
        deleted,
        json!({"scope": "project", "scope_id": project, "model": "openai/gpt-4o-mini", "deleted": true})
    );
    assert_eq!(server.owner(&["budgets", "list"]).await.ok().stdout, "No budgets.\n");
    let usage = server.owner(&["usage"]).await;
    assert!(usage.ok().stdout.ends_with("\nNo budgets.\n"), "{}", usage.stdout);
}
