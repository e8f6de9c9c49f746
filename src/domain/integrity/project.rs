//! Projects: their tags (member -> project role) name existing users and
//! agree with the users' `memberOf`; a user's `connectedTo` lists exactly
//! the other workspaces of their projects (CX1).

use std::collections::{BTreeSet, HashSet};

use super::{Index, Item};
use crate::domain::types;
use crate::error::Problem;

/// Checks one project's tags and records its members and workspace in `index`.
pub fn check(i: usize, item: &Item<'_>, index: &mut Index, problems: &mut Vec<Problem>) {
    let e = item.entity;
    index.project_at.insert(e.id().to_string(), i);
    let mut users = BTreeSet::new();
    for user in e.tag_keys() {
        if !index.exists(types::USER, user) {
            problems.push(item.problem_at(
                &format!(".tags.{user}"),
                format!("names member {user:?}, but there is no User::{user:?}"),
            ));
        }
        users.insert(user.to_string());
    }
    index.tagged.insert(e.id().to_string(), users);
    if let Some((_, w)) = e.ref_attr("workspace") {
        index.project_ws.insert(e.id().to_string(), w.to_string());
    }
}

/// Project tags and users' `memberOf` tell the same story (looking up
/// stored users and projects outside the checked set when there is one).
pub fn check_members(items: &[Item<'_>], index: &Index, problems: &mut Vec<Problem>) {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (project, users) in &index.tagged {
        for user in users {
            seen.insert((user, project));
            if let Some((i, projects)) = index.member_of.get(user) {
                if !projects.contains(project) {
                    problems.push(items[*i].problem_at(
                        ".attrs.memberOf",
                        format!("is a member of Project::{project:?} (its tags say so) but memberOf does not list it"),
                    ));
                }
            } else if let Some(stored) = index.outside.and_then(|o| o.member_of(user)) {
                if !stored.contains(project) {
                    if let Some(&p) = index.project_at.get(project) {
                        problems.push(items[p].problem_at(
                            &format!(".tags.{user}"),
                            format!("names member {user:?}, but the stored User::{user:?} does not list this project in memberOf"),
                        ));
                    }
                }
            }
        }
    }
    for (user, (i, projects)) in &index.member_of {
        for project in projects {
            let tags_name_user = if index.tagged.contains_key(project) {
                Some(seen.contains(&(user.as_str(), project.as_str())))
            } else {
                index
                    .outside
                    .and_then(|o| o.tagged(project))
                    .map(|users| users.iter().any(|u| u == user))
            };
            if tags_name_user == Some(false) {
                problems.push(items[*i].problem_at(
                    ".attrs.memberOf",
                    format!(
                        "lists Project::{project:?}, but that project's tags do not name {user:?}"
                    ),
                ));
            }
        }
    }
}

/// `connectedTo` lists exactly the other workspaces of a user's projects.
pub fn check_connections(items: &[Item<'_>], index: &Index, problems: &mut Vec<Problem>) {
    for (user, (home, to)) in &index.connected {
        let Some((i, projects)) = index.member_of.get(user) else {
            continue;
        };
        let expected: BTreeSet<String> = projects
            .iter()
            .filter_map(|p| {
                index
                    .project_ws
                    .get(p)
                    .cloned()
                    .or_else(|| index.outside.and_then(|o| o.project_workspace(p)))
            })
            .filter(|w| w != home)
            .collect();
        if &expected != to {
            problems.push(items[*i].problem_at(
                ".attrs.connectedTo",
                format!(
                    "connectedTo is {to:?} but the projects in memberOf outside the home workspace are in {expected:?} (CX1)"
                ),
            ));
        }
    }
}
