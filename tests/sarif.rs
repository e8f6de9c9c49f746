//! SARIF output of `validate` and `test`, checked against the SARIF 2.1.0
//! JSON schema (vendored from the OASIS specification, via the serde-sarif
//! crate; one change: the pattern of `run.language`,
//! `^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`, has an unbalanced bracket no
//! regex engine but ECMAScript's accepts, and is written as the intended
//! `^[a-zA-Z]{2}(-[a-zA-Z]{2})?$`).

mod util;

use serde_json::Value;
use util::{run, ScratchBundle};

fn sarif_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(util::repo().join("tests/sarif-schema-2.1.0.json"))
        .expect("vendored schema");
    let schema: Value = serde_json::from_str(&text).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON schema")
}

fn assert_sarif(out: &str) -> Value {
    let doc: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let validator = sarif_schema();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "not SARIF 2.1.0: {errors:?}\n{out}");
    doc
}

#[test]
fn validate_reports_each_problem_with_file_line_column_and_rule() {
    let b = ScratchBundle::new();
    b.edit("policies/rules/admin-only.cedar", "forbid", "forbidd");
    b.edit(
        "fixtures/entities.json",
        "\"id\": \"guest\"\n    }",
        "\"id\": \"nobody\"\n    }",
    );
    let (code, out, _) = run(&["validate", "--bundle", &b.arg(), "--format", "sarif"]);
    assert_eq!(code, 1);
    let doc = assert_sarif(&out);
    let results = doc["runs"][0]["results"].as_array().expect("results");
    let policy = results
        .iter()
        .find(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                == "policies/rules/admin-only.cedar"
        })
        .unwrap_or_else(|| panic!("{out}"));
    let region = &policy["locations"][0]["physicalLocation"]["region"];
    assert!(
        region["startLine"].as_u64().is_some_and(|l| l > 1),
        "{policy}"
    );
    assert!(region["startColumn"].as_u64().is_some(), "{policy}");
    assert_eq!(policy["level"], "error");
    // The shipped bundle is clean: a valid, empty log.
    let (code, out, _) = run(&["validate", "--format", "sarif"]);
    assert_eq!(code, 0);
    assert_sarif(&out);
}

#[test]
fn test_reports_failing_scenarios_under_their_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.yaml");
    std::fs::write(
        &file,
        "topic: a wrong expectation\nscenarios:\n- name: erin edits the website\n  rules: [CX4]\n  requests:\n  - principal: User::\"erin\"\n    action: editProjectDetails\n    resource: Project::\"website\"\n    expect: allow\n",
    )
    .unwrap();
    let (code, out, _) = run(&["test", &file.display().to_string(), "--format", "sarif"]);
    assert_eq!(code, 1);
    let doc = assert_sarif(&out);
    let r = &doc["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "CX4", "{out}");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"], 6,
        "{out}"
    );
    // The shipped scenarios all pass: no result.
    let (code, out, _) = run(&["test", "--format", "sarif"]);
    assert_eq!(code, 0, "{out}");
    let doc = assert_sarif(&out);
    assert_eq!(doc["runs"][0]["results"].as_array().map(Vec::len), Some(0));
}
