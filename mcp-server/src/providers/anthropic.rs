//! Anthropic Messages wire format: `x-api-key` + `anthropic-version`.

use secrecy::SecretString;

use super::secret_header;

pub const VERSION: &str = "2023-06-01";

pub fn list_models(client: &reqwest::Client, base: &str, key: &SecretString) -> reqwest::RequestBuilder {
    client
        .get(format!("{base}/v1/models"))
        .header("x-api-key", secret_header("", key))
        .header("anthropic-version", VERSION)
}
