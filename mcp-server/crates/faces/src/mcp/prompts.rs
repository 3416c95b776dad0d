//! Prompts for the workflows people do with provider keys: rotating one without a gap,
//! diagnosing one that fails, and connecting a provider the safe way. Each is a message the
//! client puts in front of the model; arguments a user chose (a key's name) appear only as
//! quoted data, never as instructions.

use converra::Provider;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};

fn provider_argument() -> PromptArgument {
    PromptArgument::new("provider").with_description("openai, anthropic, gemini or deepseek").with_required(true)
}

/// The prompts, as `prompts/list` shows them.
pub fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "rotate_provider_key",
            Some(
                "Replace a provider key without downtime: add the new key, test it, make sure it serves, then retire or keep the old one for roll-back.",
            ),
            Some(vec![
                provider_argument(),
                PromptArgument::new("name").with_description("The new key's name, e.g. OpenAI-Production-2026-12"),
            ]),
        ),
        Prompt::new(
            "diagnose_provider_key",
            Some(
                "Find out why completions for a provider fail: which key is used, what the provider says about it, and what to do.",
            ),
            Some(vec![
                provider_argument(),
                PromptArgument::new("project_id")
                    .with_description("The project (prj_…) whose completions fail, if any"),
            ]),
        ),
        Prompt::new(
            "connect_provider",
            Some(
                "Connect a provider: choose the key, its scope and environment, and enter the secret without pasting it into the conversation.",
            ),
            Some(vec![provider_argument()]),
        ),
    ]
}

/// Why a prompt cannot be built (an unknown name, a missing or bad argument).
pub struct PromptError(pub String);

/// The prompt `name` with `arguments`.
pub fn get(name: &str, arguments: Option<&JsonObject>) -> Result<GetPromptResult, PromptError> {
    let arg = |key: &str| arguments.and_then(|a| a.get(key)).and_then(|v| v.as_str()).map(str::to_owned);
    let provider: Provider = arg("provider")
        .ok_or_else(|| PromptError("argument `provider` is required".into()))?
        .parse()
        .map_err(|_| PromptError("argument `provider` must be openai, anthropic, gemini or deepseek".into()))?;
    let text = match name {
        "rotate_provider_key" => rotate(provider, arg("name")),
        "diagnose_provider_key" => diagnose(provider, arg("project_id")),
        "connect_provider" => connect(provider),
        other => return Err(PromptError(format!("no prompt named {}", quoted(other)))),
    };
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = list().into_iter().find(|p| p.name == name).and_then(|p| p.description);
    Ok(result)
}

/// User-chosen text as a JSON string: data the model reads, never an instruction it follows.
fn quoted(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn rotate(provider: Provider, name: Option<String>) -> String {
    let name = name.map_or_else(|| "a name the user chooses".into(), |n| format!("the name {}", quoted(&n)));
    format!(
        "Rotate the {provider} provider key with no gap in service.\n\
         1. Call list_provider_keys with provider {provider} and note the active key of the slot (its id and scope).\n\
         2. Ask the user to store the new key under {name}: the safest way is `converra keys add {provider} --name … --test` \
            in their own terminal (the secret is read from stdin and never enters this conversation). Use add_provider_key \
            with the secret only if the user insists on giving it here.\n\
         3. The new key becomes the active key of its slot at once; the old one stays, inactive, for roll-back.\n\
         4. Call test_provider_key on the new key: \"Connection successful\" means go on; \"Invalid API key\", \"Quota exceeded\" \
            or \"Permission denied\" mean stop and tell the user (roll back by activating the old key: `converra keys activate`).\n\
         5. Call run_completion with a short prompt on a {provider} model to see a completion served by the new key.\n\
         6. Ask the user whether to remove the old key now (revoke_provider_key, irreversible) or keep it inactive for roll-back."
    )
}

fn diagnose(provider: Provider, project_id: Option<String>) -> String {
    let scope = project_id.map_or_else(|| "outside any project".into(), |p| format!("in the project {}", quoted(&p)));
    format!(
        "Completions for {provider} {scope} fail. Diagnose it.\n\
         1. Call resolve_provider_key for {provider} (with the project if one was given): it says which key would be used \
            (project, organization or platform allowance) and why.\n\
         2. If a stored key is used, call test_provider_key on it (admins and owners only; members cannot test).\n\
         3. Explain the outcome in these words:\n\
            - \"Connection successful\": the key works; look at the model name and the error of the failing completion.\n\
            - \"Invalid API key\": the provider rejects the key; an admin must replace it (see the rotate_provider_key prompt).\n\
            - \"Quota exceeded\": the provider account is out of credits; top it up with the provider, then test again.\n\
            - \"Permission denied\": the key lacks access to this model or endpoint; use another model or a key with access.\n\
            - unreachable or rate limited: the provider is down or throttling; try again later.\n\
         4. If no key is found (NO_PROVIDER_KEY), an admin must add one for this scope."
    )
}

fn connect(provider: Provider) -> String {
    format!(
        "Connect {provider} to this organization.\n\
         1. Call list_provider_keys with provider {provider}: if an active key exists, say so and stop unless the user wants another.\n\
         2. Ask which scope the key serves: the whole organization, or one project (its own key overrides the organization's \
            for that project), and which environment: live for production, test for development.\n\
         3. The secret must not be pasted into this conversation: call add_provider_key with provider {provider}, the name, \
            scope and environment chosen, and WITHOUT api_key. It answers with a one-time link (single use, 10 minutes): give \
            it to the user, who opens it signed in to Converra as an admin or owner, pastes the key, keeps \"Test before saving\" \
            ticked and saves. (In a terminal, `converra keys add {provider} --name <name> --test` works too: it reads the secret \
            from stdin.) Only if the user insists on giving the key here, call add_provider_key with api_key and test set to true.\n\
         4. When the user says it is done, confirm with list_provider_keys that the key is listed, active and tested \
            \"Connection successful\"."
    )
}
