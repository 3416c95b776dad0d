//! Nothing acknowledged is lost: clients add, rotate and remove provider keys and create
//! projects concurrently; the server is `kill -9`ed at a random moment; after a restart every
//! write that was answered 2xx is there, every acknowledged removal stays removed, no slot has
//! two active keys, and SQLite's integrity check passes. Three rounds on one database.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use converra_test_kit::{Server, random_master_key};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::CONVERRA;

#[derive(Default)]
struct Acknowledged {
    projects: HashSet<String>,
    keys: HashSet<String>,
    removed: HashSet<String>,
    /// Removals sent but not answered (killed, or timed out): either outcome is correct.
    removing: HashSet<String>,
}

async fn client(base: String, key: String, worker: usize, acked: Arc<Mutex<Acknowledged>>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut r = http.request(method, format!("{base}{path}")).bearer_auth(&key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    for n in 0.. {
        let name = format!("w{worker}-{n}-{}", rand::random::<u32>());
        let Ok(r) = send(reqwest::Method::POST, "/api/v1/projects".into(), Some(json!({"name": name}))).await else {
            return;
        };
        if r.status() == 201 {
            let id = r.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_owned));
            acked.lock().unwrap().projects.extend(id);
        }
        let secret = format!("sk-proj-CRASH{worker}x{n:06}key0123456789ab");
        let body = json!({"provider": "openai", "name": name, "api_key": secret});
        let Ok(r) = send(reqwest::Method::POST, "/api/v1/provider-keys".into(), Some(body)).await else { return };
        if r.status() == 201 {
            let id = r.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_owned));
            acked.lock().unwrap().keys.extend(id);
        }
        // Roll back to an older key now and then, and remove another.
        let (older, victim) = {
            let a = acked.lock().unwrap();
            let live: Vec<&String> = a.keys.iter().filter(|k| !a.removed.contains(*k)).collect();
            (live.first().map(|s| s.to_string()), (live.len() > 3).then(|| live[live.len() / 2].to_string()))
        };
        if let Some(id) = older
            && send(reqwest::Method::POST, format!("/api/v1/provider-keys/{id}/activate"), None).await.is_err()
        {
            return;
        }
        if let Some(id) = victim {
            acked.lock().unwrap().removing.insert(id.clone());
            let Ok(r) = send(reqwest::Method::DELETE, format!("/api/v1/provider-keys/{id}"), None).await else {
                return;
            };
            if r.status() == 204 {
                acked.lock().unwrap().removed.insert(id);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_under_concurrent_load() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("converra.db");
    let master = random_master_key();
    let envs = [("CONVERRA_MASTER_KEY", master.as_str()), ("CONVERRA_LOG", "warn")];
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE);
    let mut owner = None;
    for round in 0..3 {
        let mut server = Server::start(CONVERRA, &db, &envs).await;
        let key = match &owner {
            Some(k) => k,
            None => owner.insert(server.bootstrap_key().await),
        }
        .clone();
        let workers: Vec<_> =
            (0..4).map(|w| tokio::spawn(client(server.base.clone(), key.clone(), w, acked.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..600))).await;
        server.finish(); // SIGKILL, mid-write
        for w in workers {
            let _ = w.await;
        }

        let server = Server::start(CONVERRA, &db, &envs).await;
        let (_, projects) = server.get("/api/v1/projects", &key).await;
        let (_, keys) = server.get("/api/v1/provider-keys", &key).await;
        let a = acked.lock().unwrap();
        assert!(!a.keys.is_empty(), "round {round}: some writes were acknowledged");
        let stored: HashSet<String> =
            projects["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
        assert!(a.projects.is_subset(&stored), "round {round}: acknowledged projects lost");
        let keys = keys["data"].as_array().unwrap().clone();
        let stored: HashSet<String> = keys.iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect();
        for id in &a.keys {
            if a.removed.contains(id) {
                assert!(!stored.contains(id), "round {round}: acknowledged removal of {id} undone");
            } else if !a.removing.contains(id) {
                assert!(stored.contains(id), "round {round}: acknowledged key {id} lost");
            }
        }
        assert!(keys.iter().filter(|k| k["active"] == true).count() <= 1, "round {round}: two active keys");
        drop(a);
        drop(server);
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "round {round}");
    }
}
