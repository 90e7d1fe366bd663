//! Server function for the header: who is signed in and which projects there are to switch
//! between. Every signed-in user may see every project (there are no per-user project rights).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A project the header's switcher offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectChoice {
    pub id: i64,
    pub name: String,
}

/// What the header shows around the navigation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderInfo {
    /// The signed-in user's name (none while authentication is off).
    pub user: Option<String>,
    /// Every project, by name; empty for a request made with an API key (its project is fixed).
    pub projects: Vec<ProjectChoice>,
    /// The project the pages show.
    pub current: i64,
}

/// The header's data. A request the guard did not admit (the login page) gets an empty header,
/// not an error: it has nothing to show there.
#[server(endpoint = "header_info")]
pub async fn load_header_info() -> Result<HeaderInfo, ServerFnError> {
    use crate::server::auth::Viewer;

    let Some(access) = super::admitted() else {
        return Ok(HeaderInfo::default());
    };
    let user = match &access.viewer {
        Viewer::User(user) => Some(user.name.clone()),
        Viewer::Key(_) => {
            return Ok(HeaderInfo {
                current: access.project_id,
                ..HeaderInfo::default()
            })
        }
        Viewer::Open => None,
    };
    let state = super::app_state()?;
    let projects = state.store.list_projects().await.map_err(|err| {
        tracing::error!(error = %err, "listing projects failed");
        ServerFnError::new("Projects could not be loaded.")
    })?;
    Ok(HeaderInfo {
        user,
        projects: projects
            .into_iter()
            .map(|(id, name)| ProjectChoice { id, name })
            .collect(),
        current: access.project_id,
    })
}
