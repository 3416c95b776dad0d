//! The vault's rows: one active key per slot, rotation and rollback, secrets replaced in place,
//! test records, data keys and their rewrapping, and the vault's records (`meta`).

use converra::{Environment, KeyStatus, Project, Provider, ProviderKeyFilter};

use super::{actions, contract, create_org, event, id, now, provider_key};
use crate::{DataKeyRow, Reencrypted, SecretUpdate, Store, TestRecord};

contract!(
    a_new_key_takes_its_slot_and_the_old_one_stays_inactive,
    slots_are_per_project_environment_and_provider,
    activating_rolls_back_and_removing_returns_the_row,
    a_replaced_secret_resets_the_test_and_tests_are_recorded,
    listing_filters_by_provider_project_and_environment,
    data_keys_rotate_as_a_compare_and_swap,
    keys_left_behind_a_rotation_are_resealed_each_as_a_compare_and_swap,
    data_keys_are_rewrapped_in_place,
    vault_records_are_written_once_when_asked,
    removing_a_project_removes_its_keys,
);

fn filter() -> ProviderKeyFilter {
    ProviderKeyFilter::default()
}

async fn a_new_key_takes_its_slot_and_the_old_one_stays_inactive(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let first = provider_key(org, None, Provider::Openai, "first");
    store.insert_provider_key(first.clone(), event(org, "pk.added", &first.id)).await.unwrap();
    assert_eq!(
        store.active_provider_key(org, None, Environment::Live, Provider::Openai).await.unwrap().as_deref(),
        Some(&first)
    );
    let second = provider_key(org, None, Provider::Openai, "second");
    store.insert_provider_key(second.clone(), event(org, "pk.added", &second.id)).await.unwrap();
    let active = store.active_provider_key(org, None, Environment::Live, Provider::Openai).await.unwrap();
    assert_eq!(active.map(|k| k.id.clone()), Some(second.id.clone()), "the cache saw the new active key at once");
    let all = store.provider_keys(org, filter()).await.unwrap();
    let flags: Vec<_> = all.iter().map(|k| (k.name.as_str(), k.active)).collect();
    assert_eq!(flags, [("first", false), ("second", true)], "exactly one active key per slot");
    assert_eq!(actions(&store, org).await, ["organization.created", "pk.added", "pk.added"]);
}

async fn slots_are_per_project_environment_and_provider(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let project = Project { id: id("prj"), name: "Mobile".into(), created_at: now() };
    store.insert_project(org, project.clone(), event(org, "project.created", &project.id)).await.unwrap();
    let org_key = provider_key(org, None, Provider::Openai, "org");
    let project_key = provider_key(org, Some(&project.id), Provider::Openai, "project");
    let test_key =
        ProviderKeyRow { environment: Environment::Test, ..provider_key(org, None, Provider::Openai, "test") };
    let other = provider_key(org, None, Provider::Anthropic, "anthropic");
    for k in [&org_key, &project_key, &test_key, &other] {
        store.insert_provider_key(k.clone(), event(org, "pk.added", &k.id)).await.unwrap();
    }
    assert!(store.provider_keys(org, filter()).await.unwrap().iter().all(|k| k.active), "four slots, four active keys");
    let active = |project: Option<String>, env, provider| {
        let store = store.clone();
        let org = org.clone();
        async move {
            store.active_provider_key(&org, project.as_deref(), env, provider).await.unwrap().map(|k| k.name.clone())
        }
    };
    assert_eq!(active(None, Environment::Live, Provider::Openai).await.as_deref(), Some("org"));
    assert_eq!(active(Some(project.id.clone()), Environment::Live, Provider::Openai).await.as_deref(), Some("project"));
    assert_eq!(active(None, Environment::Test, Provider::Openai).await.as_deref(), Some("test"));
    assert_eq!(active(None, Environment::Live, Provider::Gemini).await, None);
    // Another organization sees none of them.
    let b = create_org(&store, "globex").await;
    assert_eq!(store.active_provider_key(&b.org.id, None, Environment::Live, Provider::Openai).await.unwrap(), None);
    assert_eq!(store.provider_key(&b.org.id, &org_key.id).await.unwrap(), None);
}

use crate::ProviderKeyRow;

