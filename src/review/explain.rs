//! Why a request got its decision: the determining policies, the permits a
//! forbid overrode, the errors, and for a deny that no forbid caused, the
//! permits whose scope matched but whose condition was false.

use cedar_policy::{
    Decision as CedarDecision, Effect, Entities, EntityUid, PrincipalConstraint, ResourceConstraint,
};
use serde::Serialize;

use crate::{Decision, Overlay, PolicyInfo, Query, Snapshot};

/// One policy in an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Cited {
    /// Where and what.
    #[serde(flatten)]
    pub info: PolicyInfo,
    /// Its evaluation error, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A decision and why.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The request, as `User::"erin" editProjectDetails Project::"website"`.
    pub request: String,
    /// The decision (fail-closed).
    pub decision: Decision,
    /// Policies that determined it.
    pub determining: Vec<Cited>,
    /// Permits that were satisfied but lost to a forbid.
    pub overridden: Vec<Cited>,
    /// Permits whose scope matched the request but whose condition was false.
    pub not_satisfied: Vec<Cited>,
    /// Policies that errored.
    pub errored: Vec<Cited>,
    /// Snapshot version.
    pub version: String,
}

fn scope_matches(p: &cedar_policy::Policy, q: &Query, entities: &Entities) -> bool {
    let within = |uid: &EntityUid, group: &EntityUid| {
        uid == group
            || entities
                .ancestors(uid)
                .is_some_and(|mut a| a.any(|x| x == group))
    };
    let principal = match p.principal_constraint() {
        PrincipalConstraint::Eq(u) => &u == q.principal(),
        PrincipalConstraint::In(g) | PrincipalConstraint::IsIn(_, g) => within(q.principal(), &g),
        _ => true,
    };
    let resource = match p.resource_constraint() {
        ResourceConstraint::Eq(u) => &u == q.resource(),
        ResourceConstraint::In(g) | ResourceConstraint::IsIn(_, g) => within(q.resource(), &g),
        _ => true,
    };
    principal && resource
}

/// An explanation of `decision` with its determining policies cited.
fn started(snap: &Snapshot, query: &Query, decision: Decision) -> Explanation {
    let determining = decision
        .reasons()
        .iter()
        .filter_map(|id| {
            snap.policy(id).map(|info| Cited {
                info: info.clone(),
                error: None,
            })
        })
        .collect();
    Explanation {
        request: query.to_string(),
        decision,
        determining,
        overridden: Vec::new(),
        not_satisfied: Vec::new(),
        errored: Vec::new(),
        version: snap.version().to_string(),
    }
}

/// Explains `query` against the snapshot's entities, or `overlay`'s.
pub fn explain(snap: &Snapshot, query: &Query, overlay: Option<&Overlay>) -> Explanation {
    let mut ex = started(snap, query, snap.decide(query, overlay));
    let Ok(query) = snap.prepare(query, overlay) else {
        return ex;
    };
    let request_entities = snap.request_entities(&query, overlay);
    let Ok(request) = snap.engine().request(&query, &request_entities) else {
        return ex;
    };
    cite_slice(snap, &mut ex, &query, &request, &request_entities);
    ex
}

/// Explains `query` exactly as given, against `entities` alone: nothing of
/// the bundle's entity data, no integrity rules, no context derived. This
/// replays a `teamgate prove` counterexample, whose data conforms to the
/// schema but need not be a workspace the loader would accept.
pub fn explain_as_given(snap: &Snapshot, query: &Query, entities: &Entities) -> Explanation {
    let engine = snap.engine();
    let (decision, request) = match engine.request(query, entities) {
        Ok(r) => (engine.decide_request(&r, entities), Some(r)),
        Err(e) => (Decision::deny_because(&e), None),
    };
    let mut ex = started(snap, query, decision);
    if let Some(request) = request {
        cite_slice(snap, &mut ex, query, &request, entities);
    }
    ex
}

