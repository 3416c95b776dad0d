//! Projects: sub-scopes of an organization.

use converra::Project;

use super::sql::{Conn, FromRow, Row, Sql};
use super::{NewAuditEvent, Stale, Store, StoreResult};

pub(super) static INSERT: Sql = Sql::new("INSERT INTO projects (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)");
static ALL: Sql = Sql::new("SELECT id, name, created_at FROM projects WHERE org_id = $1 ORDER BY created_at, id");
static ONE: Sql = Sql::new("SELECT id, name, created_at FROM projects WHERE org_id = $1 AND id = $2");
static DELETE: Sql = Sql::new("DELETE FROM projects WHERE org_id = $1 AND id = $2");

impl FromRow for Project {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(Project { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)? })
    }
}

impl Store {
    pub async fn insert_project(&self, org_id: &str, p: Project, audit: NewAuditEvent) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        write!(self, Stale::PROJECTS, [audit], |c| async {
            c.execute(&INSERT, &[&p.id, &org_id, &p.name, &p.created_at]).await?;
            Ok(())
        })
    }

    pub async fn projects(&self, org_id: &str) -> StoreResult<Vec<Project>> {
        let org_id = org_id.to_owned();
        read!(self, |c| c.query(&ALL, &[&org_id]))
    }

    pub async fn project(&self, org_id: &str, id: &str) -> StoreResult<Option<Project>> {
        let generation = self.generation(Stale::PROJECTS);
        let key = (org_id.to_owned(), id.to_owned());
        if let Some(hit) = generation.and_then(|g| self.caches.projects.get(&key, g)) {
            return Ok(hit);
        }
        let (org, project) = key.clone();
        let found: Option<Project> = read!(self, |c| c.query_opt(&ONE, &[&org, &project]))?;
        if let (Some(g), Some(_)) = (generation, &found) {
            self.caches.projects.put(key, g, found.clone());
        }
        Ok(found)
    }

    /// Deletes a project and, by cascade, its provider keys, and its budgets. Returns whether it
    /// existed.
    pub async fn delete_project(&self, org_id: &str, id: &str, audit: NewAuditEvent) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        write!(self, Stale::PROJECTS.and(Stale::KEYS).and(Stale::BUDGETS), [audit], |c| async {
            c.execute(&super::budgets::OF_PROJECT, &[&org_id, &id]).await?;
            Ok(c.execute(&DELETE, &[&org_id, &id]).await? == 1)
        })
    }
}
