//! Completions with the resolved key.

use converra::{Completion, CompletionRequest};

use super::{Caller, Core, Error, InternalError, Result};

impl Core {
    /// Runs a non-streaming completion for `caller` with the key resolution picks.
    pub async fn complete(&self, caller: &Caller, req: CompletionRequest) -> Result<Completion> {
        let _ = (caller, req);
        Err(Error::Internal(InternalError::Other("completions are being built".into())))
    }
}
