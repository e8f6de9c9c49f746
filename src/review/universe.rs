//! The request universe of an entity set: every principal x action x resource
//! the schema allows, with sample contexts for actions that need one. Used by
//! the permission matrix, policy diffs and the differential test.

use std::sync::Arc;

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
    Space::new(snap, overlay, |_, _, _| true, |_| true).len()
}

/// The cases whose (action name, resource type) pass `keep_env` and whose
/// principal passes `keep_principal`; nothing else is built.
pub fn cases_where(
    snap: &Snapshot,
    overlay: Option<&Overlay>,
    keep_env: impl Fn(&str, &str, &str) -> bool,
    keep_principal: impl Fn(&EntityUid) -> bool,
) -> Vec<Case> {
    let space = Space::new(snap, overlay, keep_env, keep_principal);
    space
        .slots(0..space.len())
        .into_iter()
        .map(|s| s.case)
        .collect()
}

/// An entity and how it is written (`User::"erin"`), written once.
#[derive(Debug)]
struct Named {
    uid: EntityUid,
    shown: String,
}

/// The cases of one request shape: principals x resources x sample contexts.
#[derive(Debug)]
struct Part {
    action: EntityUid,
    name: String,
    resource_type: String,
    principals: Arc<[Named]>,
    resources: Arc<[Named]>,
    /// Sample contexts per (principal, resource): the same number for
    /// every principal ([`samples::contexts`] varies values, not count).
    contexts: usize,
    /// Index of the part's first case in the space.
    start: usize,
}

/// The cases of a universe (or of a selection of it) as a numbered space,
/// in the order of [`cases`]: a case is built when its number is asked
/// for, so a large matrix is decided block by block and never held whole.
#[derive(Debug)]
pub struct Space {
    parts: Vec<Part>,
    len: usize,
}

/// One case of a [`Space`], with how its principal, resource and resource
/// type are written.
#[derive(Debug)]
pub struct Slot<'s> {
    /// The request.
    pub case: Case,
    /// The principal, written `User::"erin"`.
    pub principal: &'s str,
    /// The resource, written `Project::"website"`.
    pub resource: &'s str,
    /// The resource's type name.
    pub resource_type: &'s str,
}

impl Space {
    /// The space of the cases whose (action name, principal type, resource
    /// type) pass `keep_env` and whose principal passes `keep_principal`.
    pub fn new(
        snap: &Snapshot,
        overlay: Option<&Overlay>,
        keep_env: impl Fn(&str, &str, &str) -> bool,
        keep_principal: impl Fn(&EntityUid) -> bool,
    ) -> Space {
        let mut named: std::collections::BTreeMap<String, Arc<[Named]>> = by_type(snap, overlay)
            .into_iter()
            .map(|(ty, uids)| {
                let list: Arc<[Named]> = uids
                    .into_iter()
                    .map(|uid| Named {
                        shown: uid.to_string(),
                        uid,
                    })
                    .collect();
                (ty, list)
            })
            .collect();
        let mut kept: std::collections::BTreeMap<String, Arc<[Named]>> = Default::default();
        let empty: Arc<[Named]> = Arc::from(Vec::new());
        let mut parts = Vec::new();
        let mut len = 0;
        for (action, ptype, rtype) in envs(snap) {
            let name = action.id().unescaped().to_string();
            if !keep_env(&name, &ptype, &rtype) {
                continue;
            }
            let principals = match kept.get(&ptype) {
                Some(list) => list.clone(),
                None => {
                    let all = named.remove(&ptype).unwrap_or_else(|| empty.clone());
                    let list: Arc<[Named]> = all
                        .iter()
                        .filter(|n| keep_principal(&n.uid))
                        .map(|n| Named {
                            uid: n.uid.clone(),
                            shown: n.shown.clone(),
                        })
                        .collect();
                    named.insert(ptype.clone(), all);
                    kept.insert(ptype.clone(), list.clone());
                    list
                }
            };
            let resources = named.get(&rtype).cloned().unwrap_or_else(|| empty.clone());
            let contexts = principals
                .first()
                .map_or(0, |p| samples::contexts(&name, &p.uid).len());
            let n = principals.len() * resources.len() * contexts;
            parts.push(Part {
                action,
                name,
                resource_type: rtype,
                principals,
                resources,
                contexts,
                start: len,
            });
            len += n;
        }
        Space { parts, len }
    }

