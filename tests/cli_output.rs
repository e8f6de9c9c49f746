//! What a user sees in the terminal, as snapshots: `validate` (good and
//! broken bundles, text and JSON), `authorize --format json` and text,
//! `test` on the shipped suite and on a failing file. A change of wording,
//! location or snippet shows up as a snapshot diff in review.
//!
//! Version hashes change with every edit of the pack, so they are redacted.

mod util;
use std::process::Command;

use util::{output, ScratchBundle};

/// Runs teamgate in `dir` (so paths print relative to it); returns
/// "exit N", stdout and stderr as one text.
fn session(dir: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teamgate"));
    cmd.current_dir(dir)
        .env_remove("TEAMGATE_BUNDLE")
        .args(args);
    let (code, out, err) = output(cmd.output().expect("run teamgate"));
    format!(
        "$ teamgate {}\nexit {code}\n--- stdout\n{out}--- stderr\n{err}",
        args.join(" ")
    )
}

fn check(name: &str, text: String) {
    insta::with_settings!({filters => vec![(r"\b[0-9a-f]{16}\b", "[version]")]}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn validate_a_good_bundle() {
    check("validate_ok", session(&util::repo(), &["validate"]));
}

#[test]
fn validate_a_syntax_error_and_a_bad_entity() {
    let b = ScratchBundle::new();
    b.edit("policies/rules/creator.cedar", "when {", "whn {");
    check(
        "validate_syntax_error",
        session(b.path(), &["validate", "--bundle", "."]),
    );
    let b = ScratchBundle::new();
    b.edit(
        "fixtures/entities.json",
        "\"type\": \"Role\",\n     \"id\": \"user\"",
        "\"type\": \"Role\",\n     \"id\": \"superuser\"",
    );
    check(
        "validate_bad_entity",
        session(b.path(), &["validate", "--bundle", "."]),
    );
    check(
        "validate_bad_entity_json",
        session(b.path(), &["validate", "--bundle", ".", "--format", "json"]),
    );
}

#[test]
fn validate_a_policy_that_does_not_type_check() {
    let b = ScratchBundle::new();
    b.edit(
        "policies/rules/creator.cedar",
        "when {",
        "when { principal.nonsense ==",
    );
    check(
        "validate_type_error",
        session(b.path(), &["validate", "--bundle", "."]),
    );
}

#[test]
fn authorize_as_json_and_text() {
    let repo = util::repo();
    let ask = |p: &str, a: &str, r: &str, format: &str| {
        session(
            &repo,
            &[
                "authorize",
                "--principal",
                p,
                "--action",
                a,
                "--resource",
                r,
                "--format",
                format,
            ],
        )
    };
    let mut all = String::new();
    for format in ["json", "text"] {
        all.push_str(&ask(
            r#"User::"bob""#,
            "viewProject",
            r#"Project::"website""#,
            format,
        ));
        all.push_str(&ask(
            r#"User::"erin""#,
            "editProjectDetails",
            r#"Project::"website""#,
            format,
        ));
        all.push_str(&ask(
            r#"User::"mallory""#,
            "viewProject",
            r#"Project::"website""#,
            format,
        ));
    }
    all.push_str(&ask("erin", "viewProject", r#"Project::"website""#, "json"));
    check("authorize", all);
}

#[test]
fn authorize_with_request_entities_that_break_the_rules() {
    // The problem names the file's own list ($[0]), not its place among the
    // stored entities the file is merged over.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("roleless-bob.json");
    std::fs::write(
        &file,
        r#"[{"uid": {"type": "User", "id": "bob"}, "attrs": {}, "parents": []}]"#,
    )
    .expect("write");
    let text = session(
        &util::repo(),
        &[
            "authorize",
            "--principal",
            r#"User::"bob""#,
            "--action",
            "viewProject",
            "--resource",
            r#"Project::"website""#,
            "--entities",
            file.to_str().expect("utf-8 path"),
        ],
    )
    .replace(&dir.path().display().to_string(), "[tmp]");
    check("authorize_bad_request_entities", text);
}

#[test]
fn test_on_the_shipped_suite() {
    check(
        "test_shipped_suite",
        session(&util::repo(), &["test", "tests/scenarios"]),
    );
}

#[test]
fn test_a_failing_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wrong.yaml");
    std::fs::write(
        &file,
        "topic: A scenario that expects the wrong thing\nscenarios:\n  - name: erin edits details\n    rules: [CX4]\n    requests:\n      - {principal: 'User::\"erin\"', action: editProjectDetails, resource: 'Project::\"website\"', expect: allow}\n",
    )
    .expect("write scenario");
    let text = session(&util::repo(), &["test", file.to_str().expect("utf-8 path")])
        .replace(&dir.path().display().to_string(), "[tmp]");
    check("test_failing_scenario", text);
}

#[test]
fn output_piped_into_a_reader_that_stops_ends_quietly() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_teamgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["matrix", "--format", "csv"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    // The reader is gone (stdout dropped): no panic, no backtrace.
    let out = child.wait_with_output().expect("exits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn no_progress_bar_when_output_is_piped() {
    for args in [
        &["matrix", "--format", "csv"][..],
        &["diff", ".", "."][..],
        &["matrix", "--format", "csv", "--quiet"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_teamgate"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("deciding") && !err.contains('\r'),
            "{args:?}: {err}"
        );
    }
}
