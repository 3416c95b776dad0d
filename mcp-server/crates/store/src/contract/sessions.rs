//! Web sessions and one-time tokens: stored by hash, read back, touched, deleted and pruned;
//! a token is consumed once, never after its deadline, never as another kind, and a released
//! token can be consumed again.

use super::{contract, create_org};
use crate::{Store, WebSessionRow, WebTokenKind, WebTokenRow};

contract!(a_session_is_read_touched_and_deleted, a_token_is_consumed_once_and_only_in_time, old_web_state_is_pruned);

const NOW: i64 = 1_790_000_000;

fn session(org_id: &str, member_id: &str, hash: &str, api_key_id: Option<String>) -> WebSessionRow {
    WebSessionRow {
        id_hash: hash.into(),
        org_id: org_id.into(),
        member_id: member_id.into(),
        api_key_id,
        created_at: NOW,
        last_seen_at: NOW,
    }
}

fn connect_token(org_id: &str, member_id: &str, hash: &str, expires_at: i64) -> WebTokenRow {
    WebTokenRow {
        hash: hash.into(),
        kind: WebTokenKind::Connect,
        org_id: org_id.into(),
        member_id: member_id.into(),
        provider: Some("openai".into()),
        name: Some("Production".into()),
        project_id: None,
        environment: Some("live".into()),
        created_at: NOW,
        expires_at,
        used_at: None,
    }
}

async fn a_session_is_read_touched_and_deleted(store: Store) {
    let a = create_org(&store, "acme").await;
    let row = session(&a.org.id, &a.owner.id, "h1", Some(a.key.id.clone()));
    store.insert_web_session(row.clone()).await.unwrap();
    assert_eq!(store.web_session("h1").await.unwrap(), Some(row.clone()));
    assert_eq!(store.web_session("h2").await.unwrap(), None);
    store.touch_web_session("h1", NOW + 90).await.unwrap();
    assert_eq!(store.web_session("h1").await.unwrap().unwrap().last_seen_at, NOW + 90);
    // Another replica sees the same session.
    let other = store.reopen().await;
    assert_eq!(other.web_session("h1").await.unwrap().unwrap().api_key_id, Some(a.key.id.clone()));
    store.delete_web_session("h1").await.unwrap();
    assert_eq!(other.web_session("h1").await.unwrap(), None);
}

async fn a_token_is_consumed_once_and_only_in_time(store: Store) {
    let a = create_org(&store, "acme").await;
    let (org, who) = (&a.org.id, &a.owner.id);
    store.insert_web_token(connect_token(org, who, "t1", NOW + 600)).await.unwrap();
    // Reading does not consume; the wrong kind and a late use do not either.
    assert_eq!(store.web_token("t1").await.unwrap().unwrap().used_at, None);
    assert_eq!(store.consume_web_token("t1", WebTokenKind::Login, NOW).await.unwrap(), None);
    assert_eq!(store.consume_web_token("t1", WebTokenKind::Connect, NOW + 600).await.unwrap(), None);
    let used = store.consume_web_token("t1", WebTokenKind::Connect, NOW + 1).await.unwrap().expect("consumed");
    assert_eq!(
        (used.used_at, used.name.as_deref(), used.kind),
        (Some(NOW + 1), Some("Production"), WebTokenKind::Connect)
    );
    assert_eq!(store.consume_web_token("t1", WebTokenKind::Connect, NOW + 2).await.unwrap(), None, "single use");
    // Released (what it was for failed): usable again, once.
    store.release_web_token("t1").await.unwrap();
    assert!(store.consume_web_token("t1", WebTokenKind::Connect, NOW + 3).await.unwrap().is_some());
    assert_eq!(store.consume_web_token("t1", WebTokenKind::Connect, NOW + 4).await.unwrap(), None);
    // Two handles racing with one token: exactly one wins.
    store.insert_web_token(connect_token(org, who, "t2", NOW + 600)).await.unwrap();
    let other = store.reopen().await;
    let (x, y) = tokio::join!(
        store.consume_web_token("t2", WebTokenKind::Connect, NOW),
        other.consume_web_token("t2", WebTokenKind::Connect, NOW)
    );
    assert_eq!([x.unwrap().is_some(), y.unwrap().is_some()].iter().filter(|w| **w).count(), 1);
}

async fn old_web_state_is_pruned(store: Store) {
    let a = create_org(&store, "acme").await;
    let (org, who) = (&a.org.id, &a.owner.id);
    store.insert_web_session(session(org, who, "fresh", None)).await.unwrap();
    let mut idle = session(org, who, "idle", None);
    idle.last_seen_at = NOW - 3600;
    store.insert_web_session(idle).await.unwrap();
    store.insert_web_token(connect_token(org, who, "old", NOW - 100_000)).await.unwrap();
    store.insert_web_token(connect_token(org, who, "new", NOW + 600)).await.unwrap();
    let pruned = store.prune_web_state(NOW - 1800, NOW - 43_200).await.unwrap();
    assert_eq!(pruned, 2);
    assert!(store.web_session("fresh").await.unwrap().is_some() && store.web_session("idle").await.unwrap().is_none());
    assert!(store.web_token("new").await.unwrap().is_some() && store.web_token("old").await.unwrap().is_none());
}
