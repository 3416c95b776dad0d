//! Every web address, written once: the router mounts these, and every link, form action and
//! redirect uses the same constant (a `{…}` segment filled in with [`fill`]).

pub use converra_base::links::{CONNECT, SIGN_IN_LINK, fill};

pub const SIGN_IN: &str = "/sign-in";
pub const SIGN_OUT: &str = "/sign-out";

pub const INTEGRATIONS: &str = "/settings/integrations";
pub const PROVIDER_KEYS: &str = "/settings/integrations/keys";
pub const PROVIDER_KEY_TEST: &str = "/settings/integrations/keys/{id}/test";
pub const PROVIDER_KEY_REPLACE: &str = "/settings/integrations/keys/{id}/replace";
pub const PROVIDER_KEY_ACTIVATE: &str = "/settings/integrations/keys/{id}/activate";
pub const PROVIDER_KEY_REMOVE: &str = "/settings/integrations/keys/{id}/remove";

pub const PROJECTS: &str = "/settings/projects";
pub const PROJECT_DELETE: &str = "/settings/projects/{id}/delete";
pub const PROJECT_ADD_KEY: &str = "/settings/projects/{id}/keys/{provider}";

pub const AI_SETTINGS: &str = "/settings/ai";
pub const USAGE: &str = "/settings/usage";
pub const BUDGETS: &str = "/settings/usage/budgets";
pub const BUDGET_REMOVE: &str = "/settings/usage/budgets/remove";

pub const API_KEYS: &str = "/settings/api-keys";
pub const API_KEY_REVOKE: &str = "/settings/api-keys/{id}/revoke";

pub const MEMBERS: &str = "/settings/members";
pub const MEMBER_ROLE: &str = "/settings/members/{id}/role";
pub const MEMBER_REMOVE: &str = "/settings/members/{id}/remove";
pub const MEMBER_SIGN_IN_LINK: &str = "/settings/members/{id}/sign-in-link";

pub const STYLE: &str = "/assets/style.css";
pub const COPY_SCRIPT: &str = "/assets/copy.js";
