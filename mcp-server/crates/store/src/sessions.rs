//! The web face's state: sign-in sessions and one-time tokens (login and connect links). Rows
//! in the store, never in one process's memory, so a session or a link works on every replica.
//! Only hashes of the session ids and tokens are stored: a copy of the database signs nobody in.

use super::sql::{Conn, FromRow, Row, Sql};
use super::{Store, StoreResult};

/// A session's columns.
macro_rules! session_cols {
    () => {
        "id_hash, org_id, member_id, api_key_id, created_at, last_seen_at"
    };
}
/// A token's columns.
macro_rules! token_cols {
    () => {
        "hash, kind, org_id, member_id, provider, name, project_id, environment, created_at, expires_at, used_at"
    };
}

static INSERT_SESSION: Sql =
    Sql::new(concat!("INSERT INTO web_sessions (", session_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6)"));
static SESSION: Sql = Sql::new(concat!("SELECT ", session_cols!(), " FROM web_sessions WHERE id_hash = $1"));
static TOUCH_SESSION: Sql = Sql::new("UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1");
static DELETE_SESSION: Sql = Sql::new("DELETE FROM web_sessions WHERE id_hash = $1");
static PRUNE_SESSIONS: Sql = Sql::new("DELETE FROM web_sessions WHERE last_seen_at < $1 OR created_at < $2");
static PRUNE_TOKENS: Sql = Sql::new("DELETE FROM web_tokens WHERE expires_at < $1");
static INSERT_TOKEN: Sql = Sql::new(concat!(
    "INSERT INTO web_tokens (",
    token_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
));
static TOKEN: Sql = Sql::new(concat!("SELECT ", token_cols!(), " FROM web_tokens WHERE hash = $1"));
static CONSUME_TOKEN: Sql = Sql::new(concat!(
    "UPDATE web_tokens SET used_at = $3 WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3
     RETURNING ",
    token_cols!()
));
static RELEASE_TOKEN: Sql = Sql::new("UPDATE web_tokens SET used_at = NULL WHERE hash = $1");

/// A signed-in browser. `id_hash` is the SHA-256 (hex) of the cookie's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSessionRow {
    pub id_hash: String,
    pub org_id: String,
    pub member_id: String,
    /// The Converra API key the session signed in with (its revocation ends the session), or
    /// `None` for a login link.
    pub api_key_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last request (idle expiry).
    pub last_seen_at: i64,
}

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebTokenKind {
    /// Signs a member in (`converra admin login-link`).
    Login,
    /// Lets a signed-in admin paste a provider key an agent asked for (`/connect/<token>`).
    Connect,
    /// A form answered once (the web's Create API Key): stored used, when its answer is made,
    /// so a reload that posts it again finds it taken.
    Form,
}

impl WebTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Connect => "connect",
            Self::Form => "form",
        }
    }

    /// Reads a kind stored as text.
    pub(super) fn parse(kind: &str) -> StoreResult<Self> {
        match kind {
            "login" => Ok(Self::Login),
            "connect" => Ok(Self::Connect),
            "form" => Ok(Self::Form),
            _ => Err(super::StoreError::Corrupt { table: "web_tokens", what: format!("kind `{kind}`") }),
        }
    }
}

/// A one-time token: single use, with a deadline. A connect token carries what the key will be
/// (provider, name, project, environment); a login token leaves those empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebTokenRow {
    /// SHA-256 (hex) of the token.
    pub hash: String,
    pub kind: WebTokenKind,
    pub org_id: String,
    /// Who the login link signs in, or who asked for the connect link.
    pub member_id: String,
    pub provider: Option<String>,
    pub name: Option<String>,
    pub project_id: Option<String>,
    pub environment: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl FromRow for WebSessionRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(WebSessionRow {
            id_hash: r.get(0)?,
            org_id: r.get(1)?,
            member_id: r.get(2)?,
            api_key_id: r.get(3)?,
            created_at: r.get(4)?,
            last_seen_at: r.get(5)?,
        })
    }
}

impl FromRow for WebTokenRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(WebTokenRow {
            hash: r.get(0)?,
            kind: WebTokenKind::parse(&r.get::<String>(1)?)?,
            org_id: r.get(2)?,
            member_id: r.get(3)?,
            provider: r.get(4)?,
            name: r.get(5)?,
            project_id: r.get(6)?,
            environment: r.get(7)?,
            created_at: r.get(8)?,
            expires_at: r.get(9)?,
            used_at: r.get(10)?,
        })
    }
}

impl Store {
    pub async fn insert_web_session(&self, s: WebSessionRow) -> StoreResult<()> {
        read!(self, |c| async move {
            c.execute(
                &INSERT_SESSION,
                &[&s.id_hash, &s.org_id, &s.member_id, &s.api_key_id, &s.created_at, &s.last_seen_at],
            )
            .await?;
            Ok(())
        })
    }

    pub async fn web_session(&self, id_hash: &str) -> StoreResult<Option<WebSessionRow>> {
        let id_hash = id_hash.to_owned();
        read!(self, |c| c.query_opt(&SESSION, &[&id_hash]))
    }

    /// Records a request of the session at `at` (unix seconds).
    pub async fn touch_web_session(&self, id_hash: &str, at: i64) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        read!(self, |c| async move {
            c.execute(&TOUCH_SESSION, &[&id_hash, &at]).await?;
            Ok(())
        })
    }

    pub async fn delete_web_session(&self, id_hash: &str) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        read!(self, |c| async move {
            c.execute(&DELETE_SESSION, &[&id_hash]).await?;
            Ok(())
        })
    }

    /// Deletes the sessions idle since before `idle_before` or created before `created_before`,
    /// and the tokens that expired before `created_before` (unix seconds). Returns how many rows.
    pub async fn prune_web_state(&self, idle_before: i64, created_before: i64) -> StoreResult<u64> {
        read!(self, |c| async move {
            let sessions = c.execute(&PRUNE_SESSIONS, &[&idle_before, &created_before]).await?;
            Ok(sessions + c.execute(&PRUNE_TOKENS, &[&created_before]).await?)
        })
    }

    pub async fn insert_web_token(&self, t: WebTokenRow) -> StoreResult<()> {
        read!(self, |c| async move {
            let params: [&dyn super::sql::Value; 11] = [
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
            ];
            c.execute(&INSERT_TOKEN, &params).await?;
            Ok(())
        })
    }

    /// The token with this hash, used or not (opening a connect page does not consume it).
    pub async fn web_token(&self, hash: &str) -> StoreResult<Option<WebTokenRow>> {
        let hash = hash.to_owned();
        read!(self, |c| c.query_opt(&TOKEN, &[&hash]))
    }

    /// Marks the token of `kind` used at `now`, atomically, if it is unused and unexpired; returns
    /// it then, and `None` otherwise (so two requests racing with one token: one wins).
    pub async fn consume_web_token(
        &self,
        hash: &str,
        kind: WebTokenKind,
        now: i64,
    ) -> StoreResult<Option<WebTokenRow>> {
        let hash = hash.to_owned();
        read!(self, |c| c.query_opt(&CONSUME_TOKEN, &[&hash, &kind.as_str(), &now]))
    }

    /// Makes a consumed token usable again (what it was for failed and changed nothing).
    pub async fn release_web_token(&self, hash: &str) -> StoreResult<()> {
        let hash = hash.to_owned();
        read!(self, |c| async move {
            c.execute(&RELEASE_TOKEN, &[&hash]).await?;
            Ok(())
        })
    }
}
