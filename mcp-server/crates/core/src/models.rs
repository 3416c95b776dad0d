//! The model catalogue: which known models a caller can use, by the providers they can reach
//! (a stored key for their scope, or the operator's platform key). `GET /v1/models` lists it.

use converra::{KeySource, Provider};

use super::{Caller, Core, Result};

/// Known models per provider, named as each provider names them.
const CATALOG: &[(Provider, &[&str])] = &[
    (Provider::Openai, &["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "o4-mini"]),
    (Provider::Anthropic, &["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"]),
    (Provider::Gemini, &["gemini-2.5-flash", "gemini-2.5-pro"]),
    (Provider::Deepseek, &["deepseek-chat", "deepseek-reasoner"]),
];

impl Core {
    /// The catalogue's models of every provider `caller` can reach, as `(provider, model)`.
    pub async fn available_models(&self, caller: &Caller) -> Result<Vec<(Provider, &'static str)>> {
        let mut models = Vec::new();
        for (provider, names) in CATALOG {
            if self.resolve_key(caller, *provider, None).await?.source != KeySource::None {
                models.extend(names.iter().map(|m| (*provider, *m)));
            }
        }
        Ok(models)
    }
}
