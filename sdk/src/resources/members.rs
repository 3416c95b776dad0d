//! `/api/v1/members`: the people of the organization and their roles.

use reqwest::Method;

use crate::client::NoQuery;
use crate::types::{CreateMember, List, Member, Role, UpdateMember};
use crate::{Converra, Result};

/// Members of the organization. Admins and owners only.
///
/// Get one with [`Converra::members`].
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    client: &'a Converra,
}

impl<'a> Members<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// Adds a member (`POST /api/v1/members`).
    pub async fn create(&self, member: CreateMember) -> Result<Member> {
        self.client.send_json(Method::POST, &["members"], &member).await
    }

    /// Lists the members (`GET /api/v1/members`).
    pub async fn list(&self) -> Result<Vec<Member>> {
        let list: List<Member> = self.client.get(&["members"], &NoQuery).await?;
        Ok(list.data)
    }

    /// Changes a member's role (`PATCH /api/v1/members/{id}`).
    pub async fn update_role(&self, id: &str, role: Role) -> Result<Member> {
        self.client.send_json(Method::PATCH, &["members", id], &UpdateMember { role }).await
    }

    /// Removes a member from the organization (`DELETE /api/v1/members/{id}`).
    pub async fn remove(&self, id: &str) -> Result<()> {
        self.client.delete(&["members", id]).await
    }
}
