//! Properties of the policy pack proven for every entity data that conforms
//! to the schema, with Cedar's symbolic compiler (`cedar-policy-symcc`) and
//! the cvc5 solver: the invariants of `invariants.yaml` ([`prove`]), and
//! whether two pack versions decide every request alike ([`equivalence`]).
//!
//! What a proof covers: Cedar's decision over all requests of a shape and
//! all entities the schema allows. It does not see what teamgate does before
//! Cedar (the context keys it derives, e.g. `inviteeDomain`, and the
//! integrity rules of entity data, which make real data narrower than the
//! schema): a proof holds for real data a fortiori, and a counterexample may
//! use data the loader would refuse. Teamgate denies where a policy errors
//! and Cedar would ignore it; `never-errors` proves that does not happen.

pub mod invariants;
mod report;
pub mod solver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cedar_policy::{
    Authorizer, Decision as CedarDecision, Entities, EntityUid, PolicySet, RequestEnv, Schema,
};
use cedar_policy_symcc::{CompiledPolicy, CompiledPolicySet, Env};
use serde::Serialize;

pub use invariants::{Invariant, Invariants, Property, Selection, Shape, INVARIANTS_FILE};
pub use report::{junit, text, Words};
use solver::{compile_set, Answer, Check, Session};

use crate::review::Progress;
use crate::Snapshot;

/// How to run the solver.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cvc5 executable (see [`solver::locate`]).
    pub solver: PathBuf,
    /// Time limit of one check (one request shape); past it the answer is
    /// "unknown".
    pub timeout: Duration,
}

/// Why nothing could be proven: bad input or no solver.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// An invariant that cannot be checked as written.
    #[error("{0}")]
    Invalid(String),
    /// The solver cannot run.
    #[error("{0}")]
    Solver(String),
}

/// Proved, violated, or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Holds for every input of the shape.
    Proved,
    /// A counterexample exists.
    Violated,
    /// The solver could not say.
    Unknown,
}

/// A concrete input on which a property fails.
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    /// `User::"..."`.
    pub principal: String,
    /// `Action::"..."`.
    pub action: String,
    /// The resource uid.
    pub resource: String,
    /// The context, as Cedar JSON.
    pub context: serde_json::Value,
    /// The entities, as a Cedar entity JSON array (actions left out).
    pub entities: serde_json::Value,
    /// The policy that errors, for `never-errors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// What the pack (or each side of a diff) decides on it.
    pub decision: String,
    /// Where [`write_counterexample`] put it, and the command that replays it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
}

/// A counterexample written to disk.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// The entity file (`--entities`).
    pub entities_file: String,
    /// The context file (`--context @FILE`).
    pub context_file: String,
    /// `teamgate explain ... --as-given`.
    pub command: String,
}

/// The result of one invariant.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Invariant id (or, for a diff, the request shape).
    pub id: String,
    /// Rules it protects.
    pub rules: Vec<String>,
    /// `never-allows`, ...
    pub property: String,
    /// Proved, violated or unknown.
    pub status: Status,
    /// Request shapes (principal type, action, resource type) checked.
    pub shapes: usize,
    /// Solver checks run.
    pub checks: usize,
    /// Wall time.
    pub millis: u64,
    /// For a violation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// Where the violation or the unknown is (the request shape), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn env_label(env: &RequestEnv) -> String {
    format!("{} {} {}", env.principal(), env.action(), env.resource())
}

