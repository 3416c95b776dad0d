//! The web face's state: sign-in sessions and one-time tokens (login and connect links). Rows
//! in the store, never in one process's memory, so a session or a link works on every replica.
//! Only hashes of the session ids and tokens are stored: a copy of the database signs nobody in.

use super::{Backend, Store, StoreResult};

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

impl Store {
    pub async fn insert_web_session(&self, row: WebSessionRow) -> StoreResult<()> {
        dispatch!(self.insert_web_session(row))
    }

    pub async fn web_session(&self, id_hash: &str) -> StoreResult<Option<WebSessionRow>> {
        dispatch!(self.web_session(id_hash))
    }

    /// Records a request of the session at `at` (unix seconds).
    pub async fn touch_web_session(&self, id_hash: &str, at: i64) -> StoreResult<()> {
        dispatch!(self.touch_web_session(id_hash, at))
    }

    pub async fn delete_web_session(&self, id_hash: &str) -> StoreResult<()> {
        dispatch!(self.delete_web_session(id_hash))
    }

    /// Deletes the sessions idle since before `idle_before` or created before `created_before`,
    /// and the tokens that expired before `created_before` (unix seconds). Returns how many rows.
    pub async fn prune_web_state(&self, idle_before: i64, created_before: i64) -> StoreResult<u64> {
        dispatch!(self.prune_web_state(idle_before, created_before))
    }

    pub async fn insert_web_token(&self, row: WebTokenRow) -> StoreResult<()> {
        dispatch!(self.insert_web_token(row))
    }

    /// The token with this hash, used or not (opening a connect page does not consume it).
    pub async fn web_token(&self, hash: &str) -> StoreResult<Option<WebTokenRow>> {
        dispatch!(self.web_token(hash))
    }

    /// Marks the token of `kind` used at `now`, atomically, if it is unused and unexpired; returns
    /// it then, and `None` otherwise (so two requests racing with one token: one wins).
    pub async fn consume_web_token(
        &self,
        hash: &str,
        kind: WebTokenKind,
        now: i64,
    ) -> StoreResult<Option<WebTokenRow>> {
        dispatch!(self.consume_web_token(hash, kind, now))
    }

    /// Makes a consumed token usable again (what it was for failed and changed nothing).
    pub async fn release_web_token(&self, hash: &str) -> StoreResult<()> {
        dispatch!(self.release_web_token(hash))
    }
}
