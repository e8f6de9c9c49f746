//! Who a principal is to a resource, the way the help articles describe
//! rights: their workspace role and license, their project role on the
//! resource's project, and whether the resource is in their home workspace
//! (outside it they are an external).

use std::collections::HashMap;

use cedar_policy::EntityUid;
use serde::Serialize;
use serde_json::Value as Json;

use crate::Snapshot;

/// A principal's standing towards one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Profile {
    /// Workspace role id (`admin`, `user`, ...).
    pub role: String,
    /// License (`full`, `guest`, `collaborator`, `client`).
    pub license: String,
    /// Project role on the resource's project, `none` when not a member,
    /// `-` when the resource belongs to no project.
    pub project_role: String,
    /// `home` when the resource is in the principal's home workspace,
    /// `external` when not, `-` when unknown.
    pub place: String,
    /// The principal created the resource's project (PR5: every right on it).
    pub creator: bool,
}

impl Profile {
    /// `role=user license=full project=manager external`.
    pub fn label(&self) -> String {
        format!(
            "role={} license={} project={} {}{}",
            self.role,
            self.license,
            self.project_role,
            self.place,
            if self.creator { " creator" } else { "" }
        )
    }
}

#[derive(Debug, Clone)]
struct Person {
    role: String,
    license: String,
    workspace: Option<String>,
    user_id: String,
}

#[derive(Debug, Clone)]
struct Place {
    workspace: Option<String>,
    /// Project role by user id, when the resource belongs to a project.
    project_roles: Option<HashMap<String, String>>,
    /// The id of the user who created the resource's project.
    creator: Option<String>,
}

/// Profiles, with what each entity contributes read once.
pub struct Profiles<'a> {
    snap: &'a Snapshot,
    people: HashMap<EntityUid, Option<Person>>,
    places: HashMap<EntityUid, Place>,
}

fn entity_id(v: Option<&Json>) -> Option<String> {
    let v = v?;
    let v = v.get("__entity").unwrap_or(v);
    v.get("id")?.as_str().map(str::to_string)
}

fn entity_ref(v: Option<&Json>) -> Option<(String, String)> {
    let v = v?;
    let v = v.get("__entity").unwrap_or(v);
    Some((
        v.get("type")?.as_str()?.to_string(),
        v.get("id")?.as_str()?.to_string(),
    ))
}

impl<'a> Profiles<'a> {
    /// Profiles over a snapshot's stored entities.
    pub fn new(snap: &'a Snapshot) -> Self {
        Profiles {
            snap,
            people: HashMap::new(),
            places: HashMap::new(),
        }
    }

    fn person(&mut self, uid: &EntityUid) -> Option<Person> {
        if let Some(p) = self.people.get(uid) {
            return p.clone();
        }
        let person = self.snap.entity_json(uid).and_then(|e| {
            let attrs = e.get("attrs")?;
            Some(Person {
                role: entity_id(attrs.get("role")).unwrap_or_else(|| "-".into()),
                license: attrs
                    .get("license")
                    .and_then(Json::as_str)
                    .unwrap_or("-")
                    .to_string(),
                workspace: entity_id(attrs.get("workspace")),
                user_id: attrs
                    .get("userId")
                    .and_then(Json::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| uid.id().unescaped().to_string()),
            })
        });
        self.people.insert(uid.clone(), person.clone());
        person
    }

    fn place(&mut self, uid: &EntityUid) -> Place {
        if let Some(p) = self.places.get(uid) {
            return p.clone();
        }
        let json = self.snap.entity_json(uid);
        let attrs = json.as_ref().and_then(|e| e.get("attrs"));
        let workspace = if uid.type_name().to_string() == "Workspace" {
            Some(uid.id().unescaped().to_string())
        } else {
            entity_id(attrs.and_then(|a| a.get("workspace")))
        };
        let project = if uid.type_name().to_string() == "Project" {
            json.clone()
        } else {
            entity_ref(attrs.and_then(|a| a.get("project")))
                .and_then(|(t, id)| crate::uid_of(crate::Field::Resource, &t, &id).ok())
                .and_then(|p| self.snap.entity_json(&p))
        };
        let creator = project
            .as_ref()
            .and_then(|p| entity_id(p.get("attrs").and_then(|a| a.get("creator"))));
        let project_roles = project.map(|p| {
            p.get("tags")
                .and_then(Json::as_object)
                .map(|tags| {
                    tags.iter()
                        .filter_map(|(user, role)| Some((user.clone(), entity_id(Some(role))?)))
                        .collect()
                })
                .unwrap_or_default()
        });
        let place = Place {
            workspace,
            project_roles,
            creator,
        };
        self.places.insert(uid.clone(), place.clone());
        place
    }

    /// The profile of `principal` towards `resource`; `None` when the
    /// principal is not a stored person.
    pub fn of(&mut self, principal: &EntityUid, resource: &EntityUid) -> Option<Profile> {
        let person = self.person(principal)?;
        let place = self.place(resource);
        let project_role = match &place.project_roles {
            None => "-".to_string(),
            Some(roles) => roles
                .get(&person.user_id)
                .cloned()
                .unwrap_or_else(|| "none".into()),
        };
        let where_ = match (&person.workspace, &place.workspace) {
            (Some(a), Some(b)) if a == b => "home",
            (Some(_), Some(_)) => "external",
            _ => "-",
        };
        let creator = place.creator.as_deref() == Some(principal.id().unescaped());
        Some(Profile {
            role: person.role,
            license: person.license,
            project_role,
            place: where_.to_string(),
            creator,
        })
    }
}
