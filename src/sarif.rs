//! SARIF 2.1.0, the format code-scanning tools read: findings with their
//! rule, level, message and location, for `teamgate validate --format sarif`
//! and `teamgate test --format sarif`.

use serde_json::{json, Value};

use crate::error::Problem;

/// The schema a SARIF document names.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Rule id: a rule of the pack (`CX4`), or teamgate's own (`schema`,
    /// `references-resolve`, `scenario`, ...).
    pub rule: String,
    /// `error`, `warning` or `note`.
    pub level: &'static str,
    /// What is wrong.
    pub message: String,
    /// File, relative to the bundle or the working directory.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
}

impl Finding {
    /// A finding of a load problem (its rule read from the message, see
    /// [`crate::domain::integrity::rule_of`]).
    pub fn of_problem(p: &Problem, level: &'static str) -> Finding {
        let rule = crate::domain::integrity::rule_of(p.message());
        Finding {
            rule: if rule == "integrity" && p.json_path().is_none() {
                "load".to_string()
            } else {
                rule.to_string()
            },
            level,
            message: match p.json_path() {
                Some(j) => format!("{} (at {j})", p.message()),
                None => p.message().to_string(),
            },
            file: p.file().map(str::to_string),
            line: p.line(),
            column: p.column(),
        }
    }
}

/// A SARIF log with one run of teamgate and these findings.
pub fn document(findings: &[Finding]) -> Value {
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": rules.binary_search(&f.rule.as_str()).unwrap_or(0),
                "level": f.level,
                "message": {"text": f.message},
            });
            if let Some(file) = &f.file {
                let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": file}}});
                if let Some(line) = f.line.filter(|l| *l > 0) {
                    let mut region = json!({"startLine": line});
                    if let Some(c) = f.column.filter(|c| *c > 0) {
                        region["startColumn"] = json!(c);
                    }
                    location["physicalLocation"]["region"] = region;
                }
                result["locations"] = json!([location]);
            }
            result
        })
        .collect();
    let rules: Vec<Value> = rules
        .iter()
        .map(|r| json!({"id": r, "shortDescription": {"text": describe(r)}}))
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "teamgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/teamgate/teamgate",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn describe(rule: &str) -> String {
    match rule {
        "load" => "The bundle does not load".into(),
        "schema" => "Entity data matches the schema".into(),
        "references-resolve" => "Every entity reference names an entity".into(),
        "tags-agree-with-memberOf" => "Project tags and users' memberOf agree".into(),
        "one-person-per-address" => "An e-mail address names one person".into(),
        "unique-uid" => "An entity is defined once".into(),
        "scenario" => "A scenario's expected decision".into(),
        r => format!("Rule {r} of the policy pack"),
    }
}
