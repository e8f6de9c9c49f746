//! Running scenario files against a snapshot.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Entities, EntityUid};
use serde::Serialize;
use serde_json::Value;

use super::cedar_tests;
use super::model::{Base, EntityChanges, Expect, Faq, RequestSpec, Scenario, ScenarioFile};
use crate::bundle::{merge_entity_json, read_fixture_json, EntityData};
use crate::{BundlePaths, Decision, Problem, Query, Snapshot};

/// The result of one request.
#[derive(Debug, Clone, Serialize)]
pub struct RequestOutcome {
    /// `User::"erin" editProjectDetails Project::"website" {context}`.
    pub request: String,
    /// Line of the request in the file, where known.
    #[serde(skip)]
    pub line: Option<usize>,
    /// The action's name, for coverage.
    #[serde(skip)]
    pub action: String,
    /// What the file expects.
    pub expected: Expect,
    /// What teamgate decided.
    pub decision: Decision,
    /// What did not match (empty when the request passed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub name: String,
    /// Rule ids covered.
    pub rules: Vec<String>,
    /// The FAQ it checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faq: Option<Faq>,
    /// One per request, in order.
    pub outcomes: Vec<RequestOutcome>,
    /// Why the scenario could not run (then it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

impl ScenarioReport {
    /// True when it ran and every request matched.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.outcomes.iter().all(|o| o.failures.is_empty())
    }
}

/// The result of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// Its topic.
    pub topic: String,
    /// Its scenarios.
    pub scenarios: Vec<ScenarioReport>,
    /// Why the file could not be read or parsed (then it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

impl FileReport {
    fn failed_to_load(path: &Path, error: Problem) -> Self {
        FileReport {
            path: path.display().to_string(),
            topic: String::new(),
            scenarios: Vec::new(),
            error: Some(error),
        }
    }
}

/// Scenario files under `paths` (directories are searched for `*.yaml`,
/// `*.yml` and `*.json`), sorted.
pub fn discover(paths: &[PathBuf]) -> Vec<Result<PathBuf, Problem>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            if found.is_empty() {
                out.push(Err(Problem::in_file(
                    p,
                    "no scenario files (*.yaml, *.yml, *.json) here",
                )));
            }
            out.extend(found.into_iter().map(Ok));
        } else if p.is_file() {
            out.push(Ok(p.clone()));
        } else {
            out.push(Err(Problem::in_file(p, "no such file or directory")));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
}

/// Runs every scenario file under `paths` against `snap`.
pub fn run_paths(paths: &[PathBuf], snap: &Snapshot, bundle: &BundlePaths) -> Vec<FileReport> {
    let mut runner = Runner {
        snap,
        bundle,
        demo_json: None,
    };
    discover(paths)
        .into_iter()
        .map(|found| match found {
            Err(p) => {
                let file = PathBuf::from(p.file.clone().unwrap_or_default());
                FileReport::failed_to_load(&file, p)
            }
            Ok(path) => runner.run_file(&path),
        })
        .collect()
}

struct Runner<'a> {
    snap: &'a Snapshot,
    bundle: &'a BundlePaths,
    demo_json: Option<Result<Vec<Value>, Problem>>,
}

