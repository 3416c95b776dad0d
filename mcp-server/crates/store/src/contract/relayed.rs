//! Relayed provider-side objects: a recorded id is found for the member, organization, key and
//! kind it was recorded with, and for no other; recording it again changes nothing.

use super::contract;
use crate::{RelayedObject, Store};

contract!(a_relayed_object_is_found_only_for_its_member_key_and_kind);

async fn a_relayed_object_is_found_only_for_its_member_key_and_kind(store: Store) {
    let row = RelayedObject {
        provider_key_id: "pk_1".into(),
        kind: "response",
        object_id: "resp_1".into(),
        org_id: "org_1".into(),
        member_id: "mem_a".into(),
        created_at: 1_790_000_000,
    };
    store.record_relayed(row.clone()).await.unwrap();
    // A second record of the same id (a retried write) is a no-op, whoever it names.
    store.record_relayed(RelayedObject { member_id: "mem_b".into(), ..row }).await.unwrap();
    assert!(store.relayed_for("pk_1", "response", "resp_1", "org_1", "mem_a").await.unwrap());
    for (key, kind, id, org, member) in [
        ("pk_1", "response", "resp_1", "org_1", "mem_b"),
        ("pk_1", "response", "resp_1", "org_2", "mem_a"),
        ("pk_2", "response", "resp_1", "org_1", "mem_a"),
        ("pk_1", "file", "resp_1", "org_1", "mem_a"),
        ("pk_1", "response", "resp_2", "org_1", "mem_a"),
    ] {
        assert!(!store.relayed_for(key, kind, id, org, member).await.unwrap(), "{key} {kind} {id} {org} {member}");
    }
}
