//! Web sign-in: sessions and one-time login links, rows in the store (by hash only), so any
//! replica serves any browser.
//!
//! - A session starts from a login link (`converra admin login-link`) or a Converra API key,
//!   and gets a new random id at every sign-in (no fixation). It ends after 30 idle minutes,
//!   12 hours after it started, at sign-out, when its member is removed, and when the API key
//!   it signed in with is revoked or expires. The member's role is read on every request.
//! - Each attempt spends the client address's sign-in bucket (10 a minute) *before* the
//!   credentials are checked, so guessing is bounded whatever the guesses' outcome.

use converra::Environment;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use super::Caller;
use crate::{AuthError, Core, Error, Result, ids};
use converra_metrics::LimitBucket;
use converra_store::{MemberRow, OrgRow, WebSessionRow, WebTokenKind, WebTokenRow};

/// A session ends after this long without a request…
pub const IDLE_SECS: i64 = 30 * 60;
/// …and this long after it started, however busy.
pub const ABSOLUTE_SECS: i64 = 12 * 60 * 60;
/// How long a login or connect link works.
pub const LINK_SECS: i64 = 10 * 60;
/// Failed (and other) sign-in attempts per minute per client address.
pub const SIGN_IN_ATTEMPTS_PER_MIN: u32 = 10;
/// A session's `last_seen_at` is written at most this often (idle expiry needs no finer grain).
const TOUCH_EVERY_SECS: i64 = 60;

