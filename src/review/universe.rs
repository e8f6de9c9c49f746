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
    space.cases(0..space.len())
}

/// Labelled sample contexts ([`samples::contexts`]).
type Samples = Vec<(String, serde_json::Value)>;

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
    principal_type: String,
    resource_type: String,
    principals: Arc<[Named]>,
    resources: Arc<[Named]>,
    /// The labels of the sample contexts of each (principal, resource):
    /// the same for every principal ([`samples::contexts`] varies values,
    /// not labels).
    labels: Vec<String>,
    /// Index of the part's first case in the space.
    start: usize,
}

impl Part {
    /// The number of case `(pi, ri, ci)` in the space.
    fn number(&self, pi: usize, ri: usize, ci: usize) -> usize {
        self.start + (pi * self.resources.len() + ri) * self.labels.len() + ci
    }
}

/// The cases of a universe (or of a selection of it) as a numbered space,
/// in the order of [`cases`]: a case is built when its number is asked
/// for, so a large matrix is decided in pieces and never held whole.
#[derive(Debug)]
pub struct Space {
    parts: Vec<Part>,
    len: usize,
}

/// How one case of a [`Space`] is shown.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'s> {
    /// The principal.
    pub principal: &'s EntityUid,
    /// The principal, written `User::"erin"`.
    pub principal_shown: &'s str,
    /// The action name.
    pub action: &'s str,
    /// The label of the sample context (empty for `{}`).
    pub context_label: &'s str,
    /// The resource.
    pub resource: &'s EntityUid,
    /// The resource, written `Project::"website"`.
    pub resource_shown: &'s str,
    /// The resource's type name.
    pub resource_type: &'s str,
}