/// Adds to `ex` the permits a forbid overrode, the permits whose scope
/// matched but whose condition was false, and the policies that errored.
fn cite_slice(
    snap: &Snapshot,
    ex: &mut Explanation,
    query: &Query,
    request: &cedar_policy::Request,
    entities: &Entities,
) {
    let engine = snap.engine();
    let decision = ex.decision.clone();
    let cite = |id: &str, error: Option<String>| {
        snap.policy(id).map(|info| Cited {
            info: info.clone(),
            error,
        })
    };
    let Some(slice) = engine.slice_for(
        query.principal().type_name(),
        query.action(),
        query.resource().type_name(),
    ) else {
        return;
    };
    let mut ids: Vec<&cedar_policy::Policy> = slice.policies().collect();
    ids.sort_by_key(|p| p.id().to_string());
    for p in ids {
        let id = p.id().to_string();
        let Some(original) = engine.policies().policy(p.id()) else {
            continue;
        };
        if !scope_matches(original, query, entities) {
            continue;
        }
        let mut alone = cedar_policy::PolicySet::new();
        if alone.add(p.clone()).is_err() {
            continue;
        }
        let r = engine.authorize_with(request, &alone, entities);
        if let Some(e) = r.diagnostics().errors().next() {
            if let Some(c) = cite(&id, Some(e.to_string())) {
                ex.errored.push(c);
            }
            continue;
        }
        let satisfied = r.diagnostics().reason().next().is_some();
        match (p.effect(), satisfied) {
            (Effect::Permit, true)
                if !decision.is_allowed() && r.decision() == CedarDecision::Allow =>
            {
                ex.overridden.extend(cite(&id, None));
            }
            (Effect::Permit, false) => ex.not_satisfied.extend(cite(&id, None)),
            _ => {}
        }
    }
}

/// The explanation as a reviewer reads it.
pub fn render(ex: &Explanation) -> String {
    let d = &ex.decision;
    let mut out = format!("{}: {}\n", d.verdict().word().to_uppercase(), ex.request);
    let section = |out: &mut String, title: &str, list: &[Cited], with_text: bool| {
        if list.is_empty() {
            return;
        }
        out.push_str(&format!("\n{title}\n"));
        for c in list {
            out.push_str(&format!(
                "  {} {}  {}  [{}]\n",
                c.info.effect(),
                c.info.id(),
                c.info.location(),
                c.info.rules().join(", ")
            ));
            if let Some(why) = c.info.interpretation() {
                out.push_str(&format!("    interpretation: {why}\n"));
            }
            if let Some(e) = &c.error {
                out.push_str(&format!("    error: {e}\n"));
            }
            if with_text {
                for line in c.info.text().lines() {
                    out.push_str(&format!("    | {line}\n"));
                }
            }
        }
    };
    section(&mut out, "Determined by:", &ex.determining, true);
    let overridden_title = if d.reasons().is_empty() && !d.errors().is_empty() {
        "Overridden (satisfied, but an evaluation error makes the decision fail closed):"
    } else {
        "Overridden (satisfied, but a forbid wins):"
    };
    section(&mut out, overridden_title, &ex.overridden, false);
    section(
        &mut out,
        "Errors (a policy that errors makes the decision a deny, P5):",
        &ex.errored,
        false,
    );
    for e in d.errors().iter().filter(|_| ex.errored.is_empty()) {
        out.push_str(&format!("\nerror: {e}\n"));
    }
    if !d.is_allowed() && d.reasons().is_empty() && d.errors().is_empty() {
        out.push_str("\nNo permit applied: anything not granted is denied (P5).\n");
        if ex.not_satisfied.is_empty() {
            out.push_str("No permit for this action has a scope that matches the request.\n");
        }
        section(
            &mut out,
            "Permits whose scope matched but whose condition was false (look here):",
            &ex.not_satisfied,
            true,
        );
    }
    out.push_str(&format!("\nversion {}\n", ex.version));
    out
}
