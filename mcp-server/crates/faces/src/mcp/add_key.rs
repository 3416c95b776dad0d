//! MCP `add_provider_key`'s answer: the stored key when the model was given the secret, else a
//! connect link and the sentence telling the model what to do with it. The choice and the prose
//! are this face's (an answer written for a model); both branches are the core's generic
//! calls, `add_provider_key` and `create_connect_link`, as REST, the SDK and the CLI make them.

use converra::{AddProviderKey, AddProviderKeyOrLink, CreateConnectLink, ProviderKeyOrLink};

use converra_core::{Caller, Core, Result};

/// Stores the key when `api_key` is given; otherwise answers with a connect link for the user
/// to open (the recommended path: the secret never enters the conversation).
pub(super) async fn add_key_or_link(
    core: &Core,
    caller: &Caller,
    req: AddProviderKeyOrLink,
) -> Result<ProviderKeyOrLink> {
    let Some(api_key) = req.api_key else {
        let ask = CreateConnectLink {
            provider: req.provider,
            name: req.name,
            project_id: req.project_id,
            environment: req.environment,
        };
        let link = core.create_connect_link(caller, ask).await?;
        let next_step = next_step(&link.url);
        return Ok(ProviderKeyOrLink { key: None, connect_link: Some(link), next_step: Some(next_step) });
    };
    let add = AddProviderKey {
        provider: req.provider,
        name: req.name,
        api_key,
        project_id: req.project_id,
        environment: req.environment,
        test: req.test,
    };
    Ok(ProviderKeyOrLink { key: Some(core.add_provider_key(caller, add).await?), connect_link: None, next_step: None })
}

/// What the model should tell the user about the link at `url`.
fn next_step(url: &str) -> String {
    format!(
        "Give the user this link: {url} . They open it signed in to Converra as an admin or owner of this organization, \
         paste the key there and save it; the secret never enters this conversation. The link works once, for 10 \
         minutes. Then call list_provider_keys to see the key."
    )
}
