//! `converra projects …`: the organization's projects, whose own provider keys override the
//! organization's. Everybody lists them; admins and owners create and delete them.

use clap::Subcommand;
use converra::{Converra, CreateProject, Project};

use super::{Failure, failure, table};

#[derive(Subcommand, Debug)]
pub enum ProjectsCommand {
    /// List the projects.
    List,
    /// Create a project (admins and owners).
    Create {
        /// Its name, unique in the organization, e.g. mobile-app
        #[arg(long)]
        name: String,
    },
    /// Delete a project and the provider keys stored for it (admins and owners).
    Delete {
        /// The project's id (prj_…)
        id: String,
    },
}

const HEADERS: [&str; 3] = ["ID", "NAME", "CREATED"];

fn rows(projects: &[Project]) -> Vec<Vec<String>> {
    projects.iter().map(|p| vec![p.id.clone(), p.name.clone(), p.created_at.clone()]).collect()
}

pub async fn run(client: &Converra, command: ProjectsCommand, json: bool) -> Result<(), Failure> {
    let projects = client.projects();
    match command {
        ProjectsCommand::List => {
            let list = projects.list().await.map_err(failure)?;
            if json {
                return table::print_json(&converra::List::from(list));
            }
            table::print(&HEADERS, rows(&list));
            Ok(())
        }
        ProjectsCommand::Create { name } => {
            let project = projects.create(CreateProject { name }).await.map_err(failure)?;
            if json {
                return table::print_json(&project);
            }
            eprintln!(
                "Created project {} ({}): store its own keys with `converra keys add PROVIDER --project {}`.",
                project.name, project.id, project.id
            );
            table::print(&HEADERS, rows(&[project]));
            Ok(())
        }
        ProjectsCommand::Delete { id } => {
            projects.remove(&id).await.map_err(failure)?;
            if json {
                return table::print_json(&serde_json::json!({"id": id, "deleted": true}));
            }
            eprintln!("Deleted project {id} and the provider keys stored for it.");
            Ok(())
        }
    }
}
