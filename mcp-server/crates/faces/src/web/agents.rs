//! "Use these keys from Claude Code / Codex" on Settings → Integrations: the lines an agent's
//! configuration needs, with `CONVERRA_PUBLIC_URL` filled in and a copy button each. They are
//! the README's ("Run your agents on Converra") line for line, but the address; the Converra key
//! is a placeholder (`sk_live_…`), never a key: a key's secret is shown only when it is created.

use converra::Environment;
use maud::{Markup, html};

use super::paths::{API_KEYS, COPY_SCRIPT};

/// Claude Code: Anthropic's Messages API at Converra's root (Claude Code adds `/v1/messages`).
pub fn claude_code(base: &str, key: &str) -> String {
    format!(
        "# Converra's address (without /v1) and a Converra API key (sent as Bearer)\n\
         export ANTHROPIC_BASE_URL={base}\n\
         export ANTHROPIC_AUTH_TOKEN={key}\n\
         # optional: a project's keys\n\
         # export ANTHROPIC_CUSTOM_HEADERS='X-Converra-Project: prj_…'\n\
         claude\n"
    )
}

/// Codex: a provider block in `~/.codex/config.toml` on the Responses API; the key is read from
/// the variable `env_key` names.
pub fn codex(base: &str) -> String {
    format!(
        "model = \"gpt-5-codex\"\n\
         model_provider = \"converra\"\n\
         \n\
         [model_providers.converra]\n\
         name = \"Converra\"\n\
         base_url = \"{base}/v1\"\n\
         # the variable holding a Converra API key (sent as Bearer)\n\
         env_key = \"CONVERRA_API_KEY\"\n\
         wire_api = \"responses\"\n\
         # optional: a project's keys\n\
         # http_headers = {{ \"X-Converra-Project\" = \"prj_…\" }}\n"
    )
}

/// The OpenAI and Anthropic SDKs: OpenAI's base URL ends in `/v1`, Anthropic's does not.
pub fn sdks(base: &str, key: &str) -> String {
    format!(
        "from openai import OpenAI\n\
         from anthropic import Anthropic\n\
         \n\
         openai = OpenAI(base_url=\"{base}/v1\", api_key=\"{key}\")\n\
         claude = Anthropic(base_url=\"{base}\", api_key=\"{key}\")\n"
    )
}

/// One block to copy: a title, its lines in a `pre` the copy button names.
fn block(id: &str, title: Markup, lines: &str) -> Markup {
    html! {
        div.snippet {
            div.snippet-head {
                h3 id=(format!("{id}-title")) { (title) }
                button.secondary type="button" data-copy=(id) aria-describedby=(format!("{id}-title")) { "Copy" }
            }
            pre id=(id) { code { (lines) } }
        }
    }
}

/// The panel: `base` is the public URL (no trailing slash); `environment` the signed-in key's,
/// whose prefix the placeholder shows.
pub fn panel(base: &str, environment: Environment) -> Markup {
    let key = format!("sk_{}_…", environment.as_str());
    html! {
        section.card id="agents" aria-labelledby="agents-title" {
            h2 id="agents-title" { "Use these keys from Claude Code / Codex" }
            p {
                "Agents keep speaking their provider's own API: point them at Converra and give them a Converra API key. "
                "The keys above pay, and each call is counted for the API key, its member and project. "
                "Put one of your API keys in place of " code { (key) } " (a key is shown only when it is created: make one on "
                a href=(API_KEYS) { "API keys" } ")."
            }
            (block("agent-claude-code", html! { "Claude Code" }, &claude_code(base, &key)))
            (block("agent-codex", html! { "Codex: " code { "~/.codex/config.toml" } }, &codex(base)))
            p.muted { "Then run " code { "codex" } " with " code { (format!("CONVERRA_API_KEY={key}")) } " in its environment." }
            (block("agent-sdks", html! { "OpenAI and Anthropic SDKs" }, &sdks(base, &key)))
            script src=(COPY_SCRIPT) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_that_names_converra_names_the_public_url() {
        let base = "https://converra.example.com";
        let claude = claude_code(base, "sk_live_…");
        assert!(claude.contains("export ANTHROPIC_BASE_URL=https://converra.example.com\n"), "{claude}");
        assert!(codex(base).contains("base_url = \"https://converra.example.com/v1\"\n"));
        let sdks = sdks(base, "sk_test_…");
        assert!(sdks.contains(r#"OpenAI(base_url="https://converra.example.com/v1", api_key="sk_test_…")"#), "{sdks}");
        assert!(sdks.contains(r#"Anthropic(base_url="https://converra.example.com", api_key="sk_test_…")"#), "{sdks}");
    }
}
