//! Organizations, members, API keys and projects: every method, the unique names, the owner
//! rules, and the audit row each change writes in its transaction (and only when it applied).

use converra::{AiSettings, Plan, Project, Role, Tone};

use super::{actions, api_key, contract, create_org, event, id, member, now, seed};
use crate::{CustomLimits, MemberChange, Store};

contract!(
    an_organization_is_created_whole_with_its_audit,
    organization_names_are_unique,
    plans_and_settings_change_with_an_audit_row_only_when_applied,
    members_have_unique_emails_per_organization,
    a_members_email_is_unique_whatever_its_case,
    a_members_first_sign_in_is_kept_and_copied,
    the_last_owner_stays_and_owners_are_protected_inside_the_transaction,
    removing_a_member_removes_their_api_keys,
    api_keys_authenticate_list_revoke_once_and_record_use,
    a_members_active_api_keys_are_capped_in_the_transaction,
    api_key_times_are_stored_in_utc_so_the_cap_compares_instants,
    projects_have_unique_names_and_audited_changes,
);

async fn an_organization_is_created_whole_with_its_audit(store: Store) {
    assert_eq!(store.organization_count().await.unwrap(), 0);
    let a = create_org(&store, "acme").await;
    let b = create_org(&store, "globex").await;
    assert_eq!(store.organization_count().await.unwrap(), 2);
    assert_eq!(store.organization(&a.org.id).await.unwrap(), Some(a.org.clone()));
    assert_eq!(store.organization_by_name("globex").await.unwrap(), Some(b.org.clone()));
    assert_eq!(store.organization("org_missing").await.unwrap(), None);
    let names: Vec<_> = store.organizations().await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(names, ["acme", "globex"]);
    assert_eq!(store.members(&a.org.id).await.unwrap(), std::slice::from_ref(&a.owner));
    assert_eq!(store.api_key(&a.org.id, &a.key.id).await.unwrap(), Some(a.key.clone()));
    assert_eq!(store.data_key(&a.org.id, None).await.unwrap(), Some(a.data_key.clone()));
    assert_eq!(actions(&store, &a.org.id).await, ["organization.created"]);
}

async fn organization_names_are_unique(store: Store) {
    create_org(&store, "acme").await;
    let again = seed("acme");
    let e = store
        .create_organization(again.org.clone(), again.owner, again.key, again.data_key, vec![])
        .await
        .expect_err("a second organization named acme");
    assert!(e.is_unique_violation(), "{e}");
    // Nothing of the refused organization was kept.
    assert_eq!(store.organization_count().await.unwrap(), 1);
    assert_eq!(store.organization(&again.org.id).await.unwrap(), None);
}

async fn plans_and_settings_change_with_an_audit_row_only_when_applied(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let limits =
        CustomLimits { rate_limit_per_min: Some(900), monthly_tokens: Some(5_000_000), api_key_limit: Some(7) };
    assert!(store.set_plan(org, Plan::Enterprise, limits, event(org, "plan", org)).await.unwrap());
    let found = store.organization(org).await.unwrap().unwrap();
    assert_eq!(
        (found.plan, found.rate_limit_per_min, found.monthly_tokens, found.api_key_limit),
        (Plan::Enterprise, Some(900), Some(5_000_000), Some(7))
    );
    let none = CustomLimits::default();
    assert!(!store.set_plan("org_missing", Plan::Pro, none, event(org, "plan.missing", org)).await.unwrap());

    let settings = AiSettings { enabled: false, tone: Some(Tone::Friendly), key_rotation_days: 30 };
    store.update_ai_settings(org, settings, event(org, "settings", org)).await.unwrap();
    let found = store.organization(org).await.unwrap().unwrap();
    assert_eq!((found.ai_enabled, found.ai_tone), (false, Some(Tone::Friendly)));
    assert_eq!(found.key_rotation_days, Some(30), "the rotation period is stored with the AI settings");
    assert_eq!(actions(&store, org).await, ["organization.created", "plan", "settings"]);
}