/// The request environments of the schema that a shape covers, in a stable
/// order. An action of the shape may be an action group: every action in it.
pub fn envs_of(schema: &Schema, shape: &Shape) -> Result<Vec<RequestEnv>, String> {
    let (principal, actions, resources) = shape.parts();
    let mut groups = Vec::new();
    for a in &actions {
        let uid = crate::parse_action(a).map_err(|e| format!("shape.action: {e}"))?;
        let known =
            schema.actions().any(|x| *x == uid) || schema.action_groups().any(|x| *x == uid);
        if !known {
            return Err(format!(
                "shape.action: no action or group {uid} in the schema"
            ));
        }
        groups.push(uid);
    }
    for t in principal
        .iter()
        .map(|p| p.to_string())
        .chain(resources.clone())
    {
        if !schema.entity_types().any(|e| e.to_string() == t) {
            return Err(format!("shape: no entity type {t:?} in the schema"));
        }
    }
    let hierarchy = schema
        .action_entities()
        .map_err(|e| format!("the schema's actions: {e}"))?;
    let within = |action: &EntityUid, group: &EntityUid| {
        action == group
            || hierarchy
                .ancestors(action)
                .is_some_and(|mut a| a.any(|x| x == group))
    };
    let mut envs: Vec<RequestEnv> = schema
        .request_envs()
        .filter(|e| principal.is_none_or(|p| e.principal().to_string() == p))
        .filter(|e| resources.is_empty() || resources.contains(&e.resource().to_string()))
        .filter(|e| groups.is_empty() || groups.iter().any(|g| within(e.action(), g)))
        .collect();
    envs.sort_by_key(env_label);
    if envs.is_empty() {
        return Err("shape: no request of the schema has this shape".into());
    }
    Ok(envs)
}

/// The permit that matches exactly the requests satisfying `condition`.
fn condition_set(condition: &str) -> Result<PolicySet, String> {
    let text = format!("permit (principal, action, resource) when {{ {condition} }};");
    // The loader's bounds first: a deeply nested condition must be an
    // error, not a stack overflow in Cedar's parser.
    crate::check_cedar_text(std::path::Path::new("condition"), &text, true)
        .map_err(|p| p.message().to_string())?;
    text.parse::<PolicySet>()
        .map_err(|e| format!("the condition is not Cedar: {e}"))
}

/// Compiled sets per (selection, request shape), so that the pack is compiled
/// once per shape for every invariant.
struct Compiled<'s> {
    schema: &'s Schema,
    sets: HashMap<(String, String), CompiledPolicySet>,
}

impl Compiled<'_> {
    fn get(
        &mut self,
        key: &str,
        set: &PolicySet,
        env: &RequestEnv,
    ) -> Result<&CompiledPolicySet, String> {
        let k = (key.to_string(), env_label(env));
        if !self.sets.contains_key(&k) {
            let c = compile_set(set, env, self.schema)?;
            self.sets.insert(k.clone(), c);
        }
        self.sets
            .get(&k)
            .ok_or_else(|| "compiled set vanished".to_string())
    }
}

/// What a property compares, resolved against the pack.
enum Plan {
    Sets {
        left: Box<(String, PolicySet)>,
        right: Option<Box<(String, PolicySet)>>,
        kind: SetCheck,
    },
    Errors(Box<PolicySet>),
}

#[derive(Clone, Copy)]
enum SetCheck {
    Disjoint,
    Implies,
    Equivalent,
    AlwaysDenies,
}

fn plan(snap: &Snapshot, inv: &Invariant) -> Result<Plan, String> {
    let pack = || ("pack".to_string(), snap.engine().policies().clone());
    let cond = |c: &str| -> Result<(String, PolicySet), String> {
        Ok((format!("{}.condition", inv.id), condition_set(c)?))
    };
    let pair = |p: &invariants::Pair| -> Result<_, String> {
        Ok((
            (
                format!("{}.left", inv.id),
                p.left
                    .resolve(snap, &format!("{}.left", inv.property.kind()))?,
            ),
            (
                format!("{}.right", inv.id),
                p.right
                    .resolve(snap, &format!("{}.right", inv.property.kind()))?,
            ),
        ))
    };
    let sets = |left, right, kind| Plan::Sets {
        left: Box::new(left),
        right: Some(Box::new(right)),
        kind,
    };
    Ok(match &inv.property {
        Property::NeverAllows(c) => sets(pack(), cond(c)?, SetCheck::Disjoint),
        Property::AlwaysAllows(c) => sets(cond(c)?, pack(), SetCheck::Implies),
        Property::AlwaysDenies => Plan::Sets {
            left: Box::new(pack()),
            right: None,
            kind: SetCheck::AlwaysDenies,
        },
        Property::NeverErrors(sel) => Plan::Errors(Box::new(sel.resolve(snap, "never-errors")?)),
        Property::Implies(p) => {
            let (l, r) = pair(p)?;
            sets(l, r, SetCheck::Implies)
        }
        Property::Equivalent(p) => {
            let (l, r) = pair(p)?;
            sets(l, r, SetCheck::Equivalent)
        }
        Property::Disjoint(p) => {
            let (l, r) = pair(p)?;
            sets(l, r, SetCheck::Disjoint)
        }
    })
}

