//! Which references a request's entities are followed through.
//!
//! A request gets the entities its policies can read: the principal, the
//! resource, the context's entity references, the entities up to
//! `level - 1` attribute hops from them, and all their ancestors. Most
//! attributes that hold references are never *dereferenced* by a policy,
//! only compared: `principal.memberOf.containsAny(resource.memberOf)` needs
//! neither the projects a user belongs to nor their attributes. Following
//! such references costs a great deal at scale (a user of 100,000 may be a
//! member of dozens of projects, each with its members in tags).
//!
//! So the pack's policies are read once: every expression that is
//! dereferenced (`E.attr`, `E has attr`, `E.getTag(k)`, `E.hasTag(k)`, `E in
//! ...`, `E is T in ...`) and is an attribute chain from a variable
//! (`resource.project`, `context.invitee`) names the attributes whose
//! references must be followed; a tag value dereferenced
//! (`E.getTag(k).attr`) makes tags followed. Any other dereferenced
//! expression (a conditional, a set element, ...) makes every reference
//! followed, as before. Leaving out an entity that is never dereferenced
//! changes nothing Cedar computes: comparing references needs no entity.

use std::collections::HashSet;

use cedar_policy::PolicySet;
use serde_json::Value as Json;

use super::shape::Shapes;
use super::StoreSchema;
use crate::engine::PolicyJson;

/// The references a request's entities are followed through, and how far.
#[derive(Debug, Clone)]
pub(crate) struct Reach {
    /// Entities this many attribute hops from the principal, the resource
    /// and the context are included (the pack's dereference level less one).
    pub hops: usize,
    /// Every reference is followed.
    all: bool,
    /// By attribute index: whether references inside it are followed.
    attrs: Vec<bool>,
    /// References in tag values are followed.
    tags: bool,
    /// The schema the attribute indexes are those of (a store typed with
    /// another schema follows every reference).
    fingerprint: String,
}

/// What reading the policies found.
#[derive(Debug, Default)]
struct Found {
    all: bool,
    names: HashSet<String>,
    tags: bool,
}

impl Reach {
    /// The reach of `policies`, validated at dereference `level`, over the
    /// attribute names of `shapes`.
    pub fn new(policies: &PolicySet, json: &PolicyJson, level: u32, schema: &StoreSchema) -> Reach {
        let shapes: &Shapes = &schema.shapes;
        let mut found = Found::default();
        for p in policies.policies() {
            match json.get(p) {
                Ok(json) => {
                    if let Some(conds) = json.get("conditions").and_then(|c| c.as_array()) {
                        for c in conds {
                            if let Some(body) = c.get("body") {
                                walk(body, &mut found);
                            }
                        }
                    }
                }
                Err(_) => found.all = true,
            }
        }
        Reach {
            hops: level.saturating_sub(1).max(1) as usize,
            all: found.all,
            attrs: shapes
                .attr_names
                .iter()
                .map(|n| found.names.contains(n.as_str()))
                .collect(),
            tags: found.tags,
            fingerprint: schema.fingerprint.clone(),
        }
    }

    /// Whether this reach's attribute indexes are those of `schema`.
    pub fn fits(&self, schema: &StoreSchema) -> bool {
        self.all || self.fingerprint == schema.fingerprint
    }

    /// Whether references inside the attribute with this index are followed.
    pub fn follows_attr(&self, index: u16) -> bool {
        self.all || self.attrs.get(index as usize).copied().unwrap_or(true)
    }

    /// Whether references in tag values are followed.
    pub fn follows_tags(&self) -> bool {
        self.all || self.tags
    }
}

/// Visits every subexpression of a policy expression (the JSON form), noting
/// what is dereferenced.
fn walk(expr: &Json, found: &mut Found) {
    let Some(obj) = expr.as_object() else {
        if let Some(items) = expr.as_array() {
            for e in items {
                walk(e, found);
            }
        }
        return;
    };
    for (op, arg) in obj {
        match op.as_str() {
            // Literals hold no expression.
            "Value" | "Var" | "Slot" | "Unknown" => {}
            "." | "has" | "getTag" | "hasTag" | "in" => {
                if let Some(left) = arg.get("left") {
                    dereferenced(left, found);
                }
                walk(arg, found);
            }
            // `E is T` needs no entity, `E is T in F` does.
            "is" => {
                if let (Some(left), Some(_)) = (arg.get("left"), arg.get("in")) {
                    dereferenced(left, found);
                }
                walk(arg, found);
            }
            _ => walk(arg, found),
        }
    }
}

/// Notes that `target` is dereferenced: the attribute names of its chain
/// from a variable, a followed tag, or (anything else) every reference.
fn dereferenced(target: &Json, found: &mut Found) {
    if target.get("Var").is_some() {
        return;
    }
    if let Some(dot) = target.get(".") {
        if let Some(attr) = dot.get("attr").and_then(|a| a.as_str()) {
            found.names.insert(attr.to_string());
        }
        match dot.get("left") {
            Some(left) => dereferenced(left, found),
            None => found.all = true,
        }
        return;
    }
    if let Some(tag) = target.get("getTag") {
        found.tags = true;
        match tag.get("left") {
            Some(left) => dereferenced(left, found),
            None => found.all = true,
        }
        return;
    }
    found.all = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(policy: &str) -> Found {
        let p: cedar_policy::Policy = policy.parse().expect("policy");
        let json = p.to_json().expect("json");
        let mut f = Found::default();
        for c in json["conditions"].as_array().expect("conditions") {
            walk(&c["body"], &mut f);
        }
        f
    }

    fn names(f: &Found) -> Vec<&str> {
        let mut v: Vec<&str> = f.names.iter().map(String::as_str).collect();
        v.sort();
        v
    }

    #[test]
    fn compared_references_are_not_followed_dereferenced_ones_are() {
        let f = found(
            r#"permit(principal, action, resource) when {
                principal.memberOf.containsAny(resource.memberOf) &&
                resource.project.sharingEnabled &&
                resource.project.creator == principal &&
                context.invitee.license == "full" &&
                principal.workspace has plan &&
                resource.owner in principal.workspace
            };"#,
        );
        assert!(!f.all && !f.tags);
        assert_eq!(names(&f), ["invitee", "owner", "project", "workspace"]);
    }

    #[test]
    fn tags_and_anything_unusual_widen_the_reach() {
        let f = found(
            r#"permit(principal, action, resource) when { resource.getTag("x").isDefault };"#,
        );
        assert!(f.tags && !f.all);
        let f = found(
            r#"permit(principal, action, resource) when { resource.project.hasTag(principal.userId) };"#,
        );
        assert!(!f.tags && !f.all);
        assert_eq!(names(&f), ["project"]);
        let f = found(
            r#"permit(principal, action, resource) when { (if context.a then resource.b else resource.c).d };"#,
        );
        assert!(f.all);
        let f = found(
            r#"permit(principal, action, resource) when { [resource.p].contains(principal) && (resource.q is User in principal.w) };"#,
        );
        assert!(!f.all);
        assert_eq!(names(&f), ["q"]);
    }
}
