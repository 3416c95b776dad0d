//! The operator's webhook (`CONVERRA_WEBHOOK_URL`): signs and posts the events the core queues
//! in its outbox. Like `providers/`, an outside HTTP client behind the core; the URL is
//! operator configuration only, never tenant input.
//!
//! Signature: `Converra-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under
//! `CONVERRA_WEBHOOK_SECRET` (docs/webhooks.md shows how a receiver checks it). The timestamp
//! is signed with the body, so a captured request cannot be replayed later than the receiver's
//! tolerance.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Converra-Signature";
/// The header that carries the event id (also in the body), for deduplication.
pub const EVENT_ID_HEADER: &str = "Converra-Event-Id";

const TIMEOUT: Duration = Duration::from_secs(10);

/// Where events go, and the secret that signs them.
pub struct Webhook {
    url: String,
    secret: SecretString,
    client: reqwest::Client,
}

/// The `v1` signature of `body` sent at `timestamp`: hex HMAC-SHA256 over `"{timestamp}.{body}"`.
pub fn signature(secret: &[u8], timestamp: u64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    converra_base::ids::hex(&mac.finalize().into_bytes())
}

/// The host of `url` when it is `http://` to a host that is not loopback (`localhost`,
/// 127.0.0.0/8, `::1`).
fn plain_http_elsewhere(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok().filter(|u| u.scheme() == "http")?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    (!loopback).then(|| host.to_owned())
}

impl Webhook {
    /// The webhook at `url`. Events posted in plain http to another host cross the network
    /// readable (and their signature only proves who sent them): said once in the log, at start.
    pub fn new(url: String, secret: SecretString) -> Self {
        // The host only: a receiver's URL may carry a token in its path or query.
        if let Some(host) = plain_http_elsewhere(&url) {
            tracing::warn!(
                webhook_host = %host,
                "CONVERRA_WEBHOOK_URL is plain http to a host other than this one: events cross the network unencrypted; use https://"
            );
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { url, secret, client }
    }

    /// Posts one event. `Err` says why in words for the log (a status or a transport error
    /// kind; never the secret, never the receiver's body).
    pub async fn deliver(&self, id: &str, body: &str, now: u64) -> Result<(), String> {
        let sig = signature(self.secret.expose_secret().as_bytes(), now, body);
        let answer = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, format!("t={now},v1={sig}"))
            .header(EVENT_ID_HEADER, id)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| if e.is_timeout() { "timed out".to_owned() } else { "could not connect".to_owned() })?;
        if answer.status().is_success() { Ok(()) } else { Err(format!("answered HTTP {}", answer.status().as_u16())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 ("Jefe"), with the message split as `<t>.<body>`.
        let sig = signature(b"Jefe", 0, "what do ya want for nothing?");
        assert_eq!(sig.len(), 64);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"0.what do ya want for nothing?");
        assert!(mac.verify_slice(&hex(&sig)).is_ok());
    }

    #[test]
    fn plain_http_is_flagged_unless_the_receiver_is_on_this_host() {
        for elsewhere in ["http://hooks.example.com/c", "http://10.0.0.5:8080/h", "http://[2001:db8::1]/h"] {
            assert!(plain_http_elsewhere(elsewhere).is_some(), "{elsewhere}");
        }
        for fine in [
            "https://hooks.example.com/c",
            "http://localhost:9000/h",
            "http://127.0.0.1:9000/h",
            "http://127.8.9.10/h",
            "http://[::1]:9000/h",
            "http://LOCALHOST./h",
        ] {
            assert_eq!(plain_http_elsewhere(fine), None, "{fine}");
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
