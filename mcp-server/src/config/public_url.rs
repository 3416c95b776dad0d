//! `CONVERRA_PUBLIC_URL`: where people reach Converra, the base of every link it prints or
//! sends, and what that means for the web face's cookies.

use super::ConfigError;

/// Where people reach Converra (`CONVERRA_PUBLIC_URL`), and what that means for cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://authority[/path]`, without a trailing slash: links are `base` + `/connect/…`.
    pub base: String,
    /// `https`: cookies are `Secure` and `__Host-` prefixed.
    pub https: bool,
    /// The authority (`host[:port]`) browsers send in `Host`.
    pub authority: String,
    /// The host alone (no port, IPv6 without brackets).
    pub host: String,
    /// `CONVERRA_WEB_ALLOW_HTTP=1`.
    pub allow_http: bool,
}

impl PublicUrl {
    /// Parses `http(s)://host[:port][/path]`; a query, a fragment or credentials are refused.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let invalid = |why: &str| ConfigError::Invalid { name: "CONVERRA_PUBLIC_URL", why: format!("`{text}` {why}") };
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(invalid("must start with https:// or http://"));
        };
        if rest.contains(['?', '#', '@', ' ']) {
            return Err(invalid("must be a plain base URL, without credentials, query or fragment"));
        }
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split_once(']').map(|(h, _)| h).ok_or_else(|| invalid("has an unclosed [ in its host"))?
        } else {
            authority.rsplit_once(':').map_or(authority, |(h, _)| h)
        };
        if host.is_empty() {
            return Err(invalid("has no host"));
        }
        let path = path.trim_end_matches('/');
        let base = if path.is_empty() {
            format!("{}://{authority}", if https { "https" } else { "http" })
        } else {
            format!("{}://{authority}/{path}", if https { "https" } else { "http" })
        };
        Ok(Self {
            base,
            https,
            authority: authority.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            allow_http: false,
        })
    }

    /// `scheme://authority`, what browsers send in `Origin`.
    pub fn origin(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.authority)
    }

    /// Whether this machine alone can reach it (`localhost`, `127.0.0.1`, `::1`).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Why the web face cannot sign anybody in at this URL, if it cannot: a session cookie
    /// over plain `http` to another machine travels unencrypted.
    pub fn refusal(&self) -> Option<String> {
        (!self.https && !self.is_loopback() && !self.allow_http).then(|| {
            format!(
                "the web face is off: CONVERRA_PUBLIC_URL ({}) is plain http on a host other than this machine, so \
                 sign-in cookies would travel unencrypted. Serve Converra over https (behind a TLS proxy) and set \
                 CONVERRA_PUBLIC_URL=https://…, or set CONVERRA_WEB_ALLOW_HTTP=1 on a network you trust",
                self.base
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_decides_cookies_and_links() {
        let https = PublicUrl::parse("https://Converra.Example.com/base/").unwrap();
        assert_eq!(https.base, "https://Converra.Example.com/base");
        assert_eq!(
            (https.https, https.authority.as_str(), https.origin()),
            (true, "converra.example.com", "https://converra.example.com".into())
        );
        assert!(https.refusal().is_none());
        for local in ["http://localhost:8080", "http://127.0.0.1:9", "http://[::1]:80"] {
            let url = PublicUrl::parse(local).unwrap();
            assert!(url.is_loopback() && url.refusal().is_none(), "{local}");
        }
        let mut lan = PublicUrl::parse("http://10.0.0.5:8080").unwrap();
        assert!(lan.refusal().unwrap().contains("CONVERRA_WEB_ALLOW_HTTP=1"));
        lan.allow_http = true;
        assert!(lan.refusal().is_none());
        for bad in ["ftp://x", "https://", "https://u:p@host", "http://h/?q=1", "converra.example.com"] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
        let config = super::super::Config::from_lookup(|_| None).unwrap();
        assert_eq!(config.public_url("0.0.0.0:8080".parse().unwrap()).base, "http://127.0.0.1:8080");
    }
}
