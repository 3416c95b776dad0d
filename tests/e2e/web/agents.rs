//! "Use these keys from Claude Code / Codex" on Settings → Integrations: the README's lines
//! ("Run your agents on Converra"), each with `CONVERRA_PUBLIC_URL` in place of the README's
//! `http://127.0.0.1:8080`, the signed-in key's environment in the key placeholder, and never a
//! key's secret.

use converra_test_kit::{Options, spawn_app_with};

use super::Page;

const README: &str = include_str!("../../../README.md");
const PUBLIC: &str = "https://converra.example.com";
const HOST: &str = "converra.example.com";

/// The first fenced block of `lang` after `marker` in the README.
fn readme_block(marker: &str, lang: &str) -> String {
    let after = &README[README.find(marker).unwrap_or_else(|| panic!("README has {marker}"))..];
    let fence = format!("```{lang}\n");
    let start = after.find(&fence).unwrap_or_else(|| panic!("a {lang} block after {marker}")) + fence.len();
    after[start..start + after[start..].find("```").unwrap()].to_owned()
}

/// The text of the `pre` block `id` on the page, as a browser shows (and the copy button copies) it.
fn snippet(page: &str, id: &str) -> String {
    let open = format!(r#"<pre id="{id}"><code>"#);
    let start = page.find(&open).unwrap_or_else(|| panic!("no #{id}: {page}")) + open.len();
    let text = &page[start..start + page[start..].find("</code></pre>").unwrap()];
    text.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

#[tokio::test]
async fn the_agent_lines_are_the_readmes_with_the_public_url_and_no_secret() {
    let options = Options { configure: Some(|c| c.public_url = Some(format!("{PUBLIC}/"))), ..Default::default() };
    let app = spawn_app_with(options).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // Signed in as a browser at the public URL would be (its Host and Origin; `__Host-` cookies).
    let form = http.get(app.url("/sign-in")).header("host", HOST).send().await.unwrap();
    let csrf_cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = Page { status: 200, headers: Default::default(), body: form.text().await.unwrap() }.csrf();
    let signed = http
        .post(app.url("/sign-in"))
        .header("host", HOST)
        .header("origin", PUBLIC)
        .header("cookie", &csrf_cookie)
        .form(&[("csrf", csrf.as_str()), ("api_key", app.api_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let session = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = http.get(app.url("/settings/integrations")).header("host", HOST).header("cookie", session);
    let page = page.send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Use these keys from Claude Code / Codex"), "{page}");

    // The README's lines, with this server's public URL and the signed-in key's environment.
    let env_prefix = &app.api_key[.."sk_live_".len()];
    assert!(["sk_live_", "sk_test_"].contains(&env_prefix), "{env_prefix}");
    let filled =
        |text: String| text.replace("http://127.0.0.1:8080", PUBLIC).replace("sk_live_…", &format!("{env_prefix}…"));
    for (id, marker, lang, urls) in [
        ("agent-claude-code", "**Claude Code**", "sh", 1),
        ("agent-codex", "**Codex**", "toml", 1),
        ("agent-sdks", "**The SDKs**", "python", 2),
    ] {
        let shown = snippet(&page, id);
        assert_eq!(shown, filled(readme_block(marker, lang)), "{id}");
        assert_eq!(shown.matches(PUBLIC).count(), urls, "{id}: {shown}");
        assert!(!shown.contains("127.0.0.1"), "{id}: never the listen address: {shown}");
        assert!(page.contains(&format!(r#"data-copy="{id}""#)), "{id} has a copy button");
    }
    assert!(snippet(&page, "agent-claude-code").contains(&format!("export ANTHROPIC_BASE_URL={PUBLIC}\n")));
    assert!(snippet(&page, "agent-codex").contains(&format!("base_url = \"{PUBLIC}/v1\"\n")));
    assert!(page.contains(r#"<script src="/assets/copy.js">"#));
    // The key the member signed in with, or any piece of its secret, is never on the page.
    assert!(!page.contains(&app.api_key[app.api_key.len() - 12..]), "no secret rendered");
}
