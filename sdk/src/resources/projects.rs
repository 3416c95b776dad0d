//! `/api/v1/projects`: sub-scopes whose provider keys override the organization's.

use reqwest::Method;

use crate::client::NoQuery;
use crate::types::{CreateProject, List, Project};
use crate::{Converra, Result};

/// Projects of the organization. Everybody may read them; admins and owners change them.
///
/// Get one with [`Converra::projects`].
#[derive(Debug, Clone, Copy)]
pub struct Projects<'a> {
    client: &'a Converra,
}

impl<'a> Projects<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// Creates a project (`POST /api/v1/projects`).
    pub async fn create(&self, project: CreateProject) -> Result<Project> {
        self.client.send_json(Method::POST, &["projects"], &project).await
    }

    /// Lists the projects (`GET /api/v1/projects`).
    pub async fn list(&self) -> Result<Vec<Project>> {
        let list: List<Project> = self.client.get(&["projects"], &NoQuery).await?;
        Ok(list.data)
    }

    /// One project by id (`GET /api/v1/projects/{id}`).
    pub async fn get(&self, id: &str) -> Result<Project> {
        self.client.get(&["projects", id], &NoQuery).await
    }

    /// Deletes a project (`DELETE /api/v1/projects/{id}`).
    pub async fn remove(&self, id: &str) -> Result<()> {
        self.client.delete(&["projects", id]).await
    }
}
