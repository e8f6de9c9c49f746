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
use crate::{Decision, Overlay, Problem, Query, Snapshot, Strategy, Verdict};

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
        interpretation: None,
        outcomes: Vec::new(),
        error: None,
    };
    match decide_case(dir, &case, snap) {
        Ok((query, decision)) => {
            let failures = compare(&case, &decision);
            report.outcomes.push(RequestOutcome {
                request: query.to_string(),
                line: None,
                action: query.action_name().to_string(),
                expected: case.decision,
                decision,
                failures,
            });
        }
        Err(m) => report.error = Some(Problem::in_file(path, format!("$[{i}] ({name}): {m}"))),
    }
    report
}

/// The case's entities (inline, or a file beside the test file) as entity JSON.
fn entities_of(dir: &Path, case: &TestCase) -> Result<Vec<Value>, String> {
    let json = match &case.entities {
        Value::String(f) => {
            let text = std::fs::read_to_string(dir.join(f))
                .map_err(|e| format!("entities file {f}: {e}"))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("entities file {f}: invalid JSON: {e}"))?
        }
        v => v.clone(),
    };
    match json {
        Value::Array(items) => Ok(items),
        _ => Err("entities: must be an array of entity JSON, or a file name".into()),
    }
}

/// Cedar's own decision on the case, against its entities only.
fn decide_case(dir: &Path, case: &TestCase, snap: &Snapshot) -> Result<(Query, Decision), String> {
    let overlay = Overlay::instead_of_stored("entities")
        .upsert(entities_of(dir, case)?)
        .build(snap)
        .map_err(|e| {
            let msgs: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
            format!("entities: {}", msgs.join("; "))
        })?;
    let query = Query::parse(
        &case.request.principal,
        &case.request.action,
        &case.request.resource,
    )
    .map_err(|e| format!("request: {e}"))?
    .with_context(case.request.context.clone());
    let response = snap
        .evaluate(&query, Some(&overlay), Strategy::Sliced)
        .map_err(|e| format!("request: {e}"))?;
    Ok((query, Engine::as_cedar(&response)))
}

/// What differs from the case's expectation.
fn compare(case: &TestCase, decision: &Decision) -> Vec<String> {
    let mut failures = Vec::new();
    let expected = Verdict::from(case.decision);
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
    failures
}
