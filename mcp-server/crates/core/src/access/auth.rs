//! Authentication: from an `Authorization` header to a [`Caller`], the same for every face.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use converra::{Environment, Plan, Role};
use subtle::ConstantTimeEq;

use super::token;
use crate::{AuthError, Core, Error, RateLimitInfo, Result, ids};
use converra_metrics::LimitBucket;
use converra_store::{MemberRow, OrgRow};

/// Who is calling: an API key acting with its member's *current* role in one organization.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
    pub org_name: String,
    pub plan: Plan,
    pub member_id: String,
    pub email: String,
    pub role: Role,
    pub api_key_id: String,
    pub api_key_name: String,
    pub environment: Environment,
    /// Requests per minute for this key (from the plan).
    pub rate_limit_per_min: u32,
    /// The plan's monthly allowance of platform tokens.
    pub monthly_tokens: u64,
    /// Active API keys each member may hold.
    pub api_key_limit: u32,
    /// The organization's AI settings at the time of the request.
    pub ai: converra::AiSettings,
    /// The project the API key is bound to: every call acts in it ([`Caller::project_for`]).
    pub project_id: Option<String>,
}

impl Caller {
    /// `member` of `org` acting through the API key `api_key_id` (or a web session's stand-in),
    /// with the organization's current plan limits and AI settings.
    pub(crate) fn acting(
        org: &OrgRow,
        member: &MemberRow,
        api_key_id: String,
        api_key_name: String,
        environment: Environment,
        project_id: Option<String>,
    ) -> Self {
        let limits = super::plan_limits(org);
        Caller {
            rate_limit_per_min: limits.rate_limit_per_min,
            monthly_tokens: limits.monthly_tokens,
            api_key_limit: limits.api_keys,
            ai: converra::AiSettings {
                enabled: org.ai_enabled,
                tone: org.ai_tone,
                key_rotation_days: org.key_rotation_days.unwrap_or(converra::DEFAULT_KEY_ROTATION_DAYS),
            },
            org_id: org.id.clone(),
            org_name: org.name.clone(),
            plan: org.plan,
            member_id: member.id.clone(),
            email: member.email.clone(),
            role: member.role,
            api_key_id,
            api_key_name,
            environment,
            project_id,
        }
    }

    /// The project a completion acts in: a bound key's own, whether or not it names it (so an
    /// agent given the key cannot bill another project), else the one asked for, if any.
    pub fn project_for(&self, asked: Option<String>) -> Result<Option<String>> {
        match (&self.project_id, asked) {
            (None, asked) => Ok(asked),
            (Some(bound), None) => Ok(Some(bound.clone())),
            (Some(bound), Some(asked)) if asked == *bound => Ok(Some(asked)),
            (Some(_), Some(_)) => Err(Error::Forbidden(
                "This API key is bound to a project and cannot act in another: leave the project out, or use a key of that project",
            )),
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.role >= Role::Admin {
            Ok(())
        } else {
            Err(Error::Forbidden("This action requires the admin or owner role"))
        }
    }

    pub fn require_owner(&self) -> Result<()> {
        if self.role == Role::Owner { Ok(()) } else { Err(Error::Forbidden("This action requires the owner role")) }
    }
}

/// Which of a key's two buckets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// The plan's rate: every REST and `/v1` request, every MCP `tools/call`.
    Plan,
    /// MCP protocol traffic (`initialize`, notifications, `tools/list`, …) at 10× the plan's rate.
    Protocol,
}

/// How much larger the protocol bucket is than the plan bucket.
const PROTOCOL_FACTOR: u32 = 10;

/// When each key's `last_used_at` was last written: at most once a minute per key, so the hot
/// path does not fsync on every request.
#[derive(Default)]
pub struct LastUsed(Mutex<HashMap<String, Instant>>);

impl LastUsed {
    fn due(&self, key_id: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match map.get(key_id) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(60) => false,
            _ => {
                map.insert(key_id.to_owned(), now);
                true
            }
        }
    }
}

/// Reads `Bearer <token>`: the scheme in any case (RFC 9110 §11.1), one space, then a token of
/// visible ASCII and nothing else.
fn bearer(header: &[u8]) -> Result<&str, AuthError> {
    const SCHEME: &[u8] = b"bearer ";
    let (scheme, token) = header.split_at_checked(SCHEME.len()).ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || token.is_empty() {
        return Err(AuthError::NotBearer);
    }
    let valid = token.iter().all(|b| b.is_ascii_graphic());
    // Visible ASCII is UTF-8.
    std::str::from_utf8(token).ok().filter(|_| valid).ok_or(AuthError::Invalid)
}

