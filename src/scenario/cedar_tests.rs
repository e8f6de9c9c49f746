//! Cedar's own test format (`cedar run-tests`): a JSON array of
//! `{name?, request: {principal, action, resource, context}, entities,
//! decision, reason, num_errors}`, where `entities` is an array of entity
//! JSON or the path of a file relative to the test file.
//!
//! These run exactly as `cedar run-tests` runs them: Cedar's decision,
//! without teamgate's fail-closed override, so existing files pass unchanged.

use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Decision as CedarDecision, Entities, EntityUid};
use serde::Deserialize;
use serde_json::Value;

use super::model::{Expect, Faq};
use super::run::{FileReport, RequestOutcome, ScenarioReport};
use crate::{Decision, Problem, Query, Snapshot, Strategy};

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
            let offset = crate::problem::offset_of(text, inner.line(), inner.column());
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
    let entities = match Entities::from_json_value(entities_json, Some(&snap.pack.schema)) {
        Ok(e) => e,
        Err(e) => {
            report.error = fail(format!("entities: {}", crate::bundle::error_chain(&e)));
            return report;
        }
    };
    let uid = |s: &str| EntityUid::from_str(s).map_err(|e| format!("{s:?}: {e}"));
    let query = match (
        uid(&case.request.principal),
        uid(&case.request.action),
        uid(&case.request.resource),
    ) {
        (Ok(p), Ok(a), Ok(r)) => Query {
            principal: p,
            action: a,
            resource: r,
            context: case.request.context.clone(),
        },
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            report.error = fail(format!("request: {e}"));
            return report;
        }
    };
    let decision = match snap
        .pack
        .engine
        .evaluate(&query, &entities, Strategy::Sliced)
    {
        Ok(resp) => {
            let mut reasons: Vec<String> =
                resp.diagnostics().reason().map(|p| p.to_string()).collect();
            reasons.sort();
            Decision {
                allowed: resp.decision() == CedarDecision::Allow,
                reasons,
                errors: resp.diagnostics().errors().map(|e| e.to_string()).collect(),
            }
        }
        Err(e) => {
            report.error = fail(format!("request: {e}"));
            return report;
        }
    };
    let mut failures = Vec::new();
    if decision.allowed != (case.decision == Expect::Allow) {
        failures
            .push(format!("expected {:?}, got {}", case.decision, decision.word()).to_lowercase());
    }
    let mut want = case.reason.clone();
    want.sort();
    if want != decision.reasons {
        failures.push(format!(
            "expected reason {want:?}, got {:?}",
            decision.reasons
        ));
    }
    if case.num_errors != decision.errors.len() {
        failures.push(format!(
            "expected {} errors, got {}",
            case.num_errors,
            decision.errors.len()
        ));
    }
    report.outcomes.push(RequestOutcome {
        request: format!(
            "{} {} {}",
            query.principal,
            query.action.id().unescaped(),
            query.resource
        ),
        line: None,
        action: query.action.id().unescaped().to_string(),
        expected: case.decision,
        decision,
        failures,
    });
    report
}