/// An invariant with its request shapes and what it compares.
type Planned<'i> = (&'i Invariant, Vec<RequestEnv>, Plan);

/// Each invariant with its request shapes and what it compares.
fn plan_all<'i>(
    snap: &Snapshot,
    invariants: &'i [Invariant],
) -> Result<Vec<Planned<'i>>, ProveError> {
    let mut planned = Vec::new();
    for inv in invariants {
        let bad = |e: String| ProveError::Invalid(format!("{} (id {}): {e}", inv.path, inv.id));
        let envs = envs_of(snap.schema(), &inv.shape).map_err(bad)?;
        let plan = plan(snap, inv).map_err(bad)?;
        planned.push((inv, envs, plan));
    }
    Ok(planned)
}

/// Checks, without the solver, that the invariants can be proven as written
/// against this pack: shapes of the schema, Cedar conditions, selections
/// that choose policies. (`validate` runs it, so an edit that renames a
/// policy an invariant names fails before anyone runs `prove`.)
pub fn check(snap: &Snapshot, invariants: &[Invariant]) -> Result<(), ProveError> {
    plan_all(snap, invariants).map(|_| ())
}

/// Checks invariants against a snapshot's pack. An invariant that cannot be
/// checked as written (bad shape, a condition that is not Cedar or does not
/// type-check for its shape, a selection that chooses nothing) is an error
/// naming it; so is a solver that cannot start.
pub fn prove(
    snap: &Snapshot,
    invariants: &[Invariant],
    options: &Options,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>, ProveError> {
    let schema = snap.schema();
    let planned = plan_all(snap, invariants)?;
    let mut session =
        Session::new(options.solver.clone(), options.timeout).map_err(ProveError::Solver)?;
    let mut compiled = Compiled {
        schema,
        sets: HashMap::new(),
    };
    let total = planned.iter().map(|(_, e, _)| e.len() as u64).sum();
    progress.start("proving", total);
    let mut outcomes = Vec::new();
    for (inv, envs, plan) in planned {
        let started = Instant::now();
        let mut out = Outcome {
            id: inv.id.clone(),
            rules: inv.rules.clone(),
            property: inv.property.kind().to_string(),
            status: Status::Proved,
            shapes: envs.len(),
            checks: 0,
            millis: 0,
            counterexample: None,
            reason: None,
        };
        for env in &envs {
            progress.advance(1);
            if out.status != Status::Proved {
                continue;
            }
            let answer = match &plan {
                Plan::Sets { left, right, kind } => check_sets(
                    &mut session,
                    &mut compiled,
                    env,
                    left,
                    right.as_deref(),
                    *kind,
                )
                .map_err(|e| {
                    ProveError::Invalid(format!(
                        "{} (id {}), request shape {}: {e}",
                        inv.path,
                        inv.id,
                        env_label(env)
                    ))
                })?,
                Plan::Errors(set) => check_errors(&mut session, schema, env, set, &mut out.checks),
            };
            if matches!(plan, Plan::Sets { .. }) {
                out.checks += 1;
            }
            match answer {
                (Answer::Holds, _) => {}
                (Answer::Fails(cex), policy) => {
                    out.status = Status::Violated;
                    out.reason = Some(format!("fails for {}", env_label(env)));
                    let decision = decide_summary(snap, &cex);
                    out.counterexample = Some(counterexample(&cex, policy, decision));
                }
                (Answer::Unknown(why), _) => {
                    out.status = Status::Unknown;
                    out.reason = Some(format!("{}: {why}", env_label(env)));
                }
            }
        }
        out.millis = started.elapsed().as_millis() as u64;
        outcomes.push(out);
    }
    progress.finish();
    Ok(outcomes)
}

fn check_sets(
    session: &mut Session,
    compiled: &mut Compiled<'_>,
    env: &RequestEnv,
    left: &(String, PolicySet),
    right: Option<&(String, PolicySet)>,
    kind: SetCheck,
) -> Result<(Answer, Option<String>), String> {
    // Compile both before borrowing either (the map may grow).
    compiled.get(&left.0, &left.1, env)?;
    if let Some(r) = right {
        compiled.get(&r.0, &r.1, env)?;
    }
    let key = |k: &str| (k.to_string(), env_label(env));
    let l = compiled
        .sets
        .get(&key(&left.0))
        .ok_or("left set not compiled")?;
    let r = right.and_then(|r| compiled.sets.get(&key(&r.0)));
    let answer = match (kind, r) {
        (SetCheck::AlwaysDenies, _) => session.check(Check::AlwaysDenies(l)),
        (SetCheck::Disjoint, Some(r)) => session.check(Check::Disjoint(l, r)),
        (SetCheck::Implies, Some(r)) => session.check(Check::Implies(l, r)),
        (SetCheck::Equivalent, Some(r)) => session.check(Check::Equivalent(l, r)),
        (_, None) => return Err("right set not compiled".into()),
    };
    Ok((answer, None))
}

/// `never-errors`: each policy of the set that can apply to the request
/// shape, checked alone; the first that can error is the counterexample.
fn check_errors(
    session: &mut Session,
    schema: &Schema,
    env: &RequestEnv,
    set: &PolicySet,
    checks: &mut usize,
) -> (Answer, Option<String>) {
    let label = env_label(env);
    let mut policies: Vec<&cedar_policy::Policy> = set.policies().collect();
    policies.sort_by_key(|p| p.id().to_string());
    for p in policies {
        if !p
            .get_valid_request_envs(schema)
            .any(|e| env_label(&e) == label)
        {
            continue;
        }
        let compiled = match CompiledPolicy::compile(p, env, schema) {
            Ok(c) => c,
            Err(e) => {
                return (
                    Answer::Unknown(format!(
                        "{} does not compile: {}",
                        p.id(),
                        solver::describe(&e)
                    )),
                    Some(p.id().to_string()),
                )
            }
        };
        *checks += 1;
        match session.check(Check::NeverErrors(&compiled)) {
            Answer::Holds => {}
            other => return (other, Some(p.id().to_string())),
        }
    }
    (Answer::Holds, None)
}

fn counterexample(env: &Env, policy: Option<String>, decision: String) -> Counterexample {
    let uid = |u: Option<&EntityUid>| u.map(|u| u.to_string()).unwrap_or_default();
    let context = env
        .request
        .context()
        .and_then(|c| c.to_json_value().ok())
        .unwrap_or(serde_json::Value::Object(Default::default()));
    Counterexample {
        principal: uid(env.request.principal()),
        action: uid(env.request.action()),
        resource: uid(env.request.resource()),
        context,
        entities: entities_json(&env.entities),
        policy,
        decision,
        replay: None,
    }
}

/// The entities of a counterexample as a JSON array, action entities left
/// out (the schema brings them).
fn entities_json(entities: &Entities) -> serde_json::Value {
    let all = entities
        .to_json_value()
        .unwrap_or(serde_json::Value::Array(Vec::new()));
    match all {
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .into_iter()
                .filter(|e| {
                    let t = e.pointer("/uid/type").and_then(|t| t.as_str());
                    !t.is_some_and(|t| t == "Action" || t.ends_with("::Action"))
                })
                .collect(),
        ),
        other => other,
    }
}

