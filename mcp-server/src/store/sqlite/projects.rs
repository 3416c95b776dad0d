//! Projects: sub-scopes of an organization.

use converra::Project;
use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::{NewAuditEvent, StoreResult};

fn project(r: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)? })
}

impl Sqlite {
    pub(in crate::store) async fn insert_project(
        &self,
        org_id: &str,
        p: Project,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        self.audited([audit], move |tx| {
            tx.execute(
                "INSERT INTO projects (id, org_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![p.id, org_id, p.name, p.created_at],
            )?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn projects(&self, org_id: &str) -> StoreResult<Vec<Project>> {
        let org_id = org_id.to_owned();
        self.run(move |c| {
            let mut stmt =
                c.prepare("SELECT id, name, created_at FROM projects WHERE org_id = ?1 ORDER BY created_at, id")?;
            Ok(stmt.query_map([org_id], project)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub(in crate::store) async fn project(&self, org_id: &str, id: &str) -> StoreResult<Option<Project>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT id, name, created_at FROM projects WHERE org_id = ?1 AND id = ?2",
                [org_id, id],
                project,
            )
            .optional()?)
        })
        .await
    }

    pub(in crate::store) async fn delete_project(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.audited([audit], move |tx| {
            Ok(tx.execute("DELETE FROM projects WHERE org_id = ?1 AND id = ?2", [org_id, id])? == 1)
        })
        .await
    }
}
