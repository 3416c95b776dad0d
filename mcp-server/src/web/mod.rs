//! The web face (Settings → Integrations in the browser): filled in by the next commit.

use std::sync::Arc;

use crate::core::Core;

/// What the web face needs to know about where it is served.
pub struct Site;

impl Site {
    pub fn new(_url: &crate::config::PublicUrl) -> Self {
        Site
    }
}

/// No pages yet.
pub fn routes(_core: Arc<Core>, _site: Site) -> axum::Router<Arc<Core>> {
    axum::Router::new()
}