impl Runner<'_> {
    fn run_file(&mut self, path: &Path) -> FileReport {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                return FileReport::failed_to_load(
                    path,
                    Problem::in_file(path, format!("cannot read: {e}")),
                )
            }
        };
        if path.extension().and_then(|x| x.to_str()) == Some("json") {
            return cedar_tests::run_file(path, &text, self.snap);
        }
        let file = match ScenarioFile::parse(path, &text) {
            Ok(f) => f,
            Err(p) => return FileReport::failed_to_load(path, p),
        };
        let scenarios = file
            .scenarios
            .iter()
            .map(|s| self.run_scenario(path, &text, s))
            .collect();
        FileReport {
            path: path.display().to_string(),
            topic: file.topic,
            scenarios,
            error: None,
        }
    }

    fn demo(&mut self) -> Result<Vec<Value>, Problem> {
        let bundle = self.bundle;
        self.demo_json
            .get_or_insert_with(|| {
                read_fixture_json(bundle).map_err(|e| {
                    e.0.into_iter()
                        .next()
                        .unwrap_or_else(|| Problem::new("fixtures"))
                })
            })
            .clone()
    }

    fn run_scenario(&mut self, path: &Path, text: &str, s: &Scenario) -> ScenarioReport {
        let mut report = ScenarioReport {
            name: s.name.clone(),
            rules: s.rules.clone(),
            faq: s.faq.clone(),
            outcomes: Vec::new(),
            error: None,
        };
        let fail = |msg: String, line: Option<usize>| {
            let p = Problem::in_file(path, format!("scenario {:?}: {msg}", s.name)).with_line(line);
            Problem {
                rendered: format!("{}: {}", p.location(), p.message),
                ..p
            }
        };
        let owned;
        let entities: &Entities = if s.entities == EntityChanges::default() {
            &self.snap.data.entities
        } else {
            match self.build_entities(&s.entities) {
                Ok(data) => {
                    owned = data;
                    &owned.entities
                }
                Err(msg) => {
                    report.error = Some(fail(
                        msg,
                        ScenarioFile::request_line(text, &s.name, 0).map(|l| l.saturating_sub(1)),
                    ));
                    return report;
                }
            }
        };
        let mut queries = Vec::new();
        for (i, r) in s.requests.iter().enumerate() {
            let line = ScenarioFile::request_line(text, &s.name, i);
            match self.query(r, entities) {
                Ok(q) => queries.push((q, line)),
                Err(msg) => {
                    report.error = Some(fail(format!("request {}: {msg}", i + 1), line));
                    return report;
                }
            }
        }
        for ((q, line), spec) in queries.into_iter().zip(&s.requests) {
            let decision = self.snap.pack.engine.decide(&q, entities);
            report.outcomes.push(check(spec, &q, decision, line));
        }
        report
    }

    fn query(&self, r: &RequestSpec, entities: &Entities) -> Result<Query, String> {
        let parse = |what: &str, s: &str| {
            EntityUid::from_str(s.trim())
                .map_err(|e| format!("{what} {s:?} is not an entity uid like User::\"erin\": {e}"))
        };
        let action = if r.action.contains("::") {
            parse("action", &r.action)?
        } else {
            parse("action", &format!("Action::{:?}", r.action))?
        };
        let q = Query {
            principal: parse("principal", &r.principal)?,
            action,
            resource: parse("resource", &r.resource)?,
            context: r.context.clone(),
        };
        // A request about something that does not exist is a mistake in the
        // file, unless it expects the errors such a request gives.
        if r.errors.unwrap_or(0) == 0 {
            if !self.snap.pack.engine.actions().contains(&&q.action) {
                return Err(format!("unknown action {}", q.action));
            }
            for (what, uid) in [("principal", &q.principal), ("resource", &q.resource)] {
                if entities.get(uid).is_none() {
                    return Err(format!(
                        "unknown {what} {uid}: not in this scenario's entities"
                    ));
                }
            }
        }
        Ok(q)
    }

    fn build_entities(&mut self, changes: &EntityChanges) -> Result<EntityData, String> {
        let mut json = match changes.base {
            Base::Demo => self.demo().map_err(|p| p.to_string())?,
            Base::None => Vec::new(),
        };
        let key = |v: &Value| -> Option<(String, String)> {
            let u = v.get("uid")?;
            Some((
                u.get("type")?.as_str()?.to_string(),
                u.get("id")?.as_str()?.to_string(),
            ))
        };
        let uid_key = |s: &str| -> Result<(String, String), String> {
            let uid = EntityUid::from_str(s.trim())
                .map_err(|e| format!("{s:?} is not an entity uid: {e}"))?;
            Ok((
                uid.type_name().to_string(),
                uid.id().unescaped().to_string(),
            ))
        };
        for r in &changes.remove {
            let k = uid_key(r)?;
            let before = json.len();
            json.retain(|v| key(v).as_ref() != Some(&k));
            if json.len() == before {
                return Err(format!("entities.remove: no entity {r}"));
            }
        }
        json = merge_entity_json(&json, changes.upsert.clone());
        let index: HashMap<(String, String), usize> = json
            .iter()
            .enumerate()
            .filter_map(|(i, v)| key(v).map(|k| (k, i)))
            .collect();
        for (uid, attrs) in &changes.set {
            let k = uid_key(uid)?;
            let i = *index
                .get(&k)
                .ok_or_else(|| format!("entities.set: no entity {uid}"))?;
            let target = json[i]
                .get_mut("attrs")
                .and_then(Value::as_object_mut)
                .ok_or_else(|| format!("entities.set: {uid} has no attrs"))?;
            for (a, v) in attrs {
                target.insert(a.clone(), v.clone());
            }
        }
        EntityData::from_json(json, &self.snap.pack, "scenario entities").map_err(|e| {
            let msgs: Vec<String> =
                e.0.iter()
                    .map(|p| {
                        format!(
                            "{}{}",
                            p.json_path
                                .clone()
                                .map(|j| format!("{j}: "))
                                .unwrap_or_default(),
                            p.message
                        )
                    })
                    .collect();
            format!("its entities are invalid: {}", msgs.join("; "))
        })
    }
}

fn check(spec: &RequestSpec, q: &Query, decision: Decision, line: Option<usize>) -> RequestOutcome {
    let mut failures = Vec::new();
    let expected_allow = spec.expect == Expect::Allow;
    if decision.allowed != expected_allow {
        failures.push(format!(
            "expected {}, got {}",
            if expected_allow { "allow" } else { "deny" },
            decision.word()
        ));
    }
    if let Some(want) = &spec.reasons {
        let mut want = want.clone();
        want.sort();
        if want != decision.reasons {
            failures.push(format!(
                "expected determining policies {want:?}, got {:?}",
                decision.reasons
            ));
        }
    }
    if let Some(n) = spec.errors {
        if n != decision.errors.len() {
            failures.push(format!(
                "expected {n} errors, got {}",
                decision.errors.len()
            ));
        }
    }
    let ctx = match &q.context {
        Value::Null => String::new(),
        Value::Object(m) if m.is_empty() => String::new(),
        c => format!(" {c}"),
    };
    RequestOutcome {
        request: format!(
            "{} {} {}{ctx}",
            q.principal,
            q.action.id().unescaped(),
            q.resource
        ),
        line,
        action: q.action.id().unescaped().to_string(),
        expected: spec.expect,
        decision,
        failures,
    }
}
