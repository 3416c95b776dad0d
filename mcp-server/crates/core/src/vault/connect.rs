//! Connect links: adding a provider key without its secret passing through a model.
//!
//! An agent (or a teammate without the secret) asks for a link bound to the organization, the
//! provider, the key's name, scope and environment, and the member who asked. The link travels
//! through a transcript, so it grants nothing by itself: the page it opens requires a
//! signed-in admin or owner of the same organization, and the token is consumed only when that
//! person submits the secret. Single use, 10 minutes, stored hashed.

use converra::{AddProviderKey, ConnectLink, CreateConnectLink, Environment, Provider, ProviderKey};
use secrecy::{ExposeSecret, SecretString};

use crate::access::sessions::{LINK_SECS, random_token, token_hash};
use crate::{Caller, Core, Error, Result, ids};
use converra_store::{WebTokenKind, WebTokenRow};

/// What a connect link asks for, shown on its page before the secret is pasted.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    pub org_name: String,
    pub provider: Provider,
    pub name: String,
    pub project_id: Option<String>,
    /// The project's name, for a project key.
    pub project_name: Option<String>,
    pub environment: Environment,
    /// The email of the member who asked (or "a member who has since left").
    pub asked_by: String,
    pub expires_at: String,
}

/// Every refusal of a link that is not (or no longer) this caller's to use reads the same.
fn gone() -> Error {
    Error::NotFound("Connect link")
}

impl Core {
    /// Creates a connect link (MCP `add_provider_key` without `api_key`, REST, SDK, CLI).
    pub async fn create_connect_link(&self, caller: &Caller, req: CreateConnectLink) -> Result<ConnectLink> {
        caller.require_admin()?;
        let name = crate::access::validate_name("name", &req.name, 100)?;
        self.check_project(caller, req.project_id.as_deref()).await?;
        let environment = req.environment.unwrap_or(caller.environment);
        let token = random_token();
        let now = ids::unix_now() as i64;
        self.store
            .insert_web_token(WebTokenRow {
                hash: token_hash(token.expose_secret()),
                kind: WebTokenKind::Connect,
                org_id: caller.org_id.clone(),
                member_id: caller.member_id.clone(),
                provider: Some(req.provider.as_str().to_owned()),
                name: Some(name.clone()),
                project_id: req.project_id.clone(),
                environment: Some(environment.as_str().to_owned()),
                created_at: now,
                expires_at: now + LINK_SECS,
                used_at: None,
            })
            .await?;
        Ok(ConnectLink {
            url: format!(
                "{}{}",
                self.public_url(),
                converra_base::links::fill(converra_base::links::CONNECT, &[token.expose_secret()])
            ),
            expires_at: unix_to_text(now + LINK_SECS),
            provider: req.provider,
            name,
            project_id: req.project_id,
            environment,
        })
    }

    /// What the link at `token` asks for, for the page that opens it. Opening does not consume
    /// it. Unknown, used, expired and other organizations' links are all "not found"; a plain
    /// member of the organization is refused.
    pub async fn connect_request(&self, caller: &Caller, token: &str) -> Result<ConnectRequest> {
        let row = self.store.web_token(&token_hash(token)).await?.ok_or_else(gone)?;
        let now = ids::unix_now() as i64;
        if row.kind != WebTokenKind::Connect
            || row.org_id != caller.org_id
            || row.used_at.is_some()
            || row.expires_at <= now
        {
            return Err(gone());
        }
        caller.require_admin()?;
        self.describe(caller, row).await
    }

    async fn describe(&self, caller: &Caller, row: WebTokenRow) -> Result<ConnectRequest> {
        let corrupt = || Error::Internal(crate::InternalError::Other("a connect link without its key's slot".into()));
        let asked_by = match self.store.member(&row.org_id, &row.member_id).await? {
            Some(m) => m.email,
            None => "a member who has since left".into(),
        };
        let project_name = match &row.project_id {
            Some(id) => self.store.project(&row.org_id, id).await?.map(|p| p.name),
            None => None,
        };
        Ok(ConnectRequest {
            org_name: caller.org_name.clone(),
            project_name,
            provider: row.provider.as_deref().and_then(|p| p.parse().ok()).ok_or_else(corrupt)?,
            name: row.name.ok_or_else(corrupt)?,
            project_id: row.project_id,
            environment: row.environment.as_deref().and_then(|e| e.parse().ok()).ok_or_else(corrupt)?,
            asked_by,
            expires_at: unix_to_text(row.expires_at),
        })
    }

    /// Stores the secret pasted on a connect link's page, as the signed-in `caller` (whose
    /// permissions apply, not the asker's), testing it first if asked. The token is consumed
    /// here, once; if storing fails (e.g. the test rejected the key) it is released, so the
    /// admin can paste the right key within the same 10 minutes.
    pub async fn use_connect_link(
        &self,
        caller: &Caller,
        token: &str,
        api_key: SecretString,
        test: bool,
    ) -> Result<ProviderKey> {
        let request = self.connect_request(caller, token).await?;
        let hash = token_hash(token);
        let now = ids::unix_now() as i64;
        self.store.consume_web_token(&hash, WebTokenKind::Connect, now).await?.ok_or_else(gone)?;
        let add = AddProviderKey {
            provider: request.provider,
            name: request.name,
            api_key,
            project_id: request.project_id,
            environment: Some(request.environment),
            test,
        };
        match self.add_provider_key(caller, add).await {
            Ok(key) => Ok(key),
            Err(e) => {
                self.store.release_web_token(&hash).await?;
                Err(e)
            }
        }
    }
}

/// Unix seconds as RFC 3339.
fn unix_to_text(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs).map(ids::format_time).unwrap_or_default()
}
