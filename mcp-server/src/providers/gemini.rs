//! Gemini `generateContent` wire format. The key goes in `x-goog-api-key`, never in a `?key=`
//! query string, so it cannot end up in a URL that an error or a log line repeats.

use secrecy::SecretString;

use super::secret_header;

pub fn list_models(client: &reqwest::Client, base: &str, key: &SecretString) -> reqwest::RequestBuilder {
    client.get(format!("{base}/v1beta/models")).header("x-goog-api-key", secret_header("", key))
}
