//! The store contract: one suite, run against every backend. Each case is written once as an
//! `async fn(Store)` and `contract!` makes a test of it per backend: SQLite on a fresh file
//! always, PostgreSQL on a fresh database of the server `CONVERRA_TEST_DATABASE_URL` names
//! (ignored in a plain `cargo test`; `.ci/run` starts a throwaway server and runs them).

mod access;
mod allowance;
mod health;
mod operations;
mod relayed;
mod sessions;
mod spend;
mod vault;

use converra::{Actor, Environment, KeyStatus, Plan, Provider, Role};
use secrecy::SecretString;

use super::{ApiKeyRow, DataKeyRow, MemberRow, NewAuditEvent, OrgRow, ProviderKeyRow, Store};

/// A store on a fresh SQLite file; the directory lives as long as the store is used.
async fn sqlite() -> (Store, Option<tempfile::TempDir>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open_sqlite(&dir.path().join("contract.db")).await.expect("SQLite opens");
    (store, Some(dir))
}

/// A store on a fresh PostgreSQL database.
async fn postgres() -> (Store, Option<tempfile::TempDir>) {
    let url = fresh_postgres_database().await;
    (Store::open_postgres(&SecretString::from(url)).await.expect("PostgreSQL opens"), None)
}

/// An empty store of the same backend as `store` (and the directory its file lives in).
async fn empty_like(store: &Store) -> (Store, Option<tempfile::TempDir>) {
    if store.backend_name() == "PostgreSQL" { postgres().await } else { sqlite().await }
}

/// Creates an empty database on the test server and returns its URL.
pub(crate) async fn fresh_postgres_database() -> String {
    let admin = std::env::var("CONVERRA_TEST_DATABASE_URL")
        .expect("CONVERRA_TEST_DATABASE_URL names a PostgreSQL server to test against (.ci/run starts one)");
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = crate::contract::sqlite().await;
                    super::$case(store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL (CONVERRA_TEST_DATABASE_URL), installed and started by .ci/run"]
                async fn $case() {
                    let (store, _dir) = crate::contract::postgres().await;
                    super::$case(store).await;
                }
            )*
        }
    };
}
pub(crate) use contract;

// --- fixtures ----------------------------------------------------------------------------------

fn id(prefix: &str) -> String {
    converra_base::ids::new_id(prefix)
}

fn now() -> String {
    converra_base::ids::now()
}

fn actor() -> Actor {
    Actor { member_id: None, email: Some("operator@example.com".into()), api_key_id: None }
}

fn event(org_id: &str, action: &'static str, object_id: &str) -> NewAuditEvent {
    NewAuditEvent {
        id: id("evt"),
        org_id: org_id.to_owned(),
        actor: actor(),
        action,
        object_type: "test",
        object_id: object_id.to_owned(),
        detail: serde_json::json!({"n": 1}),
        outcome: "ok",
        created_at: now(),
    }
}

/// An organization with its owner, one API key and one data key, as `create_organization`
/// takes them.
struct Seed {
    org: OrgRow,
    owner: MemberRow,
    key: ApiKeyRow,
    data_key: DataKeyRow,
}

fn seed(name: &str) -> Seed {
    let org = OrgRow {
        id: id("org"),
        name: name.to_owned(),
        plan: Plan::Free,
        rate_limit_per_min: None,
        monthly_tokens: None,
        api_key_limit: None,
        ai_enabled: true,
        ai_tone: None,
        key_rotation_days: None,
        created_at: now(),
    };
    let owner = member(&org.id, &format!("owner@{name}.example"), Role::Owner);
    let key = api_key(&org.id, &owner.id);
    let data_key = DataKeyRow {
        org_id: org.id.clone(),
        version: 1,
        wrapped: vec![1; 60],
        master_version: 1,
        wrapped_prev: None,
        prev_master_version: None,
        created_at: now(),
    };
    Seed { org, owner, key, data_key }
}

/// Creates an organization; returns its seed.
async fn create_org(store: &Store, name: &str) -> Seed {
    let s = seed(name);
    let events = vec![event(&s.org.id, "organization.created", &s.org.id)];
    store
        .create_organization(s.org.clone(), s.owner.clone(), s.key.clone(), s.data_key.clone(), events)
        .await
        .expect("create an organization");
    s
}

fn member(org_id: &str, email: &str, role: Role) -> MemberRow {
    MemberRow {
        id: id("mem"),
        org_id: org_id.to_owned(),
        email: email.to_owned(),
        role,
        created_at: now(),
        first_signed_in_at: None,
    }
}

fn api_key(org_id: &str, member_id: &str) -> ApiKeyRow {
    let lookup = id("lk");
    ApiKeyRow {
        id: id("key"),
        lookup_id: lookup,
        org_id: org_id.to_owned(),
        member_id: member_id.to_owned(),
        name: "Default".into(),
        environment: Environment::Live,
        secret_hash: [7; 32],
        prefix: "sk_live_".into(),
        last_four: "abcd".into(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        created_at: now(),
        project_id: None,
    }
}

fn provider_key(org_id: &str, project_id: Option<&str>, provider: Provider, name: &str) -> ProviderKeyRow {
    ProviderKeyRow {
        id: id("pk"),
        org_id: org_id.to_owned(),
        project_id: project_id.map(str::to_owned),
        environment: Environment::Live,
        provider,
        name: name.to_owned(),
        ciphertext: format!("sealed {name}").into_bytes(),
        data_key_version: 1,
        masked: "sk-...wxyz".into(),
        last_four: "wxyz".into(),
        active: true,
        status: KeyStatus::Untested,
        last_test: None,
        health: Default::default(),
        created_by: None,
        updated_by: None,
        created_at: now(),
        updated_at: now(),
    }
}

/// The audit actions of an organization, oldest first.
async fn actions(store: &Store, org_id: &str) -> Vec<String> {
    let mut events = store.audit_events(org_id, 1000).await.expect("audit events");
    events.reverse();
    events.into_iter().map(|e| e.action).collect()
}