/// 32 random bytes, URL-safe base64 (43 characters): session ids, link tokens.
pub fn random_token() -> SecretString {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rng().random();
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a token, hex: what the store keeps.
pub(crate) fn token_hash(token: &str) -> String {
    ids::hex(&super::token::hash(token))
}

/// The CSRF token of a session: derived from its secret id, so it needs no row and nobody
/// without the cookie can compute it.
pub fn csrf_token(session: &SecretString) -> String {
    token_hash(&format!("csrf:{}", session.expose_secret()))[..32].to_owned()
}

/// A fresh sign-in: the cookie's value (shown to the browser only) and who it is.
pub struct NewSession {
    pub cookie: SecretString,
    pub caller: Caller,
}

/// The caller a web session acts as. Its bucket is its API key's, or the member's own
/// (`web:<member id>`) for a session from a login link.
fn web_caller(org: &OrgRow, member: &MemberRow, key: Option<(&str, &str, Environment)>) -> Caller {
    let (api_key_id, api_key_name, environment) = match key {
        Some((id, name, env)) => (id.to_owned(), name.to_owned(), env),
        None => (format!("web:{}", member.id), "web sign-in".to_owned(), Environment::Live),
    };
    // The web face runs no completions: a session acts in no project.
    Caller::acting(org, member, api_key_id, api_key_name, environment, None)
}

impl Core {
    /// `converra admin login-link`: a one-time sign-in URL for the member `email` of `org`
    /// (id or name), working for 10 minutes, built from the public URL.
    pub async fn create_login_link(&self, org: &str, email: &str) -> Result<SecretString> {
        let org = self.admin_find_organization(org).await?;
        let email = email.trim();
        let member = self
            .store
            .members(&org.id)
            .await?
            .into_iter()
            .find(|m| m.email.eq_ignore_ascii_case(email))
            .ok_or(Error::NotFound("Member"))?;
        self.login_link_for(org.id, member.id).await
    }

    /// A one-time sign-in URL for a member, 10 minutes, built from the public URL. Callers
    /// decide who may have one: the operator's CLI, or the admin who just added the member.
    pub(super) async fn login_link_for(&self, org_id: String, member_id: String) -> Result<SecretString> {
        let token = random_token();
        let now = ids::unix_now() as i64;
        self.store
            .insert_web_token(WebTokenRow {
                hash: token_hash(token.expose_secret()),
                kind: WebTokenKind::Login,
                org_id,
                member_id,
                provider: None,
                name: None,
                project_id: None,
                environment: None,
                created_at: now,
                expires_at: now + LINK_SECS,
                used_at: None,
            })
            .await?;
        let path = converra_base::links::fill(converra_base::links::SIGN_IN_LINK, &[token.expose_secret()]);
        Ok(SecretString::from(format!("{}{path}", self.public_url())))
    }

    /// Spends one sign-in attempt of `client` (an address, `None` when unknown; IPv6 by its
    /// /64); refuses when it has none left.
    pub async fn sign_in_attempt(&self, client: Option<std::net::IpAddr>) -> Result<()> {
        let attempt = self.limits.check_client("sign-in", client, SIGN_IN_ATTEMPTS_PER_MIN).await;
        attempt.map(|_| ()).map_err(|info| {
            self.metrics.rate_limited(LimitBucket::SignIn);
            Error::RateLimited(info)
        })
    }

    /// Who a login link's token signs in as (the organization's name and the member's email),
    /// for the page that opens it: opening does not consume it. Unknown, used and expired links
    /// are `LinkInvalid`, as signing in with them would be.
    pub async fn login_link_holder(&self, token: &str) -> Result<(String, String)> {
        let invalid = || Error::Unauthorized(AuthError::LinkInvalid);
        let row = self.store.web_token(&token_hash(token)).await?.ok_or_else(invalid)?;
        let now = ids::unix_now() as i64;
        if row.kind != WebTokenKind::Login || row.used_at.is_some() || row.expires_at <= now {
            return Err(invalid());
        }
        let (org, member) = self.org_and_member(&row.org_id, &row.member_id).await.map_err(|_| invalid())?;
        Ok((org.name, member.email))
    }

    /// Signs in with a login link's token: single use, within its 10 minutes.
    pub async fn sign_in_with_link(&self, token: &str) -> Result<NewSession> {
        let now = ids::unix_now() as i64;
        let used = self.store.consume_web_token(&token_hash(token), WebTokenKind::Login, now).await?;
        let row = used.ok_or(Error::Unauthorized(AuthError::LinkInvalid))?;
        let (org, member) = self.org_and_member(&row.org_id, &row.member_id).await?;
        self.start_session(web_caller(&org, &member, None), None).await
    }

    /// Signs in with a Converra API key: the session acts as the key's member, and ends when
    /// the key is revoked or expires.
    pub async fn sign_in_with_api_key(&self, key: &SecretString) -> Result<NewSession> {
        let caller = self.caller_for_token(key.expose_secret().trim()).await?;
        let key_id = caller.api_key_id.clone();
        self.start_session(caller, Some(key_id)).await
    }

    async fn start_session(&self, caller: Caller, api_key_id: Option<String>) -> Result<NewSession> {
        let now = ids::unix_now() as i64;
        // Old rows go on the way: sign-ins are rare, so this costs nothing worth a timer.
        self.store.prune_web_state(now - IDLE_SECS, now - ABSOLUTE_SECS).await?;
        let cookie = random_token();
        self.store
            .insert_web_session(WebSessionRow {
                id_hash: token_hash(cookie.expose_secret()),
                org_id: caller.org_id.clone(),
                member_id: caller.member_id.clone(),
                api_key_id,
                created_at: now,
                last_seen_at: now,
            })
            .await?;
        // The one durable trace of a sign-in: from now on no admin may hand this member a link.
        self.store.member_signed_in(&caller.org_id, &caller.member_id, &ids::now()).await?;
        Ok(NewSession { cookie, caller })
    }

    /// The caller of a session cookie, with the member's current role; `SignedOut` when the
    /// session is unknown, expired, or its member or API key is gone.
    pub async fn session_caller(&self, cookie: &SecretString) -> Result<Caller> {
        let signed_out = Error::Unauthorized(AuthError::SignedOut);
        let hash = token_hash(cookie.expose_secret());
        let Some(session) = self.store.web_session(&hash).await? else {
            return Err(signed_out);
        };
        let now = ids::unix_now() as i64;
        let ended = async {
            self.store.delete_web_session(&hash).await?;
            Err(Error::Unauthorized(AuthError::SignedOut))
        };
        if now - session.last_seen_at > IDLE_SECS || now - session.created_at > ABSOLUTE_SECS {
            return ended.await;
        }
        let Ok((org, member)) = self.org_and_member(&session.org_id, &session.member_id).await else {
            return ended.await;
        };
        let caller = match &session.api_key_id {
            None => web_caller(&org, &member, None),
            Some(key_id) => match self.store.api_key(&org.id, key_id).await? {
                Some(k) if k.revoked_at.is_none() && !expired(k.expires_at.as_deref()) && k.member_id == member.id => {
                    web_caller(&org, &member, Some((&k.id, &k.name, k.environment)))
                }
                _ => return ended.await,
            },
        };
        if now - session.last_seen_at >= TOUCH_EVERY_SECS {
            self.store.touch_web_session(&hash, now).await?;
        }
        Ok(caller)
    }

    /// Ends a session (sign-out). Unknown sessions are already ended.
    pub async fn sign_out(&self, cookie: &SecretString) -> Result<()> {
        Ok(self.store.delete_web_session(&token_hash(cookie.expose_secret())).await?)
    }

    /// Spends one unit of the caller's plan bucket: every state-changing web form does.
    pub async fn spend_plan_bucket(&self, caller: &Caller) -> Result<()> {
        self.limits.check(&caller.api_key_id, caller.rate_limit_per_min).await.map(|_| ()).map_err(|info| {
            self.metrics.rate_limited(LimitBucket::Plan);
            Error::RateLimited(info)
        })
    }

    async fn org_and_member(&self, org_id: &str, member_id: &str) -> Result<(OrgRow, MemberRow)> {
        let gone = || Error::Unauthorized(AuthError::SignedOut);
        let org = self.store.organization(org_id).await?.ok_or_else(gone)?;
        let member = self.store.member(org_id, member_id).await?.ok_or_else(gone)?;
        Ok((org, member))
    }
}

fn expired(at: Option<&str>) -> bool {
    at.and_then(ids::parse_time).is_some_and(|t| t <= time::OffsetDateTime::now_utc())
}
