//! Forms answered once. The web's Create API Key shows the new key as the answer to its POST
//! (it is never stored to be shown later), so a reload of that page posts the form again: its
//! one-time nonce makes the second post find the first and create nothing.

use converra::{CreateApiKey, CreatedApiKey};

use super::Caller;
use super::sessions::{ABSOLUTE_SECS, token_hash};
use crate::{Core, Error, Result, ids};
use converra_store::{WebTokenKind, WebTokenRow};

impl Core {
    /// Creates an API key unless the form's `nonce` was answered before (then `None`). The
    /// nonce is claimed by inserting it, used, under the member's name: the store's unique
    /// hash lets exactly one post through, on any replica.
    pub async fn create_api_key_once(
        &self,
        caller: &Caller,
        nonce: &str,
        req: CreateApiKey,
    ) -> Result<Option<CreatedApiKey>> {
        if nonce.is_empty() || nonce.len() > 64 {
            return Err(Error::validation("nonce", "The form is missing its one-time field: reload the page"));
        }
        let now = ids::unix_now() as i64;
        let claim = WebTokenRow {
            hash: token_hash(&format!("form:{}:{nonce}", caller.member_id)),
            kind: WebTokenKind::Form,
            org_id: caller.org_id.clone(),
            member_id: caller.member_id.clone(),
            provider: None,
            name: None,
            project_id: None,
            environment: None,
            created_at: now,
            expires_at: now + ABSOLUTE_SECS,
            used_at: Some(now),
        };
        match self.store.insert_web_token(claim).await {
            Ok(()) => self.create_api_key(caller, req).await.map(Some),
            Err(e) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
