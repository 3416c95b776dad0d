//! Where a real agent's session (Claude Code, Codex) starts: Converra in-process on fresh provider
//! mocks, an organization whose one provider key is a given provider's, and a member's Converra
//! key for the agent; and the check each such session ends with, that the provider saw the
//! organization's key where it wants it and never the member's Converra key.

use converra::Provider;
use serde_json::Value;
use wiremock::Request;

use crate::providers::{MockProviders, valid_key};
use crate::{TestApp, spawn_app_on};

/// An organization with only `provider`'s key, and one member.
pub struct OneKeyOrg {
    pub mocks: MockProviders,
    pub app: TestApp,
    pub provider: Provider,
    /// The organization's key for `provider` (the kit's valid key).
    pub org_key: &'static str,
    /// The member's Converra API key, what the agent is given.
    pub member: String,
}

impl OneKeyOrg {
    /// Converra on fresh mocks, the organization's `provider` key stored, a member `email` added.
    pub async fn start(provider: Provider, email: &str) -> Self {
        let mocks = MockProviders::start().await;
        let app = spawn_app_on(&mocks).await;
        let org_key = valid_key(provider);
        app.add_provider_key(&app.api_key, provider, org_key, Value::Null).await;
        let (_, member) = app.member_key(&app.api_key, email, "member").await;
        Self { mocks, app, provider, org_key, member }
    }

    /// Every one of `calls` carried the organization's key as the header `name` wants it
    /// (`value`), and the member's Converra key in none of its headers nor its body.
    pub fn assert_org_key_only(&self, calls: &[Request], name: &str, value: &str) {
        for call in calls {
            let sent = call.headers.get(name).and_then(|v| v.to_str().ok());
            assert_eq!(sent, Some(value), "the organization's {:?} key in {name}", self.provider);
            for (header, value) in call.headers.iter() {
                assert!(
                    !value.to_str().unwrap_or_default().contains(&self.member),
                    "the Converra key reached {:?} in {header}",
                    self.provider
                );
            }
            let body = String::from_utf8_lossy(&call.body);
            assert!(!body.contains(&self.member), "the Converra key reached {:?} in a body", self.provider);
        }
    }
}
