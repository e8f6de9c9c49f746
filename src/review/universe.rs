//! The request universe of an entity set: every principal x action x resource
//! the schema allows, with sample contexts for actions that need one. Used by
//! the permission matrix, policy diffs and the differential test.

use cedar_policy::EntityUid;

use crate::domain::{samples, types};
use crate::{Decision, Overlay, Query, Snapshot};

/// A query and a short label of its context (empty when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The request.
    pub query: Query,
    /// E.g. `field=stage`; empty for an empty context.
    pub context_label: String,
}

/// Every case of the universe, in a stable order (action, principal, resource).
pub fn cases(snap: &Snapshot, overlay: Option<&Overlay>) -> Vec<Case> {
    cases_where(snap, overlay, |_, _, _| true, |_| true)
}

/// The entities (actions left out) by type name, each list sorted.
pub fn by_type(
    snap: &Snapshot,
    overlay: Option<&Overlay>,
) -> std::collections::BTreeMap<String, Vec<EntityUid>> {
    let mut by_type: std::collections::BTreeMap<String, Vec<EntityUid>> = Default::default();
    for uid in snap.entity_uids(overlay) {
        if uid.type_name().to_string() != types::ACTION {
            by_type
                .entry(uid.type_name().to_string())
                .or_default()
                .push(uid);
        }
    }
    for v in by_type.values_mut() {
        v.sort_by_key(|u| u.to_string());
    }
    by_type
}

/// The schema's request shapes as (action, principal type, resource type),
/// in a stable order.
pub fn envs(snap: &Snapshot) -> Vec<(EntityUid, String, String)> {
    let mut envs: Vec<_> = snap
        .schema()
        .request_envs()
        .map(|env| {
            (
                env.action().clone(),
                env.principal().to_string(),
                env.resource().to_string(),
            )
        })
        .collect();
    envs.sort_by_key(|(a, p, r)| (a.to_string(), p.clone(), r.clone()));
    envs
}

/// How many cases [`cases`] would give, without building them.
pub fn count(snap: &Snapshot, overlay: Option<&Overlay>) -> usize {
    let by_type = by_type(snap, overlay);
    let empty = Vec::new();
    envs(snap)
        .iter()
        .map(|(action, ptype, rtype)| {
            let name = action.id().unescaped().to_string();
            let resources = by_type.get(rtype).map_or(0, Vec::len);
            by_type
                .get(ptype)
                .unwrap_or(&empty)
                .iter()
                .map(|p| samples::contexts(&name, p).len() * resources)
                .sum::<usize>()
        })
        .sum()
}

/// The cases whose (action name, resource type) pass `keep_env` and whose
/// principal passes `keep_principal`; nothing else is built.
pub fn cases_where(
    snap: &Snapshot,
    overlay: Option<&Overlay>,
    keep_env: impl Fn(&str, &str, &str) -> bool,
    keep_principal: impl Fn(&EntityUid) -> bool,
) -> Vec<Case> {
    let by_type = by_type(snap, overlay);
    let envs = envs(snap);
    let empty = Vec::new();
    let mut out = Vec::new();
    for (action, ptype, rtype) in envs {
        let name = action.id().unescaped().to_string();
        if !keep_env(&name, &ptype, &rtype) {
            continue;
        }
        for principal in by_type
            .get(&ptype)
            .unwrap_or(&empty)
            .iter()
            .filter(|p| keep_principal(p))
        {
            for resource in by_type.get(&rtype).unwrap_or(&empty) {
                for (label, context) in samples::contexts(&name, principal) {
                    out.push(Case {
                        query: Query::new(principal.clone(), action.clone(), resource.clone())
                            .with_context(context),
                        context_label: label,
                    });
                }
            }
        }
    }
    out
}

/// Decides every case on all cores, keeping the order of `cases`.
pub fn decide_all(snap: &Snapshot, overlay: Option<&Overlay>, cases: &[Case]) -> Vec<Decision> {
    decide_all_with(snap, overlay, cases, &super::NoProgress)
}

/// [`decide_all`], telling `progress` how many cases are decided as it goes.
pub fn decide_all_with(
    snap: &Snapshot,
    overlay: Option<&Overlay>,
    cases: &[Case],
    progress: &dyn super::Progress,
) -> Vec<Decision> {
    progress.start("deciding", cases.len() as u64);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let chunk = cases.len().div_ceil(threads).max(1);
    let decisions = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (i, c) in part.iter().enumerate() {
                        out.push(snap.decide(&c.query, overlay));
                        if i % 256 == 255 {
                            progress.advance(256);
                        }
                    }
                    progress.advance((part.len() % 256) as u64);
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            // A panic in a worker is a bug: re-raise it rather than return a
            // shorter list that would pair decisions with the wrong cases.
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Vec<_>>()
    });
    progress.finish();
    decisions
}
