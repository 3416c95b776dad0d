//! The addresses of the links Converra hands to people (a sign-in link, a connect link), whose
//! last segment is a one-time token: built by the core, mounted by the web face, hidden in logs.
//! Written once here, so the three cannot drift.

pub const SIGN_IN_LINK: &str = "/sign-in/link/{token}";
pub const CONNECT: &str = "/connect/{token}";

/// `route` with its `{…}` segments replaced by `values`, in order: the address of one thing.
pub fn fill(route: &str, values: &[&str]) -> String {
    let mut values = values.iter();
    let segments: Vec<&str> = route
        .split('/')
        .map(|segment| if segment.starts_with('{') { values.next().copied().unwrap_or(segment) } else { segment })
        .collect();
    segments.join("/")
}

/// The template of a link's path (`/connect/{token}`) for any path of one, else `path`: what
/// a log line may show.
pub fn template_of(path: &str) -> &str {
    [CONNECT, SIGN_IN_LINK]
        .into_iter()
        .find(|route| route.strip_suffix("{token}").is_some_and(|prefix| path.starts_with(prefix)))
        .unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_each_placeholder_in_order() {
        assert_eq!(
            fill("/settings/projects/{id}/keys/{provider}", &["prj_1", "openai"]),
            "/settings/projects/prj_1/keys/openai"
        );
        assert_eq!(fill(SIGN_IN_LINK, &["abc"]), "/sign-in/link/abc");
        assert_eq!(fill("/settings", &[]), "/settings");
    }

    #[test]
    fn a_token_in_a_links_path_never_reaches_a_log_line() {
        assert_eq!(template_of("/connect/abcDEF123_-"), "/connect/{token}");
        assert_eq!(template_of("/sign-in/link/abcDEF123_-"), "/sign-in/link/{token}");
        assert_eq!(template_of("/settings/integrations"), "/settings/integrations");
    }
}