async fn activating_rolls_back_and_removing_returns_the_row(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let old = provider_key(org, None, Provider::Openai, "old");
    let new = provider_key(org, None, Provider::Openai, "new");
    store.insert_provider_key(old.clone(), event(org, "pk.added", &old.id)).await.unwrap();
    store.insert_provider_key(new.clone(), event(org, "pk.added", &new.id)).await.unwrap();

    let back =
        store.activate_provider_key(org, &old.id, "mem_admin", &now(), event(org, "pk.activated", &old.id)).await;
    let back = back.unwrap().expect("the old key exists");
    assert!(back.active);
    assert_eq!(back.updated_by.as_deref(), Some("mem_admin"));
    let active = store.active_provider_key(org, None, Environment::Live, Provider::Openai).await.unwrap();
    assert_eq!(active.map(|k| k.id.clone()), Some(old.id.clone()), "rolled back");
    assert!(!store.provider_key(org, &new.id).await.unwrap().unwrap().active);
    assert_eq!(store.activate_provider_key(org, "pk_missing", "m", &now(), event(org, "x", "x")).await.unwrap(), None);

    let removed = store.delete_provider_key(org, &old.id, event(org, "pk.removed", &old.id)).await.unwrap();
    assert_eq!(removed.map(|k| k.id), Some(old.id.clone()));
    assert_eq!(store.delete_provider_key(org, &old.id, event(org, "pk.removed.again", &old.id)).await.unwrap(), None);
    assert_eq!(store.active_provider_key(org, None, Environment::Live, Provider::Openai).await.unwrap(), None);
    assert_eq!(
        actions(&store, org).await,
        ["organization.created", "pk.added", "pk.added", "pk.activated", "pk.removed"]
    );
}

async fn a_replaced_secret_resets_the_test_and_tests_are_recorded(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "prod");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    let test =
        TestRecord { status: KeyStatus::Ok, message: "Connection successful".into(), tested_at: now(), latency_ms: 42 };
    assert!(
        store.record_provider_key_test(org, &key.id, test.clone(), event(org, "pk.tested", &key.id)).await.unwrap()
    );
    let tested = store.provider_key(org, &key.id).await.unwrap().unwrap();
    assert_eq!((tested.status, tested.last_test), (KeyStatus::Ok, Some(test.clone())));
    assert!(
        !store.record_provider_key_test(org, "pk_missing", test, event(org, "pk.tested.missing", "x")).await.unwrap()
    );

    let update = SecretUpdate {
        ciphertext: b"sealed again".to_vec(),
        data_key_version: 1,
        masked: "sk-...9999".into(),
        last_four: "9999".into(),
        name: Some("renamed".into()),
        updated_by: "mem_admin".into(),
        at: now(),
    };
    let updated = store.update_provider_key_secret(org, &key.id, update.clone(), event(org, "pk.replaced", &key.id));
    let updated = updated.await.unwrap().expect("the key exists");
    assert_eq!((updated.ciphertext.as_slice(), updated.name.as_str()), (&b"sealed again"[..], "renamed"));
    assert_eq!((updated.status, updated.last_test), (KeyStatus::Untested, None), "a new secret is untested");
    let missing = store.update_provider_key_secret(org, "pk_missing", update, event(org, "pk.replaced.missing", "x"));
    assert_eq!(missing.await.unwrap(), None);

    let flag =
        crate::HealthChange { status: KeyStatus::InvalidKey, at: now(), last_success_at: None, retest_at: Some(60) };
    assert!(store.set_key_health(org, &key.id, flag.clone(), None).await.unwrap());
    let active = store.active_provider_key(org, None, Environment::Live, Provider::Openai).await.unwrap().unwrap();
    assert_eq!(active.status, KeyStatus::InvalidKey, "the cached active key shows the new status");
    assert_eq!(actions(&store, org).await, ["organization.created", "pk.added", "pk.tested", "pk.replaced"]);
}

async fn listing_filters_by_provider_project_and_environment(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let project = Project { id: id("prj"), name: "Mobile".into(), created_at: now() };
    store.insert_project(org, project.clone(), event(org, "project.created", &project.id)).await.unwrap();
    let keys = [
        provider_key(org, None, Provider::Openai, "a"),
        provider_key(org, Some(&project.id), Provider::Openai, "b"),
        ProviderKeyRow { environment: Environment::Test, ..provider_key(org, None, Provider::Gemini, "c") },
    ];
    for k in &keys {
        store.insert_provider_key(k.clone(), event(org, "pk.added", &k.id)).await.unwrap();
    }
    let names = |f: ProviderKeyFilter| {
        let store = store.clone();
        let org = org.clone();
        async move { store.provider_keys(&org, f).await.unwrap().iter().map(|k| k.name.clone()).collect::<Vec<_>>() }
    };
    assert_eq!(names(filter()).await, ["a", "b", "c"]);
    assert_eq!(names(ProviderKeyFilter { provider: Some(Provider::Openai), ..filter() }).await, ["a", "b"]);
    assert_eq!(names(ProviderKeyFilter { project_id: Some(project.id.clone()), ..filter() }).await, ["b"]);
    assert_eq!(names(ProviderKeyFilter { environment: Some(Environment::Test), ..filter() }).await, ["c"]);
    assert_eq!(store.org_provider_keys(org).await.unwrap().len(), 3);
}