async fn members_have_unique_emails_per_organization(store: Store) {
    let a = create_org(&store, "acme").await;
    let b = create_org(&store, "globex").await;
    let admin = member(&a.org.id, "ada@example.com", Role::Admin);
    store.insert_member(admin.clone(), event(&a.org.id, "member.created", &admin.id)).await.unwrap();
    assert_eq!(store.member(&a.org.id, &admin.id).await.unwrap(), Some(admin.clone()));
    // Another organization's member is invisible by id.
    assert_eq!(store.member(&b.org.id, &admin.id).await.unwrap(), None);

    let twin = member(&a.org.id, "ada@example.com", Role::Member);
    let e = store.insert_member(twin, event(&a.org.id, "member.twin", "x")).await.expect_err("same email twice");
    assert!(e.is_unique_violation(), "{e}");
    // The same email in another organization is another person.
    store.insert_member(member(&b.org.id, "ada@example.com", Role::Member), event(&b.org.id, "m", "x")).await.unwrap();
    assert_eq!(actions(&store, &a.org.id).await, ["organization.created", "member.created"]);
    assert_eq!(store.members(&a.org.id).await.unwrap().len(), 2);
}

/// Decided by the schema (a unique index on the lower-cased email), not by a read before the
/// insert that two adds at once could both pass.
async fn a_members_email_is_unique_whatever_its_case(store: Store) {
    let a = create_org(&store, "acme").await;
    let b = create_org(&store, "globex").await;
    let ada = member(&a.org.id, "ada@example.com", Role::Member);
    store.insert_member(ada.clone(), event(&a.org.id, "member.created", &ada.id)).await.unwrap();
    for twin in ["Ada@Example.com", "ADA@EXAMPLE.COM"] {
        let twin = member(&a.org.id, twin, Role::Admin);
        let e = store.insert_member(twin, event(&a.org.id, "member.twin", "x")).await.expect_err("a case twin");
        assert!(e.is_unique_violation(), "{e}");
    }
    // Another organization may have its own Ada.
    store.insert_member(member(&b.org.id, "ADA@example.com", Role::Member), event(&b.org.id, "m", "x")).await.unwrap();
    assert_eq!(store.members(&a.org.id).await.unwrap().len(), 2, "the owner and ada only");
    assert_eq!(actions(&store, &a.org.id).await, ["organization.created", "member.created"]);
}

/// The one durable trace of a sign-in (links and sessions expire): the first is kept, a later
/// one changes nothing, and a copy of the vault carries it.
async fn a_members_first_sign_in_is_kept_and_copied(store: Store) {
    let a = create_org(&store, "acme").await;
    let ada = member(&a.org.id, "ada@example.com", Role::Member);
    store.insert_member(ada.clone(), event(&a.org.id, "member.created", &ada.id)).await.unwrap();
    assert_eq!(store.member(&a.org.id, &ada.id).await.unwrap().unwrap().first_signed_in_at, None);
    store.member_signed_in(&a.org.id, &ada.id, "2026-12-06T07:00:00Z").await.unwrap();
    store.member_signed_in(&a.org.id, &ada.id, "2026-12-06T08:00:00Z").await.unwrap();
    // Another organization's id changes nothing.
    let b = create_org(&store, "globex").await;
    store.member_signed_in(&b.org.id, &a.owner.id, "2026-12-06T08:00:00Z").await.unwrap();
    let found = store.member(&a.org.id, &ada.id).await.unwrap().unwrap();
    assert_eq!(found.first_signed_in_at.as_deref(), Some("2026-12-06T07:00:00Z"));
    assert_eq!(store.member(&a.org.id, &a.owner.id).await.unwrap().unwrap().first_signed_in_at, None);

    let dump = store.dump().await.unwrap();
    let (copy, _dir) = super::empty_like(&store).await;
    copy.load(dump, false).await.unwrap();
    assert_eq!(copy.member(&a.org.id, &ada.id).await.unwrap(), Some(found), "a copy carries it");
}