/// What the snapshot's pack decides on a counterexample, through teamgate's
/// own engine (fail closed).
fn decide_summary(snap: &Snapshot, env: &Env) -> String {
    let d = snap.engine().decide_request(&env.request, &env.entities);
    describe_decision(&d)
}

fn describe_decision(d: &crate::Decision) -> String {
    let word = if d.is_allowed() { "allow" } else { "deny" };
    let reasons = d.reasons();
    if reasons.is_empty() {
        word.to_string()
    } else {
        format!("{word} ({})", reasons.join(", "))
    }
}

/// Writes a counterexample's entities and context into `dir` as
/// `<name>.entities.json` and `<name>.context.json`, and records the
/// `teamgate explain` command that replays it on `bundle`.
pub fn write_counterexample(
    cex: &mut Counterexample,
    dir: &Path,
    name: &str,
    bundle: &Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let entities = dir.join(format!("{safe}.entities.json"));
    let context = dir.join(format!("{safe}.context.json"));
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    std::fs::write(&entities, pretty(&cex.entities) + "\n")?;
    std::fs::write(&context, pretty(&cex.context) + "\n")?;
    let q = shell_quote;
    let command = format!(
        "teamgate explain --bundle {} --as-given --entities {} --principal {} --action {} --resource {} --context @{}",
        q(&bundle.display().to_string()),
        q(&entities.display().to_string()),
        q(&cex.principal),
        q(&cex.action),
        q(&cex.resource),
        q(&context.display().to_string()),
    );
    cex.replay = Some(Replay {
        entities_file: entities.display().to_string(),
        context_file: context.display().to_string(),
        command,
    });
    Ok(())
}