async fn keys_left_behind_a_rotation_are_resealed_each_as_a_compare_and_swap(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let (late, changed) =
        (provider_key(org, None, Provider::Openai, "late"), provider_key(org, None, Provider::Gemini, "changed"));
    for key in [&late, &changed] {
        store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    }
    let v2 = DataKeyRow { version: 2, wrapped: vec![2; 60], ..a.data_key.clone() };
    assert!(store.rotate_data_key(v2, Vec::new()).await.unwrap());

    // One key still holds what was read, the other changed since: only the first is resealed.
    let resealed = vec![
        Reencrypted { id: late.id.clone(), previous: late.ciphertext.clone(), ciphertext: b"late v2".to_vec() },
        Reencrypted { id: changed.id.clone(), previous: b"not what is stored".to_vec(), ciphertext: b"x".to_vec() },
    ];
    assert_eq!(store.reseal_provider_keys(org, 2, resealed).await.unwrap(), 1);
    let late = store.provider_key(org, &late.id).await.unwrap().unwrap();
    assert_eq!((late.ciphertext.as_slice(), late.data_key_version), (&b"late v2"[..], 2));
    let kept = store.provider_key(org, &changed.id).await.unwrap().unwrap();
    assert_eq!((kept.ciphertext, kept.data_key_version), (changed.ciphertext, 1));
}

async fn data_keys_rotate_as_a_compare_and_swap(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let key = provider_key(org, None, Provider::Openai, "prod");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    let v2 = DataKeyRow { version: 2, wrapped: vec![2; 60], ..a.data_key.clone() };

    // The key changed since it was read: nothing is written, not even the new data key.
    let stale =
        Reencrypted { id: key.id.clone(), previous: b"not what is stored".to_vec(), ciphertext: b"v2".to_vec() };
    assert!(!store.rotate_data_key(v2.clone(), vec![stale]).await.unwrap());
    assert_eq!(store.data_key(org, None).await.unwrap().map(|d| d.version), Some(1));
    assert_eq!(store.provider_key(org, &key.id).await.unwrap().unwrap().ciphertext, key.ciphertext);

    let fresh = Reencrypted { id: key.id.clone(), previous: key.ciphertext.clone(), ciphertext: b"v2".to_vec() };
    assert!(store.rotate_data_key(v2.clone(), vec![fresh]).await.unwrap());
    assert_eq!(store.data_key(org, None).await.unwrap(), Some(v2));
    assert_eq!(store.data_key(org, Some(1)).await.unwrap(), Some(a.data_key.clone()), "older versions stay readable");
    let rotated = store.provider_key(org, &key.id).await.unwrap().unwrap();
    assert_eq!((rotated.ciphertext.as_slice(), rotated.data_key_version), (&b"v2"[..], 2));
}

async fn data_keys_are_rewrapped_in_place(store: Store) {
    let a = create_org(&store, "acme").await;
    let b = create_org(&store, "globex").await;
    assert_eq!(store.all_data_keys().await.unwrap().len(), 2);
    let rewrapped = DataKeyRow {
        wrapped: vec![9; 60],
        master_version: 2,
        wrapped_prev: Some(a.data_key.wrapped.clone()),
        prev_master_version: Some(1),
        ..a.data_key.clone()
    };
    store.rewrap_data_keys(&a.org.id, vec![rewrapped.clone()]).await.unwrap();
    assert_eq!(store.data_key(&a.org.id, Some(1)).await.unwrap(), Some(rewrapped.clone()));
    // The last step of a rotation drops the old wrappings, and only those.
    assert_eq!(store.drop_previous_wrappings().await.unwrap(), 1);
    let finished = DataKeyRow { wrapped_prev: None, prev_master_version: None, ..rewrapped };
    assert_eq!(store.data_key(&a.org.id, Some(1)).await.unwrap(), Some(finished));
    assert_eq!(store.drop_previous_wrappings().await.unwrap(), 0);
    assert_eq!(
        store.data_key(&b.org.id, Some(1)).await.unwrap(),
        Some(b.data_key.clone()),
        "other organizations untouched"
    );
}

async fn vault_records_are_written_once_when_asked(store: Store) {
    assert_eq!(store.meta("master_key_version").await.unwrap(), None);
    assert_eq!(store.insert_meta_if_absent("master_key_version", "1").await.unwrap(), "1");
    // A second first start with another value finds the first one.
    assert_eq!(store.insert_meta_if_absent("master_key_version", "7").await.unwrap(), "1");
    store.set_meta("master_key_version", "2").await.unwrap();
    assert_eq!(store.meta("master_key_version").await.unwrap().as_deref(), Some("2"));
}

async fn removing_a_project_removes_its_keys(store: Store) {
    let a = create_org(&store, "acme").await;
    let org = &a.org.id;
    let project = Project { id: id("prj"), name: "Mobile".into(), created_at: now() };
    store.insert_project(org, project.clone(), event(org, "project.created", &project.id)).await.unwrap();
    let key = provider_key(org, Some(&project.id), Provider::Openai, "mobile");
    store.insert_provider_key(key.clone(), event(org, "pk.added", &key.id)).await.unwrap();
    assert!(store.delete_project(org, &project.id, event(org, "project.removed", &project.id)).await.unwrap());
    assert_eq!(store.provider_key(org, &key.id).await.unwrap(), None);
    assert_eq!(
        store.active_provider_key(org, Some(&project.id), Environment::Live, Provider::Openai).await.unwrap(),
        None
    );
}
