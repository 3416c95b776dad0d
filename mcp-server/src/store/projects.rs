//! Projects: sub-scopes of an organization.

use converra::Project;
use rusqlite::{OptionalExtension, params};

use super::audit::insert_audit;
use super::{NewAuditEvent, Store, StoreResult};

fn project(r: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)? })
}

impl Store {
    pub async fn insert_project(&self, org_id: &str, p: Project, audit: NewAuditEvent) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO projects (id, org_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![p.id, org_id, p.name, p.created_at],
            )?;
            insert_audit(&tx, &audit)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn projects(&self, org_id: &str) -> StoreResult<Vec<Project>> {
        let org_id = org_id.to_owned();
        self.run(move |c| {
            let mut stmt =
                c.prepare("SELECT id, name, created_at FROM projects WHERE org_id = ?1 ORDER BY created_at, id")?;
            Ok(stmt.query_map([org_id], project)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub async fn project(&self, org_id: &str, id: &str) -> StoreResult<Option<Project>> {
        let generation = self.generation();
        let key = (org_id.to_owned(), id.to_owned());
        if let Some(hit) = self.caches().projects.get(&key, generation) {
            return Ok(hit);
        }
        let (org_id, id) = key.clone();
        let found = self
            .run(move |c| {
                Ok(c.query_row(
                    "SELECT id, name, created_at FROM projects WHERE org_id = ?1 AND id = ?2",
                    [org_id, id],
                    project,
                )
                .optional()?)
            })
            .await?;
        self.caches().projects.put(key, generation, found.clone());
        Ok(found)
    }

    /// Deletes a project and, by cascade, its provider keys. Returns whether it existed.
    pub async fn delete_project(&self, org_id: &str, id: &str, audit: NewAuditEvent) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute("DELETE FROM projects WHERE org_id = ?1 AND id = ?2", [org_id, id])?;
            if n == 1 {
                insert_audit(&tx, &audit)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }
}
