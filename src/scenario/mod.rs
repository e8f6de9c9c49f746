//! Scenario files: the regression tests a reviewer reads.
//!
//! A scenario file is YAML (one topic per file): scenarios, each with the rule
//! ids it covers, the FAQ question and answer it checks, changes to the demo
//! workspace, and requests with the expected decision. Cedar's own
//! `cedar run-tests` JSON files run too ([`cedar_tests`]).

pub mod cedar_tests;
pub mod coverage;
pub mod model;
pub mod outcome;
pub mod report;
pub mod run;

pub use model::{Expect, RequestSpec, Scenario, ScenarioFile};
pub use outcome::{FileReport, RequestOutcome, ScenarioReport};
pub use run::{discover, run_paths, run_text};