/// Quotes a word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether two snapshots' packs decide every request of every shape alike
/// (for all entity data): one outcome per request shape, `proved` where
/// equivalent, `violated` with a counterexample (and what each side decides)
/// where not. Both must have the same schema.
pub fn equivalence(
    old: &Snapshot,
    new: &Snapshot,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>, ProveError> {
    if old.pack().schema_hash != new.pack().schema_hash {
        return Err(ProveError::Invalid(
            "the two versions have different schemas; diff --prove compares policies over one schema"
                .into(),
        ));
    }
    let schema = new.schema();
    let mut session =
        Session::new(options.solver.clone(), options.timeout).map_err(ProveError::Solver)?;
    let mut envs: Vec<RequestEnv> = schema.request_envs().collect();
    envs.sort_by_key(env_label);
    progress.start("proving", envs.len() as u64);
    let (old_set, new_set) = (old.engine().policies(), new.engine().policies());
    let mut outcomes = Vec::new();
    for env in &envs {
        progress.advance(1);
        let started = Instant::now();
        let label = env_label(env);
        let compile = |s: &PolicySet, which: &str| {
            compile_set(s, env, schema)
                .map_err(|e| ProveError::Invalid(format!("{label}: the {which} pack: {e}")))
        };
        let (a, b) = (compile(old_set, "old")?, compile(new_set, "new")?);
        let mut out = Outcome {
            id: label.clone(),
            rules: Vec::new(),
            property: "equivalent".into(),
            status: Status::Proved,
            shapes: 1,
            checks: 1,
            millis: 0,
            counterexample: None,
            reason: None,
        };
        match session.check(Check::Equivalent(&a, &b)) {
            Answer::Holds => {}
            Answer::Fails(env) => {
                out.status = Status::Violated;
                let authorizer = Authorizer::new();
                let word = |s: &PolicySet| match authorizer
                    .is_authorized(&env.request, s, &env.entities)
                    .decision()
                {
                    CedarDecision::Allow => "allow",
                    CedarDecision::Deny => "deny",
                };
                let decision = format!("old {}, new {}", word(old_set), word(new_set));
                out.counterexample = Some(counterexample(&env, None, decision));
            }
            Answer::Unknown(why) => {
                out.status = Status::Unknown;
                out.reason = Some(why);
            }
        }
        out.millis = started.elapsed().as_millis() as u64;
        outcomes.push(out);
    }
    progress.finish();
    Ok(outcomes)
}
