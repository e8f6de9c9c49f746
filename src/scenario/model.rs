//! The YAML format of scenario files, and reading them with errors that name
//! the file, line and key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Problem;

/// One file: a topic and its scenarios.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// What the file is about, e.g. "External users (awork Connect)".
    pub topic: String,
    /// Where the rules come from (an article, a FAQ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
}

/// One case: a situation and the decisions expected in it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique within the file.
    pub name: String,
    /// Rule ids of rules.md this scenario covers.
    #[serde(default)]
    pub rules: Vec<String>,
    /// The FAQ question and the answer it checks, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faq: Option<Faq>,
    /// True when the expected decisions go beyond what the named rules say
    /// (our reading of a vague or silent rule); `because` says why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interpretation: bool,
    /// One line: the reading, for an `interpretation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    /// Changes to the demo workspace for this scenario.
    #[serde(default)]
    pub entities: EntityChanges,
    /// The requests and what they must answer.
    pub requests: Vec<RequestSpec>,
}

/// A question of a help-center FAQ and its answer.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    /// The question as the article asks it.
    pub question: String,
    /// The answer, in words.
    pub answer: String,
}

/// Which entities a scenario runs against.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntityChanges {
    /// `demo` (the bundle's fixtures, default) or `none` (start empty).
    #[serde(default)]
    pub base: Base,
    /// Entities (Cedar entity JSON, written in YAML) added, or replacing the
    /// entity with the same uid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsert: Vec<Value>,
    /// Attribute changes: `'Workspace::"acme"': {guestSharing: false}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, serde_json::Map<String, Value>>,
    /// Entities removed, by uid: `'Task::"website-qa"'`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// The entities a scenario starts from.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    /// The bundle's fixtures.
    #[default]
    Demo,
    /// Nothing.
    None,
}

/// A request and its expected answer.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// E.g. `User::"erin"`.
    pub principal: String,
    /// `Action::"x"` or `x`.
    pub action: String,
    /// E.g. `Project::"website"`.
    pub resource: String,
    /// Context record (entity references as `{type: User, id: erin}`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub context: Value,
    /// `allow` or `deny`.
    pub expect: Expect,
    /// When given: exactly these determining policy ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    /// When given: exactly this many errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<usize>,
}

/// An expected decision.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

impl From<Expect> for crate::Verdict {
    fn from(e: Expect) -> Self {
        match e {
            Expect::Allow => crate::Verdict::Allow,
            Expect::Deny => crate::Verdict::Deny,
        }
    }
}

impl ScenarioFile {
    /// Parses YAML text; errors name `file`, line, column and the key path.
    pub fn parse(file: &Path, text: &str) -> Result<ScenarioFile, Problem> {
        let de = serde_yaml::Deserializer::from_str(text);
        let parsed: Result<ScenarioFile, _> = serde_path_to_error::deserialize(de);
        match parsed {
            Ok(f) => {
                let mut names = std::collections::HashSet::new();
                for s in &f.scenarios {
                    let at = || text.find(&format!("name: {}", s.name)).unwrap_or(0);
                    if !names.insert(s.name.as_str()) {
                        return Err(Problem::at_offset(
                            file,
                            text,
                            at(),
                            format!("duplicate scenario name {:?}", s.name),
                        ));
                    }
                    let reason = s.because.as_deref().map(str::trim).unwrap_or_default();
                    if s.interpretation == reason.is_empty() {
                        let what = if s.interpretation {
                            "is an interpretation: say why in one line under `because:`"
                        } else {
                            "has `because:` but is not marked `interpretation: true`"
                        };
                        return Err(Problem::at_offset(
                            file,
                            text,
                            at(),
                            format!("scenario {:?} {what}", s.name),
                        ));
                    }
                }
                Ok(f)
            }
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                // serde_yaml already names the path of the value it failed on.
                let detail = strip_location(&inner.to_string());
                let message = if detail.contains(": ") || path == "." {
                    detail
                } else {
                    format!("{path}: {detail}")
                };
                match inner.location() {
                    Some(loc) => Err(Problem::at_offset(file, text, loc.index(), message)),
                    None => Err(Problem::in_file(file, message)),
                }
            }
        }
    }

    /// 1-based line of request `r` of scenario `s` (best effort, for messages).
    pub fn request_line(text: &str, scenario: &str, r: usize) -> Option<usize> {
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.iter().position(|l| {
            let t = l.trim_start().trim_start_matches("- ").trim();
            t.strip_prefix("name:")
                .map(|v| v.trim().trim_matches(['"', '\'']))
                == Some(scenario)
        })?;
        lines
            .iter()
            .enumerate()
            .skip(start)
            .filter(|(_, l)| {
                l.trim_start()
                    .trim_start_matches("- ")
                    .trim_start_matches('{')
                    .trim_start()
                    .starts_with("principal:")
            })
            .nth(r)
            .map(|(i, _)| i + 1)
    }
}

fn strip_location(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}