    /// Number of cases.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no case.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cases numbered `range`, in order.
    pub fn slots(&self, range: std::ops::Range<usize>) -> Vec<Slot<'_>> {
        let mut out = Vec::with_capacity(range.len());
        let mut i = range.start;
        while i < range.end.min(self.len) {
            // The part holding case i: the last one starting at or before it.
            let at = self.parts.partition_point(|p| p.start <= i) - 1;
            let part = &self.parts[at];
            let per_principal = part.resources.len() * part.contexts;
            let offset = i - part.start;
            let (pi, rest) = (offset / per_principal, offset % per_principal);
            let principal = &part.principals[pi];
            let contexts = samples::contexts(&part.name, &principal.uid);
            // The rest of this principal's cases, as far as the range goes.
            let stop = (range.end - i).min(per_principal - rest);
            for k in rest..rest + stop {
                let resource = &part.resources[k / part.contexts];
                let (label, context) = contexts[k % part.contexts].clone();
                out.push(Slot {
                    case: Case {
                        query: Query::new(
                            principal.uid.clone(),
                            part.action.clone(),
                            resource.uid.clone(),
                        )
                        .with_context(context),
                        context_label: label,
                    },
                    principal: &principal.shown,
                    resource: &resource.shown,
                    resource_type: &part.resource_type,
                });
            }
            i += stop;
        }
        out
    }
}

/// Cases decided over one shared entity set (see [`Snapshot::decide_batch`]).
const BLOCK: usize = 16_384;

/// Decides every case of `space` on all cores, block by block: each worker
/// turns its decided block into a `T` with `shape` (its own state made by
/// `init`), and `sink` gets the blocks in order, on the calling thread.
/// Only a few blocks are held at a time.
pub fn decide_space<W, T: Send>(
    snap: &Snapshot,
    overlay: Option<&Overlay>,
    space: &Space,
    progress: &dyn super::Progress,
    init: impl Fn() -> W + Sync,
    shape: impl Fn(&mut W, Vec<(Slot<'_>, Decision)>) -> T + Sync,
    mut sink: impl FnMut(T),
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    progress.start("deciding", space.len() as u64);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let blocks = space.len().div_ceil(BLOCK);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, T)>(threads * 2);
        let mut workers = Vec::new();
        for _ in 0..threads.min(blocks) {
            let tx = tx.clone();
            let (next, init, shape) = (&next, &init, &shape);
            workers.push(scope.spawn(move || {
                let mut state = init();
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= blocks {
                        break;
                    }
                    let slots = space.slots(b * BLOCK..(b + 1) * BLOCK);
                    let queries: Vec<&Query> = slots.iter().map(|s| &s.case.query).collect();
                    let decisions = snap.decide_batch(&queries, overlay);
                    let n = slots.len() as u64;
                    let decided = slots
                        .into_iter()
                        .zip(decisions)
                        .map(|(s, d)| (s, d.unwrap_or_else(Decision::deny_because)))
                        .collect();
                    let out = shape(&mut state, decided);
                    progress.advance(n);
                    if tx.send((b, out)).is_err() {
                        break;
                    }
                }
            }));
        }
        drop(tx);
        // Blocks arrive in any order; hand them on in order.
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        for (b, out) in rx {
            waiting.insert(b, out);
            while let Some(out) = waiting.remove(&due) {
                sink(out);
                due += 1;
            }
        }
        for w in workers {
            // A panic in a worker is a bug: re-raise it rather than return
            // with blocks missing.
            if let Err(e) = w.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    progress.finish();
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
                    // Blocks share one entity set each (built once per block).
                    for block in part.chunks(BLOCK) {
                        let queries: Vec<&Query> = block.iter().map(|c| &c.query).collect();
                        out.extend(
                            snap.decide_batch(&queries, overlay)
                                .into_iter()
                                .map(|d| d.unwrap_or_else(Decision::deny_because)),
                        );
                        progress.advance(block.len() as u64);
                    }
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
