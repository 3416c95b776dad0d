//! Settings → Members over HTTP: an owner adds a member and hands over the one-time sign-in
//! link, changes roles and removes members; an admin can neither make an owner nor touch one,
//! even with a forged form; the last owner stays; a member sees who manages members.

use converra_test_kit::{TestApp, spawn_app};
use serde_json::json;

use super::{Visitor, owner_email, signed_in};

const PATH: &str = "/settings/members";

/// The member id of `email`, over REST.
async fn member_id(app: &TestApp, email: &str) -> String {
    let members = app.get("/api/v1/members", &app.api_key).await.body;
    let found = members["data"].as_array().unwrap().iter().find(|m| m["email"] == email);
    found.unwrap_or_else(|| panic!("{email} is not a member: {members}"))["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_owner_adds_a_member_whose_link_signs_them_in_then_changes_their_role_and_removes_them() {
    let app = spawn_app().await;
    let owner = signed_in(&app, &app.api_key).await;
    let added = owner.submit(PATH, PATH, &[("email", "dev@example.com"), ("role", "member")]).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("Added dev@example.com as member."), "{}", added.body);
    assert_eq!(added.headers["cache-control"], "no-store", "the link is on this page: never cached");
    let link = added.value_of("sign-in-link");
    assert!(link.starts_with(&format!("{}/sign-in/link/", app.base_url)), "{link}");
    let audit = app.get("/api/v1/audit-events", &app.api_key).await;
    let event = &audit.body["data"][0];
    assert_eq!((&event["action"], &event["detail"]["sign_in_link"]), (&json!("member.created"), &json!(true)));
    assert!(!audit.text.contains(link.rsplit('/').next().unwrap()), "the link is never in the audit log");

    // The link signs the new member in; a member sees who manages members, and no form.
    let dev = Visitor::new(&app);
    let signed = dev.sign_in_with_link(&link).await;
    assert_eq!((signed.status, signed.location()), (303, Some("/settings/integrations")), "{}", signed.body);
    let seen = dev.get(PATH).await;
    assert!(seen.body.contains("Members are managed by workspace admins and owners."), "{}", seen.body);
    assert!(!seen.body.contains("<table") && !seen.body.contains("<form method=\"post\" action=\"/settings/members"));

    let id = member_id(&app, "dev@example.com").await;
    let promoted = owner.submit_and_follow(PATH, &format!("{PATH}/{id}/role"), &[("role", "admin")]).await;
    assert!(promoted.body.contains("dev@example.com is now admin."), "{}", promoted.body);

    // An admin adds members, but is offered no owner role and cannot forge one.
    let as_admin = dev.get(PATH).await;
    assert!(as_admin.body.contains("Add member") && !as_admin.body.contains(r#"value="owner""#), "{}", as_admin.body);
    let forged = dev.submit(PATH, PATH, &[("email", "boss@example.com"), ("role", "owner")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("Only an owner can make someone an owner"), "{}", forged.body);
    let owner_id = member_id(&app, &owner_email(&app).await).await;
    let demote = dev.submit(PATH, &format!("{PATH}/{owner_id}/role"), &[("role", "member")]).await;
    assert_eq!(demote.status, 403, "{}", demote.body);

    // The last owner cannot step down.
    let alone = owner.submit(PATH, &format!("{PATH}/{owner_id}/role"), &[("role", "admin")]).await;
    assert_eq!(alone.status, 409, "{}", alone.body);
    assert!(alone.body.contains("The last owner cannot be demoted: make another member owner first"), "{}", alone.body);

    // An admin who steps down reads the page again as a member.
    let stepped = dev.submit(PATH, &format!("{PATH}/{id}/role"), &[("role", "member")]).await;
    assert_eq!((stepped.status, stepped.location()), (303, Some(PATH)), "{}", stepped.body);
    let stepped = dev.follow(stepped).await;
    assert!(stepped.body.contains("dev@example.com is now member."), "{}", stepped.body);
    assert!(dev.get(PATH).await.body.contains("Members are managed by workspace admins and owners."));

    // Removed: the member's session ends at once.
    let confirm = owner.get(&format!("{PATH}/{id}/remove")).await;
    assert!(confirm.body.contains("Remove dev@example.com?"), "a confirmation first: {}", confirm.body);
    let removed = owner.submit(PATH, &format!("{PATH}/{id}/remove"), &[]).await;
    assert_eq!((removed.status, removed.location()), (303, Some(PATH)), "{}", removed.body);
    let removed = owner.follow(removed).await;
    assert!(removed.body.contains("Removed dev@example.com: their API keys"), "{}", removed.body);
    assert!(!removed.body.contains("<td>dev@example.com"), "{}", removed.body);
    let after = dev.get(PATH).await;
    assert_eq!((after.status, after.location()), (303, Some("/sign-in")));

    // An admin who removes themselves is signed out with it.
    let added = owner.submit(PATH, PATH, &[("email", "ops@example.com"), ("role", "admin")]).await;
    let ops = Visitor::new(&app);
    assert_eq!(ops.sign_in_with_link(&added.value_of("sign-in-link")).await.status, 303);
    let ops_id = member_id(&app, "ops@example.com").await;
    let left = ops.submit(PATH, &format!("{PATH}/{ops_id}/remove"), &[]).await;
    assert_eq!((left.status, left.location()), (303, Some("/sign-in")), "{}", left.body);
}

#[tokio::test]
async fn a_taken_email_or_a_bad_one_is_refused_in_words() {
    let app = spawn_app().await;
    let owner = signed_in(&app, &app.api_key).await;
    let email = owner_email(&app).await;
    // The same address in other letters' case would look like the same person everywhere.
    for same in [email.clone(), email.to_uppercase()] {
        let taken = owner.submit(PATH, PATH, &[("email", same.as_str()), ("role", "member")]).await;
        assert_eq!(taken.status, 409, "{same}: {}", taken.body);
        assert!(taken.body.contains("A member with this email already exists"), "{}", taken.body);
        assert!(!taken.body.contains("sign-in-link"), "no link for a member not added");
    }
    let bad = owner.submit(PATH, PATH, &[("email", "not-an-email"), ("role", "member")]).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(!bad.body.contains("sign-in-link"), "no link for a member not added");
}

/// The form that asks for a new sign-in link for `email`, as the page offers it.
fn offers_link(page: &super::Page, email: &str) -> bool {
    page.body.contains(&format!(r#"aria-label="New sign-in link for {email}""#))
}

#[tokio::test]
async fn a_new_sign_in_link_only_for_a_member_who_never_signed_in_and_whose_role_one_may_grant() {
    let app = spawn_app().await;
    let owner = signed_in(&app, &app.api_key).await;
    let owner_email = owner_email(&app).await;
    let added = owner.submit(PATH, PATH, &[("email", "dev@example.com"), ("role", "member")]).await;
    let first = added.value_of("sign-in-link");

    // The first link went unused: the owner makes a new one, shown once and audited.
    let page = owner.get(PATH).await;
    assert!(offers_link(&page, "dev@example.com"), "{}", page.body);
    assert!(!offers_link(&page, &owner_email), "the owner signed in (with an API key): no link for them");
    let dev_id = member_id(&app, "dev@example.com").await;
    let action = format!("{PATH}/{dev_id}/sign-in-link");
    let made = owner.submit(PATH, &action, &[]).await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.headers["cache-control"], "no-store", "the link is on this page: never cached");
    assert!(made.body.contains("A new sign-in link for dev@example.com"), "{}", made.body);
    let link = made.value_of("sign-in-link");
    assert!(link.starts_with(&format!("{}/sign-in/link/", app.base_url)) && link != first, "{link}");
    let audit = app.get("/api/v1/audit-events", &app.api_key).await;
    let event = &audit.body["data"][0];
    assert_eq!((&event["action"], &event["object_id"]), (&json!("member.sign_in_link"), &json!(dev_id)), "{event}");
    assert!(!audit.text.contains(link.rsplit('/').next().unwrap()), "the link is never in the audit log");
    assert_eq!(owner.get(&action).await.location(), Some(PATH), "a GET on the address is the page");

    // Once they signed in, nobody gets a link for them: it would let an admin act as them.
    let dev = Visitor::new(&app);
    assert_eq!(dev.sign_in_with_link(&link).await.status, 303);
    let members = app.get("/api/v1/members", &app.api_key).await.body;
    let row = members["data"].as_array().unwrap().iter().find(|m| m["id"] == dev_id.as_str()).unwrap().clone();
    assert!(row["first_signed_in_at"].is_string(), "{row}");
    assert!(!offers_link(&owner.get(PATH).await, "dev@example.com"));
    let refused = owner.submit(PATH, &action, &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("They have signed in before"), "{}", refused.body);
    assert!(!refused.body.contains("sign-in-link\""), "no link shown");
    // A member gets none at all.
    assert_eq!(dev.submit(PATH, &action, &[]).await.status, 403);

    // An admin gets one for a member, never for an owner, even with a forged form.
    let ops = owner.submit(PATH, PATH, &[("email", "ops@example.com"), ("role", "admin")]).await;
    let ops_link = ops.value_of("sign-in-link");
    owner.submit(PATH, PATH, &[("email", "boss@example.com"), ("role", "owner")]).await;
    owner.submit(PATH, PATH, &[("email", "new@example.com"), ("role", "member")]).await;
    let admin = Visitor::new(&app);
    assert_eq!(admin.sign_in_with_link(&ops_link).await.status, 303);
    let seen = admin.get(PATH).await;
    assert!(offers_link(&seen, "new@example.com") && !offers_link(&seen, "boss@example.com"), "{}", seen.body);
    let boss_id = member_id(&app, "boss@example.com").await;
    let forged = admin.submit(PATH, &format!("{PATH}/{boss_id}/sign-in-link"), &[]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("Only an owner can hand an owner a sign-in link"), "{}", forged.body);
    let new_id = member_id(&app, "new@example.com").await;
    assert_eq!(admin.submit(PATH, &format!("{PATH}/{new_id}/sign-in-link"), &[]).await.status, 200);
}
