//! The decisions a policy edit changes: the same request universe evaluated
//! under two bundle versions, changes grouped by the policies that caused them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use super::universe;
use crate::scenario::run_paths;
use crate::{Query, Snapshot, Verdict};

/// One request whose decision changed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The request.
    pub request: String,
    /// Old decision.
    pub old: Verdict,
    /// New decision.
    pub new: Verdict,
    /// Determining policies before.
    pub old_reasons: Vec<String>,
    /// Determining policies after.
    pub new_reasons: Vec<String>,
}

/// Changes caused by the same policies.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The policies that caused these changes (`+id` new or changed, `-id` gone or no longer applying).
    pub cause: Vec<String>,
    /// Denies that became allows.
    pub now_allowed: usize,
    /// Allows that became denies.
    pub now_denied: usize,
    /// The changes.
    pub changes: Vec<Change>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Version of the old bundle.
    pub old_version: String,
    /// Version of the new bundle.
    pub new_version: String,
    /// Requests evaluated under both.
    pub requests: usize,
    /// Groups of changes, largest first.
    pub groups: Vec<Group>,
}

impl Diff {
    /// Number of changed decisions.
    pub fn changed(&self) -> usize {
        self.groups.iter().map(|g| g.changes.len()).sum()
    }
}

fn label(q: &Query, ctx: &str) -> String {
    if ctx.is_empty() {
        q.to_string()
    } else {
        format!(
            "{} {}[{ctx}] {}",
            q.principal(),
            q.action_name(),
            q.resource()
        )
    }
}

/// Compares `old` and `new` over both entity universes, plus the outcomes of
/// the scenario files under `scenarios` run against each bundle.
pub fn compare(old: &Snapshot, new: &Snapshot, scenarios: &[PathBuf]) -> Diff {
    compare_with(old, new, scenarios, &super::NoProgress)
}

/// [`compare`], reporting progress.
pub fn compare_with(
    old: &Snapshot,
    new: &Snapshot,
    scenarios: &[PathBuf],
    progress: &dyn super::Progress,
) -> Diff {
    compare_as(old, new, scenarios, progress, Scope::ChangedSlices)
}

/// Which requests of the universe a diff evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only the requests whose policy slice differs between the versions,
    /// when the schema and the entity data are the same (the others cannot
    /// change); every request otherwise.
    ChangedSlices,
    /// Every request of both universes.
    All,
}

/// [`compare_with`], evaluating the requests `scope` says.
pub fn compare_as(
    old: &Snapshot,
    new: &Snapshot,
    scenarios: &[PathBuf],
    progress: &dyn super::Progress,
    scope: Scope,
) -> Diff {
    let mut seen = BTreeSet::new();
    let mut changes = Vec::new();
    let mut count = universe_changes(old, new, &mut seen, &mut changes, progress, scope);
    count += scenario_changes(old, new, scenarios, &mut seen, &mut changes);
    let mut groups: BTreeMap<Vec<String>, Group> = BTreeMap::new();
    for ch in changes {
        let cause = cause(old, new, &ch);
        let g = groups.entry(cause.clone()).or_insert_with(|| Group {
            cause,
            now_allowed: 0,
            now_denied: 0,
            changes: Vec::new(),
        });
        if ch.new == Verdict::Allow {
            g.now_allowed += 1;
        } else {
            g.now_denied += 1;
        }
        g.changes.push(ch);
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.changes.len()));
    Diff {
        old_version: old.version().to_string(),
        new_version: new.version().to_string(),
        requests: count,
        groups,
    }
}

/// The (action name, principal type, resource type) whose policy slice
/// differs between the two packs; `None` when the schema or the entity data
/// differ, and every request must be compared.
fn changed_slices(old: &Snapshot, new: &Snapshot) -> Option<HashSet<(String, String, String)>> {
    if old.pack().schema_hash != new.pack().schema_hash || old.data_version() != new.data_version()
    {
        return None;
    }
    // A policy's meaning: its JSON form without annotations (an edited
    // comment or `@rules` changes no decision).
    let meanings = |s: &Snapshot| -> HashMap<String, String> {
        s.engine()
            .policies()
            .policies()
            .map(|p| {
                let mut json = p.to_json().unwrap_or_default();
                if let Some(m) = json.as_object_mut() {
                    m.remove("annotations");
                }
                (p.id().to_string(), json.to_string())
            })
            .collect()
    };
    let (old_meaning, new_meaning) = (meanings(old), meanings(new));
    let mut changed = HashSet::new();
    for env in new.schema().request_envs() {
        let slice = |s: &Snapshot, meaning: &HashMap<String, String>| {
            s.engine()
                .slice_for(env.principal(), env.action(), env.resource())
                .map(|set| {
                    set.policies()
                        .map(|p| {
                            let id = p.id().to_string();
                            let m = meaning.get(&id).cloned().unwrap_or_default();
                            (id, m)
                        })
                        .collect::<BTreeMap<String, String>>()
                })
        };
        if slice(old, &old_meaning) != slice(new, &new_meaning) {
            changed.insert((
                env.action().id().unescaped().to_string(),
                env.principal().to_string(),
                env.resource().to_string(),
            ));
        }
    }
    Some(changed)
}

