//! OpenAI Chat Completions wire format; DeepSeek speaks the same one.

use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;

use super::secret_header;

pub fn list_models(client: &reqwest::Client, base: &str, key: &SecretString) -> reqwest::RequestBuilder {
    client.get(format!("{base}/models")).header(AUTHORIZATION, secret_header("Bearer ", key))
}