async fn the_last_owner_stays_and_owners_are_protected_inside_the_transaction(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let owner = &a.owner.id;
    let change = |action| event(org, action, owner);
    assert_eq!(
        store.update_member_role(org, owner, Role::Admin, true, change("demote")).await.unwrap(),
        MemberChange::LastOwner
    );
    assert_eq!(store.delete_member(org, owner, true, change("remove")).await.unwrap(), MemberChange::LastOwner);
    assert_eq!(
        store.update_member_role(org, "mem_missing", Role::Admin, true, change("x")).await.unwrap(),
        MemberChange::NotFound
    );

    let second = member(org, "second@example.com", Role::Member);
    store.insert_member(second.clone(), change("member.created")).await.unwrap();
    assert_eq!(
        store.update_member_role(org, &second.id, Role::Owner, false, change("promote")).await.unwrap(),
        MemberChange::Done
    );
    // An owner cannot be touched by someone who may not touch owners.
    assert_eq!(
        store.update_member_role(org, &second.id, Role::Member, false, change("x")).await.unwrap(),
        MemberChange::OwnerProtected
    );
    assert_eq!(store.delete_member(org, &second.id, false, change("x")).await.unwrap(), MemberChange::OwnerProtected);
    // With two owners, one may go.
    assert_eq!(
        store.update_member_role(org, owner, Role::Admin, true, change("demote")).await.unwrap(),
        MemberChange::Done
    );
    assert_eq!(store.member(org, owner).await.unwrap().unwrap().role, Role::Admin);
    // Only changes that applied were audited.
    assert_eq!(actions(&store, org).await, ["organization.created", "member.created", "promote", "demote"]);
}

async fn removing_a_member_removes_their_api_keys(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let dev = member(org, "dev@example.com", Role::Member);
    store.insert_member(dev.clone(), event(org, "member.created", &dev.id)).await.unwrap();
    let key = api_key(org, &dev.id);
    assert!(store.insert_api_key(key.clone(), 10, event(org, "api_key.created", &key.id)).await.unwrap());
    assert_eq!(
        store.delete_member(org, &dev.id, false, event(org, "member.removed", &dev.id)).await.unwrap(),
        MemberChange::Done
    );
    assert_eq!(store.api_key(org, &key.id).await.unwrap(), None);
    assert!(store.api_key_for_auth(&key.lookup_id).await.unwrap().is_none());
    assert_eq!(
        actions(&store, org).await,
        ["organization.created", "member.created", "api_key.created", "member.removed"]
    );
}

async fn api_keys_authenticate_list_revoke_once_and_record_use(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let dev = member(org, "dev@example.com", Role::Member);
    store.insert_member(dev.clone(), event(org, "member.created", &dev.id)).await.unwrap();
    let key = api_key(org, &dev.id);
    assert!(store.insert_api_key(key.clone(), 10, event(org, "api_key.created", &key.id)).await.unwrap());

    let auth = store.api_key_for_auth(&key.lookup_id).await.unwrap().expect("the key authenticates");
    assert_eq!((&auth.0, &auth.1, &auth.2), (&key, &dev, &a.org));
    assert!(store.api_key_for_auth("lk_unknown").await.unwrap().is_none());

    assert_eq!(store.api_keys(org, None).await.unwrap().len(), 2);
    assert_eq!(store.api_keys(org, Some(&dev.id)).await.unwrap(), std::slice::from_ref(&key));

    store.touch_api_key(&key.id, "2026-11-30T10:00:00Z").await.unwrap();
    assert_eq!(
        store.api_key(org, &key.id).await.unwrap().unwrap().last_used_at.as_deref(),
        Some("2026-11-30T10:00:00Z")
    );

    assert!(store.revoke_api_key(org, &key.id, &now(), event(org, "api_key.revoked", &key.id)).await.unwrap());
    assert!(!store.revoke_api_key(org, &key.id, &now(), event(org, "api_key.revoked.again", &key.id)).await.unwrap());
    // The cached authentication sees the revocation on the very next read.
    let auth = store.api_key_for_auth(&key.lookup_id).await.unwrap().unwrap();
    assert!(auth.0.revoked_at.is_some(), "a revoked key read back as live");
    assert_eq!(
        actions(&store, org).await,
        ["organization.created", "member.created", "api_key.created", "api_key.revoked"]
    );
}

async fn projects_have_unique_names_and_audited_changes(store: Store) {
    let a = create_org(&store, "acme").await;
    let b = create_org(&store, "globex").await;
    let org = &a.org.id;
    let project = Project { id: id("prj"), name: "Mobile".into(), created_at: now() };
    store.insert_project(org, project.clone(), event(org, "project.created", &project.id)).await.unwrap();
    assert_eq!(store.project(org, &project.id).await.unwrap(), Some(project.clone()));
    assert_eq!(store.project(&b.org.id, &project.id).await.unwrap(), None, "another organization's project");
    assert_eq!(store.projects(org).await.unwrap(), std::slice::from_ref(&project));

    let twin = Project { id: id("prj"), name: "Mobile".into(), created_at: now() };
    let e = store.insert_project(org, twin, event(org, "project.twin", "x")).await.expect_err("same name twice");
    assert!(e.is_unique_violation(), "{e}");

    assert!(store.delete_project(org, &project.id, event(org, "project.removed", &project.id)).await.unwrap());
    assert!(!store.delete_project(org, &project.id, event(org, "project.removed.again", &project.id)).await.unwrap());
    assert_eq!(store.project(org, &project.id).await.unwrap(), None, "a removed project is not served from a cache");
    assert_eq!(actions(&store, org).await, ["organization.created", "project.created", "project.removed"]);
}

