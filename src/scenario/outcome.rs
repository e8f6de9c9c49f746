//! What running scenarios found: per request, per scenario, per file.

use std::path::Path;

use serde::Serialize;

use super::model::{Expect, Faq};
use crate::{Decision, Problem};

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
    /// Why its expectations go beyond the rule text, for an interpretation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpretation: Option<String>,
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
    pub(crate) fn failed_to_load(path: &Path, error: Problem) -> Self {
        FileReport {
            path: path.display().to_string(),
            topic: String::new(),
            scenarios: Vec::new(),
            error: Some(error),
        }
    }
}