/// The requests of both entity universes whose decision changed; returns
/// how many requests the universes hold (those of unchanged slices are
/// counted, not evaluated: their decisions cannot differ).
fn universe_changes(
    old: &Snapshot,
    new: &Snapshot,
    seen: &mut BTreeSet<String>,
    changes: &mut Vec<Change>,
    progress: &dyn super::Progress,
    scope: Scope,
) -> usize {
    let only = match scope {
        Scope::All => None,
        Scope::ChangedSlices => changed_slices(old, new),
    };
    if let Some(only) = &only {
        // Same schema and data: one universe, of which only the changed
        // slices are evaluated.
        let cases = universe::cases_where(
            new,
            None,
            |a, p, r| only.contains(&(a.to_string(), p.to_string(), r.to_string())),
            |_| true,
        );
        for c in &cases {
            seen.insert(label(&c.query, &c.context_label));
        }
        collect_changes(old, new, &cases, changes, progress);
        return universe::count(new, None);
    }
    let mut cases = Vec::new();
    for snap in [new, old] {
        for c in universe::cases(snap, None) {
            if seen.insert(label(&c.query, &c.context_label)) {
                cases.push(c);
            }
        }
    }
    collect_changes(old, new, &cases, changes, progress);
    cases.len()
}

/// The cases whose decision differs between the two snapshots.
fn collect_changes(
    old: &Snapshot,
    new: &Snapshot,
    cases: &[universe::Case],
    changes: &mut Vec<Change>,
    progress: &dyn super::Progress,
) {
    let before = universe::decide_all_with(old, None, cases, progress);
    let after = universe::decide_all_with(new, None, cases, progress);
    for ((c, a), b) in cases.iter().zip(before).zip(after) {
        if a.verdict() != b.verdict() {
            changes.push(Change {
                request: label(&c.query, &c.context_label),
                old: a.verdict(),
                new: b.verdict(),
                old_reasons: a.causes().to_vec(),
                new_reasons: b.causes().to_vec(),
            });
        }
    }
}

/// The scenario requests whose decision changed; returns how many were compared.
fn scenario_changes(
    old: &Snapshot,
    new: &Snapshot,
    scenarios: &[PathBuf],
    seen: &mut BTreeSet<String>,
    changes: &mut Vec<Change>,
) -> usize {
    if scenarios.is_empty() {
        return 0;
    }
    let mut count = 0;
    let (ro, rn) = (run_paths(scenarios, old), run_paths(scenarios, new));
    for (fo, f_n) in ro.iter().zip(&rn) {
        for (so, sn) in fo.scenarios.iter().zip(&f_n.scenarios) {
            for (o, n) in so.outcomes.iter().zip(&sn.outcomes) {
                let key = format!("{} (scenario {:?})", o.request, so.name);
                count += 1;
                if o.decision.verdict() != n.decision.verdict() && seen.insert(key.clone()) {
                    changes.push(Change {
                        request: key,
                        old: o.decision.verdict(),
                        new: n.decision.verdict(),
                        old_reasons: o.decision.reasons().to_vec(),
                        new_reasons: n.decision.reasons().to_vec(),
                    });
                }
            }
        }
    }
    count
}

/// What caused a change: the determining policies that appeared (+) and
/// those that stopped determining (-), each marked if the edit added,
/// removed or changed the policy itself.
fn cause(old: &Snapshot, new: &Snapshot, ch: &Change) -> Vec<String> {
    let mark = |id: &str| -> String {
        match (old.policy(id), new.policy(id)) {
            (None, Some(_)) => format!("{id} (added)"),
            (Some(_), None) => format!("{id} (removed)"),
            (Some(a), Some(b)) if a.text() != b.text() => format!("{id} (changed)"),
            _ => id.to_string(),
        }
    };
    let mut cause: Vec<String> = ch
        .old_reasons
        .iter()
        .filter(|r| !ch.new_reasons.contains(r))
        .map(|r| format!("-{}", mark(r)))
        .collect();
    cause.extend(
        ch.new_reasons
            .iter()
            .filter(|r| !ch.old_reasons.contains(r))
            .map(|r| format!("+{}", mark(r))),
    );
    cause
}

fn headline(d: &Diff) -> String {
    let allowed: usize = d.groups.iter().map(|g| g.now_allowed).sum();
    let denied: usize = d.groups.iter().map(|g| g.now_denied).sum();
    format!(
        "{} of {} decisions changed from {} to {}: {allowed} denies became allows, {denied} allows became denies",
        d.changed(),
        d.requests,
        d.old_version,
        d.new_version
    )
}

fn cause_text(g: &Group) -> String {
    if g.cause.is_empty() {
        "(no determining policy either side)".into()
    } else {
        g.cause.join(", ")
    }
}

/// For a terminal.
pub fn text(d: &Diff) -> String {
    let mut out = format!("{}\n", headline(d));
    for g in &d.groups {
        out.push_str(&format!(
            "\n{}: {} denies became allows, {} allows became denies\n",
            cause_text(g),
            g.now_allowed,
            g.now_denied
        ));
        for c in &g.changes {
            out.push_str(&format!("  {} -> {}  {}\n", c.old, c.new, c.request));
        }
    }
    out
}

/// For a pull-request comment.
pub fn markdown(d: &Diff) -> String {
    let mut out = format!("### Policy decision changes\n\n{}\n", headline(d));
    for g in &d.groups {
        out.push_str(&format!(
            "\n<details><summary><code>{}</code>: {} denies → allows, {} allows → denies</summary>\n\n| before | after | request |\n|---|---|---|\n",
            cause_text(g),
            g.now_allowed,
            g.now_denied
        ));
        for c in &g.changes {
            out.push_str(&format!("| {} | {} | `{}` |\n", c.old, c.new, c.request));
        }
        out.push_str("\n</details>\n");
    }
    out
}