/// A case's decision as the reviewer tools show it.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'s> {
    /// Allowed?
    pub allowed: bool,
    /// Denied because the request could not be evaluated.
    pub failed: bool,
    /// The determining policies, or the errors ([`Decision::causes`]).
    pub causes: &'s [String],
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
            let labels: Vec<String> = principals.first().map_or_else(Vec::new, |p| {
                samples::contexts(&name, &p.uid)
                    .into_iter()
                    .map(|(label, _)| label)
                    .collect()
            });
            let n = principals.len() * resources.len() * labels.len();
            parts.push(Part {
                action,
                name,
                principal_type: ptype,
                resource_type: rtype,
                principals,
                resources,
                labels,
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

    /// Calls `f` with the part, principal, resource and context indexes of
    /// each case numbered `range`, in order.
    fn each(&self, range: std::ops::Range<usize>, mut f: impl FnMut(usize, usize, usize, usize)) {
        let mut i = range.start;
        while i < range.end.min(self.len) {
            // The part holding case i: the last one starting at or before it.
            let at = self.parts.partition_point(|p| p.start <= i) - 1;
            let part = &self.parts[at];
            let per_principal = part.resources.len() * part.labels.len();
            let offset = i - part.start;
            let (pi, rest) = (offset / per_principal, offset % per_principal);
            // The rest of this principal's cases, as far as the range goes.
            let stop = (range.end - i).min(per_principal - rest);
            for k in rest..rest + stop {
                f(at, pi, k / part.labels.len(), k % part.labels.len());
            }
            i += stop;
        }
    }

    /// The cases numbered `range`, in order.
    pub fn cases(&self, range: std::ops::Range<usize>) -> Vec<Case> {
        let mut out = Vec::with_capacity(range.len());
        // The sample contexts of the current (part, principal).
        let mut contexts: Option<(usize, usize, Samples)> = None;
        self.each(range, |at, pi, ri, ci| {
            let part = &self.parts[at];
            let principal = &part.principals[pi].uid;
            let fresh = contexts
                .as_ref()
                .is_some_and(|(a, p, _)| *a == at && *p == pi);
            if !fresh {
                contexts = Some((at, pi, samples::contexts(&part.name, principal)));
            }
            let Some((_, _, list)) = &contexts else {
                return;
            };
            let (label, context) = list[ci].clone();
            out.push(Case {
                query: Query::new(
                    principal.clone(),
                    part.action.clone(),
                    part.resources[ri].uid.clone(),
                )
                .with_context(context),
                context_label: label,
            });
        });
        out
    }

    /// How the cases numbered `range` are shown, in order.
    pub fn slots(&self, range: std::ops::Range<usize>) -> Vec<Slot<'_>> {
        let mut out = Vec::with_capacity(range.len());
        self.each(range, |at, pi, ri, ci| {
            let part = &self.parts[at];
            let (p, r) = (&part.principals[pi], &part.resources[ri]);
            out.push(Slot {
                principal: &p.uid,
                principal_shown: &p.shown,
                action: &part.name,
                context_label: &part.labels[ci],
                resource: &r.uid,
                resource_shown: &r.shown,
                resource_type: &part.resource_type,
            });
        });
        out
    }

    /// Pieces of work for deciding the space: the cases of a few
    /// principals, over every resource and every action of one
    /// (principal type, resource type), grouped by (principal, resource)
    /// so that the actions of a pair share their policies' outcomes. Each
    /// piece is (the parts, its number of cases -- about `size` --, the
    /// principals' indexes).
    fn pieces(&self, size: usize) -> Vec<(Vec<usize>, usize, std::ops::Range<usize>)> {
        // (parts of one principal and resource type, principal range)
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            match groups.iter_mut().find(|g| {
                let first = &self.parts[g[0]];
                first.principal_type == part.principal_type
                    && first.resource_type == part.resource_type
            }) {
                Some(g) => g.push(i),
                None => groups.push(vec![i]),
            }
        }
        let mut out = Vec::new();
        for g in groups {
            let first = &self.parts[g[0]];
            let per_principal: usize = g
                .iter()
                .map(|&i| self.parts[i].resources.len() * self.parts[i].labels.len())
                .sum();
            if per_principal == 0 {
                continue;
            }
            let step = (size / per_principal).max(1);
            let mut pi = 0;
            while pi < first.principals.len() {
                let end = (pi + step).min(first.principals.len());
                out.push((g.clone(), per_principal * (end - pi), pi..end));
                pi = end;
            }
        }
        out
    }

    /// The cases of one piece (see [`Space::pieces`]) with their numbers,
    /// grouped by (principal, resource).
    fn piece_cases(
        &self,
        parts: &[usize],
        principals: std::ops::Range<usize>,
    ) -> Vec<(usize, Query)> {
        let mut out = Vec::new();
        let first = &self.parts[parts[0]];
        for pi in principals {
            let principal = &first.principals[pi].uid;
            let contexts: Vec<Samples> = parts
                .iter()
                .map(|&i| samples::contexts(&self.parts[i].name, principal))
                .collect();
            for ri in 0..first.resources.len() {
                for (k, &i) in parts.iter().enumerate() {
                    let part = &self.parts[i];
                    for (ci, (_, context)) in contexts[k].iter().enumerate() {
                        out.push((
                            part.number(pi, ri, ci),
                            Query::new(
                                principal.clone(),
                                part.action.clone(),
                                part.resources[ri].uid.clone(),
                            )
                            .with_context(context.clone()),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Cases decided over one shared entity set (see [`Snapshot::decide_batch`]).
const BLOCK: usize = 4_096;

/// Distinct lists of causes, numbered: a decided case is kept as a number
/// while the whole space is decided.
#[derive(Default)]
struct Causes {
    lists: std::sync::Mutex<(Numbers, Vec<Vec<String>>)>,
}

/// Cause lists and their numbers.
type Numbers = std::collections::HashMap<Vec<String>, u32, foldhash::fast::RandomState>;

impl Causes {
    /// The number of `causes`, looked up first in a worker's own `seen`.
    fn number(&self, causes: Vec<String>, seen: &mut Numbers) -> u32 {
        if let Some(n) = seen.get(&causes) {
            return *n;
        }
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let (index, all) = &mut *lists;
        let n = *index.entry(causes.clone()).or_insert_with(|| {
            all.push(causes.clone());
            (all.len() - 1) as u32
        });
        seen.insert(causes, n);
        n
    }
}

/// A decided case in the table: allowed, failed, and the number of its
/// causes.
const ALLOWED: u32 = 1 << 31;
const FAILED: u32 = 1 << 30;

/// Decides every case of `space` on all cores, then shows it block by
/// block in order: each worker turns a block of (slot, decision) into a
/// `T` with `shape` (its own state made by `init`), and `sink` gets the
/// blocks in order, on the calling thread. The cases are decided grouped by
/// principal and resource (their actions share their policies' outcomes),
/// each kept as 4 bytes until shown, so a matrix of millions of cells is
/// never held as cells.
pub fn decide_space<W, T: Send>(
    snap: &Snapshot,
    overlay: Option<&Overlay>,
    space: &Space,
    progress: &dyn super::Progress,
    init: impl Fn() -> W + Sync,
    shape: impl Fn(&mut W, Vec<(Slot<'_>, Shown<'_>)>) -> T + Sync,
    mut sink: impl FnMut(T),
) {
    use std::sync::atomic::{AtomicU32, Ordering};
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    // Decide.
    progress.start("deciding", space.len() as u64);
    let table: Vec<AtomicU32> = (0..space.len()).map(|_| AtomicU32::new(0)).collect();
    let causes = Causes::default();
    let pieces = space.pieces(BLOCK);
    on_workers(threads, pieces.len(), Numbers::default, |seen, i| {
        let (parts, n, principals) = &pieces[i];
        let cases = space.piece_cases(parts, principals.clone());
        let queries: Vec<&Query> = cases.iter().map(|(_, q)| q).collect();
        let decisions = snap.decide_batch(&queries, overlay);
        for ((number, _), d) in cases.iter().zip(decisions) {
            let d = d.unwrap_or_else(Decision::deny_because);
            let mut code = 0;
            if d.is_allowed() {
                code |= ALLOWED;
            }
            if !d.errors().is_empty() {
                code |= FAILED;
            }
            code |= causes.number(d.into_causes(), seen);
            table[*number].store(code, Ordering::Relaxed);
        }
        progress.advance(*n as u64);
    });
    progress.finish();
    // Show, in order.
    let lists = causes
        .lists
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .1;
    let blocks = space.len().div_ceil(BLOCK);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, T)>();
    let mut waiting = std::collections::BTreeMap::new();
    let mut due = 0;
    std::thread::scope(|scope| {
        let (table, lists) = (&table, &lists);
        let (shape, init) = (&shape, &init);
        scope.spawn(move || {
            on_workers(threads, blocks, init, |state, b| {
                let range = b * BLOCK..((b + 1) * BLOCK).min(space.len());
                let shown = space
                    .slots(range.clone())
                    .into_iter()
                    .zip(range)
                    .map(|(slot, i)| {
                        let code = table[i].load(Ordering::Relaxed);
                        let causes = lists
                            .get((code & !(ALLOWED | FAILED)) as usize)
                            .map_or(&[][..], Vec::as_slice);
                        let shown = Shown {
                            allowed: code & ALLOWED != 0,
                            failed: code & FAILED != 0,
                            causes,
                        };
                        (slot, shown)
                    })
                    .collect();
                // The receiver goes only when the caller's thread panics.
                let _ = tx.send((b, shape(state, shown)));
            });
        });
        // Blocks arrive in any order; hand them on in order.
        for (b, out) in rx {
            waiting.insert(b, out);
            while let Some(out) = waiting.remove(&due) {
                sink(out);
                due += 1;
            }
        }
    });
}

/// Runs `work(state, i)` for every `i` below `count` on `threads` scoped
/// threads, each with its own `state` made by `init`; returns when all are
/// done. A panic in a worker is a bug: it is raised again here.
fn on_workers<S>(
    threads: usize,
    count: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) + Sync,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(count))
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        work(&mut state, i);
                    }
                })
            })
            .collect();
        for w in workers {
            if let Err(e) = w.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
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