async fn a_members_active_api_keys_are_capped_in_the_transaction(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    // The owner holds the seed's key already: with a cap of 2, one more fits.
    let second = api_key(org, &a.owner.id);
    assert!(store.insert_api_key(second.clone(), 2, event(org, "api_key.created", &second.id)).await.unwrap());
    let third = api_key(org, &a.owner.id);
    assert!(!store.insert_api_key(third.clone(), 2, event(org, "api_key.refused", &third.id)).await.unwrap());
    assert_eq!(store.api_key(org, &third.id).await.unwrap(), None);
    // Revoked and expired keys do not count.
    assert!(store.revoke_api_key(org, &second.id, &now(), event(org, "api_key.revoked", &second.id)).await.unwrap());
    let mut expired = api_key(org, &a.owner.id);
    expired.expires_at = Some("2020-01-01T00:00:00Z".into());
    assert!(store.insert_api_key(expired, 10, event(org, "api_key.created", "expired")).await.unwrap());
    assert!(store.insert_api_key(third.clone(), 2, event(org, "api_key.created", &third.id)).await.unwrap());
    assert_eq!(
        actions(&store, org).await,
        ["organization.created", "api_key.created", "api_key.revoked", "api_key.created", "api_key.created"]
    );
}

/// An expiry given with any offset is stored in UTC, so the cap, which compares stored times,
/// compares instants: a key that expires in two hours written at -23:00 (its text a day
/// "earlier") counts, and one that expired two hours ago written at +14:00 does not.
async fn api_key_times_are_stored_in_utc_so_the_cap_compares_instants(store: Store) {
    use time::format_description::well_known::Rfc3339;
    use time::{Duration, OffsetDateTime, UtcOffset};

    /// The instant `from_now` away, as written in `hours` of offset and as stored.
    fn at(from_now: Duration, hours: i8) -> (String, String) {
        let t = OffsetDateTime::now_utc() + from_now;
        let offset = UtcOffset::from_hms(hours, 0, 0).unwrap();
        (t.to_offset(offset).format(&Rfc3339).unwrap(), converra_base::ids::format_time(t))
    }
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    // The owner holds the seed's key: with a cap of 2, one more fits.
    let (written, stored) = at(Duration::hours(2), -23);
    let mut west = api_key(org, &a.owner.id);
    west.expires_at = Some(written);
    assert!(store.insert_api_key(west.clone(), 2, event(org, "api_key.created", &west.id)).await.unwrap());
    assert_eq!(store.api_key(org, &west.id).await.unwrap().unwrap().expires_at, Some(stored.clone()));
    let auth = store.api_key_for_auth(&west.lookup_id).await.unwrap().unwrap();
    assert_eq!(auth.0.expires_at, Some(stored), "read back in UTC for authentication too");
    let third = api_key(org, &a.owner.id);
    assert!(
        !store.insert_api_key(third.clone(), 2, event(org, "api_key.refused", &third.id)).await.unwrap(),
        "a key expiring in two hours, written at -23:00, did not count toward the cap"
    );

    let (written, stored) = at(Duration::hours(-2), 14);
    let mut east = api_key(org, &a.owner.id);
    east.expires_at = Some(written);
    assert!(store.insert_api_key(east.clone(), 10, event(org, "api_key.created", &east.id)).await.unwrap());
    assert_eq!(store.api_key(org, &east.id).await.unwrap().unwrap().expires_at, Some(stored));
    assert!(store.revoke_api_key(org, &west.id, &now(), event(org, "api_key.revoked", &west.id)).await.unwrap());
    assert!(
        store.insert_api_key(third.clone(), 2, event(org, "api_key.created", &third.id)).await.unwrap(),
        "a key that expired two hours ago, written at +14:00, still counted toward the cap"
    );
}
