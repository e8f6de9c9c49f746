//! Cedar's own test format (`cedar run-tests`): a JSON array of
//! `{name?, request: {principal, action, resource, context}, entities,
//! decision, reason, num_errors}`, where `entities` is an array of entity
//! JSON or the path of a file relative to the test file.
//!
//! These run exactly as `cedar run-tests` runs them: Cedar's decision,
//! without teamgate's fail-closed override, so existing files pass unchanged.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::model::{Expect, Faq};
use super::outcome::{FileReport, RequestOutcome, ScenarioReport};
use crate::engine::Engine;
use crate::{Overlay, Problem, Query, Snapshot, Strategy, Verdict};

#[derive(Debug, Deserialize)]
struct TestCase {
    #[serde(default)]
    name: Option<String>,
    request: RequestJson,
    entities: Value,
    decision: Expect,
    reason: Vec<String>,
    num_errors: usize,
}

#[derive(Debug, Deserialize)]
struct RequestJson {
    principal: String,
    action: String,
    resource: String,
    #[serde(default)]
    context: Value,
}

/// Runs one Cedar test file.
pub fn run_file(path: &Path, text: &str, snap: &Snapshot) -> FileReport {
    let parsed: Result<Vec<TestCase>, _> =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text));
    let cases = match parsed {
        Ok(c) => c,
        Err(e) => {
            let at = e.path().to_string();
            let inner = e.into_inner();
            let offset = crate::offset_of(text, inner.line(), inner.column());
            return FileReport {
                path: path.display().to_string(),
                topic: String::new(),
                scenarios: Vec::new(),
                error: Some(Problem::at_offset(
                    path,
                    text,
                    offset,
                    format!("{at}: {inner}"),
                )),
            };
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let scenarios = cases
        .into_iter()
        .enumerate()
        .map(|(i, case)| run_case(dir, path, i, case, snap))
        .collect();
    FileReport {
        path: path.display().to_string(),
        topic: "Cedar run-tests file".into(),
        scenarios,
        error: None,
    }
}

fn run_case(dir: &Path, path: &Path, i: usize, case: TestCase, snap: &Snapshot) -> ScenarioReport {
    let name = case
        .name
        .clone()
        .unwrap_or_else(|| format!("test {}", i + 1));
    let mut report = ScenarioReport {
        name: name.clone(),
        rules: Vec::new(),
        faq: None::<Faq>,
        outcomes: Vec::new(),
        error: None,
    };
    let fail = |m: String| Some(Problem::in_file(path, format!("$[{i}] ({name}): {m}")));
    let entities_json = match &case.entities {
        Value::String(f) => match std::fs::read_to_string(dir.join(f)) {
            Ok(t) => match serde_json::from_str(&t) {
                Ok(v) => v,
                Err(e) => {
                    report.error = fail(format!("entities file {f}: invalid JSON: {e}"));
                    return report;
                }
            },
            Err(e) => {
                report.error = fail(format!("entities file {f}: {e}"));
                return report;
            }
        },
        v => v.clone(),
    };
    let entities = match entities_json {
        Value::Array(items) => items,
        _ => {
            report.error = fail("entities: must be an array of entity JSON, or a file name".into());
            return report;
        }
    };
    let overlay = match Overlay::instead_of_stored("entities")
        .upsert(entities)
        .build(snap)
    {
        Ok(o) => o,
        Err(e) => {
            let msgs: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
            report.error = fail(format!("entities: {}", msgs.join("; ")));
            return report;
        }
    };
    let query = match Query::parse(
        &case.request.principal,
        &case.request.action,
        &case.request.resource,
    ) {
        Ok(q) => q.with_context(case.request.context.clone()),
        Err(e) => {
            report.error = fail(format!("request: {e}"));
            return report;
        }
    };
    let decision = match snap.evaluate(&query, Some(&overlay), Strategy::Sliced) {
        Ok(resp) => Engine::as_cedar(&resp),
        Err(e) => {
            report.error = fail(format!("request: {e}"));
            return report;
        }
    };
    let mut failures = Vec::new();
    let expected = match case.decision {
        Expect::Allow => Verdict::Allow,
        Expect::Deny => Verdict::Deny,
    };
    if decision.verdict() != expected {
        failures.push(format!("expected {expected}, got {}", decision.verdict()));
    }
    let mut want = case.reason.clone();
    want.sort();
    if want != decision.reasons() {
        failures.push(format!(
            "expected reason {want:?}, got {:?}",
            decision.reasons()
        ));
    }
    if case.num_errors != decision.errors().len() {
        failures.push(format!(
            "expected {} errors, got {}",
            case.num_errors,
            decision.errors().len()
        ));
    }
    report.outcomes.push(RequestOutcome {
        request: query.to_string(),
        line: None,
        action: query.action_name().to_string(),
        expected: case.decision,
        decision,
        failures,
    });
    report
}