impl Core {
    /// Authenticates a request and takes one unit of the key's plan bucket.
    ///
    /// Every failure is a 401 with its fixed message (`AuthError::message`: clients match on it); the rate limit is checked only
    /// for a valid key, so nobody can drain another key's bucket.
    pub async fn authenticate(&self, authorization: Option<&[u8]>) -> Result<(Caller, RateLimitInfo)> {
        self.authenticate_for(authorization, Bucket::Plan).await
    }

    /// Authenticates a request and takes one unit of `bucket`: the plan bucket for work (REST,
    /// `/v1`, MCP `tools/call`), the protocol bucket (10× the plan's rate) for MCP protocol
    /// traffic, so that opening sessions never spends the budget that tool calls need.
    pub async fn authenticate_for(
        &self,
        authorization: Option<&[u8]>,
        bucket: Bucket,
    ) -> Result<(Caller, RateLimitInfo)> {
        let header = authorization.ok_or(Error::Unauthorized(AuthError::Missing))?;
        let token = bearer(header).map_err(Error::Unauthorized)?;
        self.admit_token(token, bucket).await
    }

    /// Resolves a bare token and takes one unit of `bucket`: the stdio MCP face's
    /// `CONVERRA_API_KEY` before every `tools/call`, as the edge does for a request.
    pub async fn admit_token(&self, token: &str, bucket: Bucket) -> Result<(Caller, RateLimitInfo)> {
        let caller = self.caller_for_token(token).await?;
        let taken = match bucket {
            Bucket::Plan => self.limits.check(&caller.api_key_id, caller.rate_limit_per_min).await,
            Bucket::Protocol => {
                let name = format!("protocol:{}", caller.api_key_id);
                self.limits.check(&name, caller.rate_limit_per_min.saturating_mul(PROTOCOL_FACTOR)).await
            }
        };
        let taken = taken.map_err(|info| {
            self.metrics.rate_limited(match bucket {
                Bucket::Plan => LimitBucket::Plan,
                Bucket::Protocol => LimitBucket::Protocol,
            });
            Error::RateLimited(info)
        })?;
        Ok((caller, taken))
    }

    /// Resolves a bare token without rate limiting (web sign-in spends its own bucket).
    pub async fn caller_for_token(&self, token: &str) -> Result<Caller> {
        let invalid = Error::Unauthorized(AuthError::Invalid);
        // Hash first, so an unknown lookup id and a wrong secret cost the same work.
        let presented = token::hash(token);
        let parsed = token::parse(token).ok_or_else(|| Error::Unauthorized(AuthError::Invalid))?;
        let Some(found) = self.store.api_key_for_auth(&parsed.lookup_id).await? else {
            return Err(invalid);
        };
        let (key, member, org) = &*found;
        if !bool::from(key.secret_hash.ct_eq(&presented)) || key.environment != parsed.environment {
            return Err(invalid);
        }
        if key.revoked_at.is_some() {
            return Err(Error::Unauthorized(AuthError::Revoked));
        }
        if let Some(expires) = key.expires_at.as_deref().and_then(ids::parse_time)
            && expires <= time::OffsetDateTime::now_utc()
        {
            return Err(Error::Unauthorized(AuthError::Expired));
        }
        if self.last_used.due(&key.id) {
            // Bookkeeping off the request path: a failed write must not fail the request.
            let (store, id) = (self.store.clone(), key.id.clone());
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(&id, &ids::now()).await {
                    tracing::warn!(api_key_id = %id, error = %e, "could not record last use");
                }
            });
        }
        Ok(Caller::acting(org, member, key.id.clone(), key.name.clone(), key.environment, key.project_id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    use crate::AuthError;

    #[test]
    fn bearer_header_shape_is_strict_but_the_scheme_has_no_case() {
        for good in [&b"Bearer abc"[..], b"bearer abc", b"BEARER abc", b"bEaReR abc"] {
            assert_eq!(bearer(good), Ok("abc"), "{good:?}");
        }
        for no_token in [&b"Bearer"[..], b"Bearer ", b"Basic abc", b"Bearerabc", b"", b"\xff\xfe"] {
            assert_eq!(bearer(no_token), Err(AuthError::NotBearer), "{no_token:?}");
        }
        for bad in [&b"Bearer  abc"[..], b"Bearer a b", b"Bearer \xff", b"Bearer a\x00"] {
            assert_eq!(bearer(bad), Err(AuthError::Invalid), "{bad:?}");
        }
    }
}
