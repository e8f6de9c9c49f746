//! Running scenario files against a snapshot.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cedar_tests;
use super::model::{Base, EntityChanges, RequestSpec, Scenario, ScenarioFile};
use super::outcome::{FileReport, RequestOutcome, ScenarioReport};
use crate::{parse_uid, Decision, Field, Overlay, Problem, Query, Snapshot};

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
pub fn run_paths(paths: &[PathBuf], snap: &Snapshot) -> Vec<FileReport> {
    let runner = Runner { snap };
    discover(paths)
        .into_iter()
        .map(|found| match found {
            Err(p) => {
                let file = PathBuf::from(p.file().unwrap_or_default());
                FileReport::failed_to_load(&file, p)
            }
            Ok(path) => runner.run_file(&path),
        })
        .collect()
}

/// Runs one scenario file's text (YAML, or Cedar run-tests JSON when
/// `path` ends in `.json`) as if it were read from `path`.
pub fn run_text(path: &Path, text: &str, snap: &Snapshot) -> FileReport {
    Runner { snap }.run_text(path, text)
}

struct Runner<'a> {
    snap: &'a Snapshot,
}

impl Runner<'_> {
    fn run_file(&self, path: &Path) -> FileReport {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                return FileReport::failed_to_load(
                    path,
                    Problem::in_file(path, format!("cannot read: {e}")),
                )
            }
        };
        self.run_text(path, &text)
    }

    fn run_text(&self, path: &Path, text: &str) -> FileReport {
        let text = text.to_string();
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

    fn run_scenario(&self, path: &Path, text: &str, s: &Scenario) -> ScenarioReport {
        let mut report = ScenarioReport {
            name: s.name.clone(),
            rules: s.rules.clone(),
            faq: s.faq.clone(),
            interpretation: s.because.clone().filter(|_| s.interpretation),
            outcomes: Vec::new(),
            error: None,
        };
        let fail = |msg: String, line: Option<usize>| {
            Problem::in_file(path, format!("scenario {:?}: {msg}", s.name)).with_line(line)
        };
        let overlay = if s.entities == EntityChanges::default() {
            None
        } else {
            match overlay(&s.entities, self.snap) {
                Ok(o) => Some(o),
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
            match self.query(r, overlay.as_ref()) {
                Ok(q) => queries.push((q, line)),
                Err(msg) => {
                    report.error = Some(fail(format!("request {}: {msg}", i + 1), line));
                    return report;
                }
            }
        }
        for ((q, line), spec) in queries.into_iter().zip(&s.requests) {
            let decision = self.snap.decide(&q, overlay.as_ref());
            report.outcomes.push(check(spec, &q, decision, line));
        }
        report
    }

    fn query(&self, r: &RequestSpec, overlay: Option<&Overlay>) -> Result<Query, String> {
        let q = Query::parse(&r.principal, &r.action, &r.resource)
            .map_err(|e| e.to_string())?
            .with_context(r.context.clone());
        // A request about something that does not exist is a mistake in the
        // file, unless it expects the errors such a request gives.
        if r.errors.unwrap_or(0) == 0 {
            if !self.snap.actions().contains(&q.action()) {
                return Err(format!("unknown action {}", q.action()));
            }
            for (what, uid) in [("principal", q.principal()), ("resource", q.resource())] {
                if !self.snap.contains(uid, overlay) {
                    return Err(format!(
                        "unknown {what} {uid}: not in this scenario's entities"
                    ));
                }
            }
        }
        Ok(q)
    }
}

/// The scenario's `entities:` as an overlay over the snapshot (or instead of it).
fn overlay(changes: &EntityChanges, snap: &Snapshot) -> Result<Overlay, String> {
    let mut b = match changes.base {
        Base::Demo => Overlay::over_stored("scenario entities"),
        Base::None => Overlay::instead_of_stored("scenario entities"),
    };
    let uid = |s: &str| parse_uid(Field::Resource, s).map_err(|e| format!("{s:?}: {e}"));
    for r in &changes.remove {
        b = b.remove(uid(r)?);
    }
    b = b.upsert(changes.upsert.clone());
    for (u, attrs) in &changes.set {
        b = b.set_attrs(uid(u)?, attrs.clone());
    }
    b.build(snap).map_err(|e| {
        let msgs: Vec<String> = e
            .problems()
            .iter()
            .map(|p| match p.json_path() {
                Some(j) => format!("{j}: {}", p.message()),
                None => p.message().to_string(),
            })
            .collect();
        format!("its entities are invalid: {}", msgs.join("; "))
    })
}

fn check(spec: &RequestSpec, q: &Query, decision: Decision, line: Option<usize>) -> RequestOutcome {
    let mut failures = Vec::new();
    let expected = crate::Verdict::from(spec.expect);
    if decision.verdict() != expected {
        failures.push(format!("expected {expected}, got {}", decision.verdict()));
    }
    if let Some(want) = &spec.reasons {
        let mut want = want.clone();
        want.sort();
        if want != decision.reasons() {
            failures.push(format!(
                "expected determining policies {want:?}, got {:?}",
                decision.reasons()
            ));
        }
    }
    if let Some(n) = spec.errors {
        if n != decision.errors().len() {
            failures.push(format!(
                "expected {n} errors, got {}",
                decision.errors().len()
            ));
        }
    }
    let ctx = match q.context() {
        Value::Null => String::new(),
        Value::Object(m) if m.is_empty() => String::new(),
        c => format!(" {c}"),
    };
    RequestOutcome {
        request: format!("{q}{ctx}"),
        line,
        action: q.action_name().to_string(),
        expected: spec.expect,
        decision,
        failures,
    }
}
