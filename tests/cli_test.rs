//! `teamgate test` as CI and reviewers run it.

mod util;
use util::{run, ScratchBundle};

fn remove_policy(b: &ScratchBundle, file: &str, id: &str) {
    let text = b.read(file);
    let start = text
        .find(&format!("@id(\"{id}\")"))
        .expect("policy present");
    let end = text[start..]
        .find(";\n")
        .map(|i| start + i + 2)
        .expect("policy end");
    b.write(file, &format!("{}{}", &text[..start], &text[end..]));
}

#[test]
fn shipped_suite_passes_with_full_coverage() {
    let (code, out, err) = run(&["test", "--coverage"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.ends_with("passed, 0 failed"), "{last}");
    assert!(
        out.contains("tests/scenarios/cedar-run-tests.json"),
        "Cedar's format runs too: {out}"
    );
    let shipped = teamgate::Bundle::new(util::repo()).load().expect("shipped");
    let (p, a) = (shipped.policy_count(), shipped.actions().len());
    assert!(
        err.contains(&format!(
            "coverage: {p} of {p} policies determined a decision; {a} of {a} actions exercised"
        )),
        "{err}"
    );
}

#[test]
fn removing_the_external_restriction_fails_and_points_at_the_cause() {
    let b = ScratchBundle::new();
    remove_policy(
        &b,
        "policies/licenses/external.cedar",
        "external.never-edit-project-details",
    );
    let (code, out, _) = run(&["test", "--bundle", &b.arg()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAIL  the external project role decides, never editing project details [CX4, P2, PR2]"
        ),
        "{out}"
    );
    assert!(out.contains("User::\"erin\" editProjectDetails Project::\"website\" (tests/scenarios/external-users.yaml:"), "{out}");
    assert!(out.contains("expected deny, got allow"), "{out}");
    assert!(
        out.contains(
            "determined by project-role.manager  permit policies/project-roles/manager.cedar:5"
        ),
        "{out}"
    );
    assert!(!out.ends_with(" 0 failed\n"), "{out}");
}

#[test]
fn junit_report_lists_failures_for_ci() {
    let b = ScratchBundle::new();
    remove_policy(
        &b,
        "policies/rules/private-tasks.cedar",
        "private-task.owner-only",
    );
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("report.xml");
    let (code, out, _) = run(&[
        "test",
        "--bundle",
        &b.arg(),
        "--format",
        "junit",
        "--output",
        &xml.display().to_string(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL"), "the text summary still prints: {out}");
    let report = std::fs::read_to_string(&xml).unwrap();
    assert!(
        report.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"teamgate\""
        ),
        "{report}"
    );
    assert!(report.contains("<testcase classname=\"tests/scenarios/project-roles.yaml\" name=\"private tasks are for their owner only\">"), "{report}");
    assert!(
        report.contains("<failure message=\"expected deny, got allow\">"),
        "{report}"
    );
    let failures: usize = report
        .split("failures=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(failures >= 3, "{failures}");
}

#[test]
fn a_scenario_file_with_an_unknown_key_fails_the_run_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, "topic: t\nscenarios:\n  - name: a\n    requests:\n      - principal: 'User::\"bob\"'\n        action: viewProject\n        resource: 'Project::\"website\"'\n        expekt: allow\n").unwrap();
    let (code, out, _) = run(&["test", &f.display().to_string()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("bad.yaml:8:9: scenarios[0].requests[0]: unknown field `expekt`"),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn a_request_naming_an_unknown_entity_or_action_is_an_error_not_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(
        &f,
        "topic: t\nscenarios:\n  - name: typo\n    requests:\n      - {principal: 'User::\"bob\"', action: viewProject, resource: 'Project::\"website\"', expect: allow}\n      - {principal: 'User::\"bbo\"', action: viewProject, resource: 'Project::\"website\"', expect: deny}\n  - name: action typo\n    requests:\n      - {principal: 'User::\"bob\"', action: veiwProject, resource: 'Project::\"website\"', expect: deny}\n",
    )
    .unwrap();
    let (code, out, _) = run(&["test", &f.display().to_string()]);
    assert_eq!(code, 1);
    assert!(
        out.contains(":6: scenario \"typo\": request 2: unknown principal User::\"bbo\""),
        "{out}"
    );
    assert!(
        out.contains(
            ":9: scenario \"action typo\": request 1: unknown action Action::\"veiwProject\""
        ),
        "{out}"
    );
    assert!(out.contains("0 passed, 2 failed"), "{out}");
}

#[test]
fn wrong_type_in_a_scenario_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(
        &f,
        "topic: t\nscenarios:\n  - name: a\n    rules: CX1\n    requests: []\n",
    )
    .unwrap();
    let (code, out, _) = run(&["test", &f.display().to_string()]);
    assert_eq!(code, 1);
    assert!(out.contains("bad.yaml:4:12: scenarios[0].rules"), "{out}");
}

#[test]
fn cedar_run_tests_files_report_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("cedar.json");
    let entities = util::repo().join("fixtures/entities.json");
    std::fs::write(
        &f,
        serde_json::to_string(&serde_json::json!([{
            "name": "wrong on purpose",
            "request": {"principal": "User::\"erin\"", "action": "Action::\"viewProject\"", "resource": "Project::\"website\"", "context": {}},
            "entities": entities.display().to_string(),
            "decision": "deny", "reason": [], "num_errors": 0
        }]))
        .unwrap(),
    )
    .unwrap();
    let (code, out, _) = run(&["test", &f.display().to_string()]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL  wrong on purpose"), "{out}");
    assert!(out.contains("expected deny, got allow"), "{out}");
}

#[test]
fn json_report_has_every_outcome() {
    let (code, out, _) = run(&[
        "test",
        "tests/scenarios/precedence.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["failed"], 0);
    let first = &v["files"][0]["scenarios"][0];
    assert_eq!(first["rules"], serde_json::json!(["P1", "PR7"]));
    assert_eq!(
        first["outcomes"][0]["decision"]["reasons"],
        serde_json::json!(["private-task.owner-only"])
    );
}
