//! The admission of a completion: the rules every entry applies before anything is sent, in
//! the order they answer. The entries are REST `/api/v1/completions` and MCP `complete`
//! (`completions.rs`), `/v1/chat/completions` (`agent.rs`), `/v1/responses` and
//! `/v1/embeddings` (`responses.rs`), `/v1/messages` and its `count_tokens` (`messages.rs`):
//!
//! 1. the organization's AI switch: `AI_DISABLED`;
//! 2. the entry's own checks of its request that need no provider (REST's `validate`; an agent
//!    wire passes none here, its body's top level was checked by the face's view);
//! 3. the model, which names its provider (`parse_model`): `VALIDATION` on `model`; then the
//!    project, a bound key's own (`Caller::project_for`): `FORBIDDEN` if it names another;
//! 4. the entry's own checks of that provider (does its wire reach it, a field or header it
//!    refuses), written in the entry, between [`Core::admit`] and [`Core::admitted_key`];
//! 5. a key resolved (project, organization, the platform's allowance): `NO_PROVIDER_KEY`.

use converra::{KeySource, Provider};

use super::completions::parse_model;
use super::vault::ResolvedKey;
use super::{Caller, Core, Error, Result};

/// A completion past the first rules: AI on, its model read, the project it acts in.
#[derive(Debug, Clone)]
pub(super) struct Admitted {
    pub(super) provider: Provider,
    /// The model as the provider knows it (no `provider/` prefix).
    pub(super) model: String,
    /// The project named (`X-Converra-Project`, `project_id`), or the calling key's own.
    pub(super) project_id: Option<String>,
}

impl Core {
    /// Rules 1–3: `AI_DISABLED`, then `request` (the entry's checks that need no provider),
    /// then the model and the project (`project_id`, as the request named it, if it did).
    pub(super) fn admit(
        &self,
        caller: &Caller,
        model: &str,
        project_id: Option<String>,
        request: impl FnOnce() -> Result<()>,
    ) -> Result<Admitted> {
        if !caller.ai.enabled {
            return Err(Error::AiDisabled);
        }
        request()?;
        let (provider, model) = parse_model(model)?;
        Ok(Admitted { provider, model, project_id: caller.project_for(project_id)? })
    }

    /// Rule 5, after the entry's own checks of the provider: the key the call goes out on;
    /// `NO_PROVIDER_KEY` (naming the environments that have one) when there is none.
    pub(super) async fn admitted_key(&self, caller: &Caller, admitted: &Admitted) -> Result<ResolvedKey> {
        let project_id = admitted.project_id.as_deref();
        let resolved = self.resolve_key(caller, admitted.provider, project_id).await?;
        if resolved.source == KeySource::None {
            return Err(self.no_provider_key(caller, admitted.provider, project_id).await);
        }
        Ok(resolved)
    }
}
