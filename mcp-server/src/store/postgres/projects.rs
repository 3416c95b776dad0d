//! Projects: sub-scopes of an organization.

use converra::Project;
use tokio_postgres::Row;

use super::{Postgres, commit_audited};
use crate::store::Stale;
use crate::store::{NewAuditEvent, StoreResult};

fn project(r: &Row) -> Project {
    Project { id: r.get(0), name: r.get(1), created_at: r.get(2) }
}

impl Postgres {
    pub(in crate::store) async fn insert_project(
        &self,
        org_id: &str,
        p: Project,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "INSERT INTO projects (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)",
            &[&p.id, &org_id, &p.name, &p.created_at],
        )
        .await?;
        commit_audited(tx, (), [audit], Stale::PROJECTS).await
    }

    pub(in crate::store) async fn projects(&self, org_id: &str) -> StoreResult<Vec<Project>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT id, name, created_at FROM projects WHERE org_id = $1 ORDER BY created_at, id", &[&org_id])
            .await?;
        Ok(rows.iter().map(project).collect())
    }

    pub(in crate::store) async fn project(&self, org_id: &str, id: &str) -> StoreResult<Option<Project>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT id, name, created_at FROM projects WHERE org_id = $1 AND id = $2", &[&org_id, &id])
            .await?;
        Ok(row.as_ref().map(project))
    }

    pub(in crate::store) async fn delete_project(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx.execute("DELETE FROM projects WHERE org_id = $1 AND id = $2", &[&org_id, &id]).await?;
        commit_audited(tx, n == 1, [audit], Stale::PROJECTS.and(Stale::KEYS)).await
    }
}
