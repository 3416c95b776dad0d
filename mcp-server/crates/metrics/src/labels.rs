//! The label values of every series: small closed sets (`&'static str`), so the cardinality of
//! each family is bounded by construction. A label never holds a raw path, a key, an email,
//! a model name or provider text, nor an id but one: requests carry their route *template*, or
//! `unmatched`; the spend series carry the organization's id, bounded by the tenants.

use prometheus_client::encoding::EncodeLabelSet;

/// Which face answered a request, from its route template (or, unmatched, its path prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    /// REST under `/api/v1`.
    Rest,
    /// The OpenAI-compatible `/v1`.
    Openai,
    /// MCP over Streamable HTTP at `/api/mcp`.
    Mcp,
    /// The health probes and the metrics endpoint itself.
    Ops,
    /// Everything else the router serves: the web pages.
    Web,
}

impl Face {
    pub const ALL: [Face; 5] = [Face::Rest, Face::Openai, Face::Mcp, Face::Ops, Face::Web];

    pub fn as_str(self) -> &'static str {
        match self {
            Face::Rest => "rest",
            Face::Openai => "openai",
            Face::Mcp => "mcp",
            Face::Ops => "ops",
            Face::Web => "web",
        }
    }

    /// The face a route template (or, for an unmatched request, a path) belongs to.
    pub fn of(path: &str) -> Face {
        let under =
            |prefix: &str| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if under("/api/v1") {
            Face::Rest
        } else if under("/v1") {
            Face::Openai
        } else if under("/api/mcp") {
            Face::Mcp
        } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
            Face::Ops
        } else {
            Face::Web
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The route label of a request no route matched: one value, whatever the path was.
pub const UNMATCHED: &str = "unmatched";

/// Which provider call was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderCall {
    /// A whole (non-streamed) completion; its latency is the whole answer.
    Completion,
    /// A streamed completion; its latency is until the answer's head (the stream then flows
    /// to the caller).
    Stream,
    /// A key test (the provider's cheap models-list call).
    Test,
}

impl ProviderCall {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderCall::Completion => "completion",
            ProviderCall::Stream => "stream",
            ProviderCall::Test => "test",
        }
    }
}

/// Which rate-limit bucket refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitBucket {
    /// The plan bucket, per API key.
    Plan,
    /// The MCP protocol bucket, per API key.
    Protocol,
    /// Failed web sign-in attempts, per client address.
    SignIn,
}

impl LimitBucket {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitBucket::Plan => "plan",
            LimitBucket::Protocol => "protocol",
            LimitBucket::SignIn => "sign_in",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub face: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub face: &'static str,
    pub route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProviderLabels {
    pub provider: &'static str,
    pub call: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProviderCallLabels {
    pub provider: &'static str,
    pub call: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BucketLabels {
    pub bucket: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProviderOnly {
    pub provider: &'static str,
}

/// An organization's spend on a provider: the one label that is an id, since spend is
/// watched per tenant and the tenants are few next to requests (never a key, member or model).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SpendLabels {
    pub organization: String,
    pub provider: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabels {
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::Face;

    #[test]
    fn faces_come_from_the_route_prefix() {
        assert_eq!(Face::of("/api/v1/provider-keys/{id}"), Face::Rest);
        assert_eq!(Face::of("/api/v1"), Face::Rest);
        assert_eq!(Face::of("/v1/chat/completions"), Face::Openai);
        assert_eq!(Face::of("/api/mcp"), Face::Mcp);
        assert_eq!(Face::of("/readyz"), Face::Ops);
        assert_eq!(Face::of("/metrics"), Face::Ops);
        for web in ["/", "/settings/integrations", "/v1x", "/api/v10", "/api/mcpx", "/connect/{token}"] {
            assert_eq!(Face::of(web), Face::Web, "{web}");
        }
    }
}
