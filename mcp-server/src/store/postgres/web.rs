//! Web sessions and one-time tokens (see `store/web.rs`).

use tokio_postgres::Row;

use super::Postgres;
use crate::store::StoreResult;
use crate::store::web::{WebSessionRow, WebTokenKind, WebTokenRow};

const SESSION: &str = "id_hash, org_id, member_id, api_key_id, created_at, last_seen_at";
const TOKEN: &str =
    "hash, kind, org_id, member_id, provider, name, project_id, environment, created_at, expires_at, used_at";

fn session(r: &Row) -> WebSessionRow {
    WebSessionRow {
        id_hash: r.get(0),
        org_id: r.get(1),
        member_id: r.get(2),
        api_key_id: r.get(3),
        created_at: r.get(4),
        last_seen_at: r.get(5),
    }
}

fn token(r: &Row) -> StoreResult<WebTokenRow> {
    Ok(WebTokenRow {
        hash: r.get(0),
        kind: WebTokenKind::parse(r.get(1))?,
        org_id: r.get(2),
        member_id: r.get(3),
        provider: r.get(4),
        name: r.get(5),
        project_id: r.get(6),
        environment: r.get(7),
        created_at: r.get(8),
        expires_at: r.get(9),
        used_at: r.get(10),
    })
}

impl Postgres {
    pub(in crate::store) async fn insert_web_session(&self, s: WebSessionRow) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute(
            &format!("INSERT INTO web_sessions ({SESSION}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[&s.id_hash, &s.org_id, &s.member_id, &s.api_key_id, &s.created_at, &s.last_seen_at],
        )
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn web_session(&self, id_hash: &str) -> StoreResult<Option<WebSessionRow>> {
        let c = self.client().await?;
        let row = c.query_opt(&format!("SELECT {SESSION} FROM web_sessions WHERE id_hash = $1"), &[&id_hash]).await?;
        Ok(row.as_ref().map(session))
    }

    pub(in crate::store) async fn touch_web_session(&self, id_hash: &str, at: i64) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute("UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1", &[&id_hash, &at]).await?;
        Ok(())
    }

    pub(in crate::store) async fn delete_web_session(&self, id_hash: &str) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute("DELETE FROM web_sessions WHERE id_hash = $1", &[&id_hash]).await?;
        Ok(())
    }

    pub(in crate::store) async fn prune_web_state(&self, idle_before: i64, created_before: i64) -> StoreResult<u64> {
        let c = self.client().await?;
        let sessions = c
            .execute(
                "DELETE FROM web_sessions WHERE last_seen_at < $1 OR created_at < $2",
                &[&idle_before, &created_before],
            )
            .await?;
        let tokens = c.execute("DELETE FROM web_tokens WHERE expires_at < $1", &[&created_before]).await?;
        Ok(sessions + tokens)
    }

    pub(in crate::store) async fn insert_web_token(&self, t: WebTokenRow) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute(
            &format!("INSERT INTO web_tokens ({TOKEN}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            &[
                &t.hash,
                &t.kind.as_str(),
                &t.org_id,
                &t.member_id,
                &t.provider,
                &t.name,
                &t.project_id,
                &t.environment,
                &t.created_at,
                &t.expires_at,
                &t.used_at,
            ],
        )
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn web_token(&self, hash: &str) -> StoreResult<Option<WebTokenRow>> {
        let c = self.client().await?;
        let row = c.query_opt(&format!("SELECT {TOKEN} FROM web_tokens WHERE hash = $1"), &[&hash]).await?;
        row.as_ref().map(token).transpose()
    }

    pub(in crate::store) async fn consume_web_token(
        &self,
        hash: &str,
        kind: WebTokenKind,
        now: i64,
    ) -> StoreResult<Option<WebTokenRow>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE web_tokens SET used_at = $3
                     WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3
                     RETURNING {TOKEN}"
                ),
                &[&hash, &kind.as_str(), &now],
            )
            .await?;
        row.as_ref().map(token).transpose()
    }

    pub(in crate::store) async fn release_web_token(&self, hash: &str) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute("UPDATE web_tokens SET used_at = NULL WHERE hash = $1", &[&hash]).await?;
        Ok(())
    }
}
