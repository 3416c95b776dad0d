//! Projects: everybody may read them; admins and owners create and delete.

use converra::{CreateProject, Project};
use serde_json::json;

use super::Caller;
use crate::{Core, Error, Result, audit, ids};

impl Core {
    pub async fn create_project(&self, caller: &Caller, req: CreateProject) -> Result<Project> {
        caller.require_admin()?;
        let name = super::orgs::validate_name("name", &req.name, 100)?;
        let project = Project { id: ids::new_id("prj"), name, created_at: ids::now() };
        let event = audit::event(
            &caller.org_id,
            caller.actor(),
            "project.created",
            "project",
            &project.id,
            json!({"name": project.name}),
        );
        match self.store.insert_project(&caller.org_id, project.clone(), event).await {
            Ok(()) => Ok(project),
            Err(e) if e.is_unique_violation() => {
                Err(Error::Conflict(format!("A project named `{}` already exists", project.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_projects(&self, caller: &Caller) -> Result<Vec<Project>> {
        Ok(self.store.projects(&caller.org_id).await?)
    }

    pub async fn get_project(&self, caller: &Caller, id: &str) -> Result<Project> {
        let id = ids::shaped("prj", "Project", id)?;
        self.store.project(&caller.org_id, id).await?.ok_or(Error::NotFound("Project"))
    }

    /// Deletes a project and its provider keys.
    pub async fn delete_project(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.require_admin()?;
        let id = ids::shaped("prj", "Project", id)?;
        let event = audit::event(&caller.org_id, caller.actor(), "project.deleted", "project", id, json!({}));
        if self.store.delete_project(&caller.org_id, id, event).await? {
            Ok(())
        } else {
            Err(Error::NotFound("Project"))
        }
    }
}
