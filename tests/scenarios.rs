//! The FAQ scenario suite: every scenario passes, every outcome is an insta
//! snapshot (a policy edit that moves a decision shows as a snapshot diff),
//! every rule id of docs/rules.md is named by a scenario, and the suite covers
//! every policy and every action.

use std::path::PathBuf;

use teamgate::scenario::{coverage::Coverage, report, run_paths};
use teamgate::Bundle;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run() -> (teamgate::Snapshot, Vec<teamgate::scenario::FileReport>) {
    let snap = Bundle::new(root()).load().expect("shipped bundle loads");
    let reports = run_paths(&[root().join("tests/scenarios")], &snap);
    (snap, reports)
}

#[test]
fn every_scenario_passes() {
    let (snap, reports) = run();
    let (passed, failed) = report::counts(&reports);
    assert!(passed >= 80, "{passed} scenarios");
    assert_eq!(failed, 0, "\n{}", report::text(&reports, &snap));
}

#[test]
fn every_scenario_outcome_is_snapshotted() {
    let (_, reports) = run();
    for f in &reports {
        assert!(f.error.is_none(), "{:?}", f.error);
        let stem = PathBuf::from(&f.path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for s in &f.scenarios {
            let slug: String = s
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let outcome: Vec<_> = s
                .outcomes
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "request": o.request,
                        "decision": o.decision.verdict(),
                        "reasons": o.decision.reasons(),
                        "errors": o.decision.errors(),
                    })
                })
                .collect();
            insta::with_settings!({ snapshot_path => "snapshots/scenarios", prepend_module_to_snapshot => false, description => format!("{} / {} [{}]", f.path.rsplit("tests/").next().unwrap_or(&f.path), s.name, s.rules.join(", ")), omit_expression => true }, {
                insta::assert_yaml_snapshot!(format!("{stem}__{slug}"), outcome);
            });
        }
    }
}

/// Rule ids of docs/rules.md: bold `**ID**` at the start of a list item.
fn documented_rule_ids() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs/rules.md")).expect("docs/rules.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("- **"))
        .filter_map(|l| l.split("**").next())
        .filter(|id| {
            let letters = id.trim_end_matches(|c: char| c.is_ascii_digit());
            letters.len() < id.len() && letters.chars().all(|c| c.is_ascii_uppercase())
        })
        .map(str::to_string)
        .collect()
}

/// The items of the list under `heading` (a line ending with `:`) in the
/// "Interpretations" section of docs/rules.md.
fn documented_interpretations(heading: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs/rules.md")).expect("docs/rules.md");
    let section = text
        .split("## Interpretations")
        .nth(1)
        .expect("docs/rules.md has an Interpretations section");
    section
        .lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .take_while(|l| l.starts_with("- "))
        .map(|l| l.trim_start_matches("- ").replace('`', ""))
        .collect()
}

#[test]
fn interpretations_are_marked_and_listed() {
    let (snap, reports) = run();
    let mut marked: Vec<String> = Vec::new();
    for f in &reports {
        let file = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
        for s in &f.scenarios {
            if s.interpretation.is_some() {
                marked.push(format!("{file} / {}", s.name));
            }
        }
    }
    marked.sort();
    let mut listed = documented_interpretations("Scenarios:");
    listed.sort();
    assert!(marked.len() >= 5, "{marked:?}");
    assert_eq!(
        marked, listed,
        "scenarios marked `interpretation: true` vs docs/rules.md"
    );

    let mut policies: Vec<String> = snap
        .policies()
        .filter(|p| p.interpretation().is_some())
        .map(|p| p.id().to_string())
        .collect();
    policies.sort();
    let mut listed = documented_interpretations("Policies:");
    listed.sort();
    assert_eq!(
        policies, listed,
        "policies with @interpretation vs docs/rules.md"
    );
}

#[test]
fn every_policy_names_known_rules_or_says_why_not() {
    let ids = documented_rule_ids();
    let snap = Bundle::new(root()).load().expect("shipped bundle loads");
    for p in snap.policies() {
        assert!(
            !p.rules().is_empty() || p.interpretation().is_some(),
            "{} names no rule and has no @interpretation",
            p.id()
        );
        for r in p.rules() {
            assert!(ids.contains(r), "{} names unknown rule id {r}", p.id());
        }
    }
}

#[test]
fn every_rule_id_has_a_scenario() {
    let ids = documented_rule_ids();
    assert!(ids.len() >= 54, "docs/rules.md lists {} ids", ids.len());
    let (snap, reports) = run();
    let cov = Coverage::of(&reports, &snap);
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !cov.rules_named.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "rule ids without a scenario: {missing:?}"
    );
    let unknown: Vec<&String> = cov
        .rules_named
        .iter()
        .filter(|id| !ids.contains(id))
        .collect();
    assert!(
        unknown.is_empty(),
        "scenarios name ids docs/rules.md does not list: {unknown:?}"
    );
}

#[test]
fn rule_ids_match_the_shared_catalog() {
    // docs/rules.md is our wording; its ids must be exactly those of shared/rules.md.
    let shared = root().join("../shared/rules.md");
    let Ok(text) = std::fs::read_to_string(&shared) else {
        // The catalog lives beside the checkout; a copy without it checks docs only.
        return;
    };
    let mut theirs: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| {
            id.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && id.chars().any(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect();
    let mut ours = documented_rule_ids();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn every_policy_and_every_action_is_covered() {
    let (snap, reports) = run();
    let cov = Coverage::of(&reports, &snap);
    assert!(cov.complete(), "{}", cov.render(&snap));
}

#[test]
fn every_faq_question_of_the_seeds_has_a_scenario() {
    let (_, reports) = run();
    let asked: Vec<String> = reports
        .iter()
        .flat_map(|f| &f.scenarios)
        .filter_map(|s| s.faq.as_ref().map(|q| q.question.clone()))
        .collect();
    // The FAQ questions of the external-users article (000) and of the
    // permission-management article (001), as the articles ask them.
    for seed in ["000_ba542e3301db8e6b.txt", "001_146adb2994afaa5c.txt"] {
        let Ok(text) = std::fs::read_to_string(root().join("../shared/seeds").join(seed)) else {
            continue;
        };
        let faq = text
            .split("Frequently asked questions")
            .nth(1)
            .unwrap_or("");
        for q in faq
            .lines()
            .map(str::trim)
            .filter(|l| l.ends_with('?') && !l.starts_with("Did this"))
        {
            let q = q.replace(['“', '”'], "\"");
            assert!(
                asked.iter().any(|a| a == &q),
                "{seed}: no scenario for the FAQ question {q:?}"
            );
        }
    }
    for q in [
        "Why can't I change some roles (Guest & Admin)?",
        "I only want to give permissions to specific projects. How can I set this up?",
    ] {
        assert!(asked.iter().any(|a| a == q), "no scenario for {q:?}");
    }
}
