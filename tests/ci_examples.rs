//! The CI kit: the workflow examples and the pre-commit hooks parse as YAML,
//! and every teamgate command line they run is one teamgate accepts.

mod util;

use serde_yaml::Value;
use util::run;

fn yaml(rel: &str) -> (String, Value) {
    let text = std::fs::read_to_string(util::repo().join(rel)).expect("example");
    let v: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (text, v)
}

/// Every `teamgate ...` command line in `text`, up to a shell operator.
fn teamgate_commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(i) = rest.find("teamgate ") {
            let before = &rest[..i];
            rest = &rest[i + "teamgate ".len()..];
            // `cargo install ... teamgate`, the hooks' names, URLs.
            if before.ends_with('/')
                || before.ends_with("--git ")
                || before.trim_end().ends_with("teamgate")
            {
                continue;
            }
            let cmd: Vec<String> = rest
                .split(['|', ';', '>', '&'])
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(|w| w.trim_matches('"').to_string())
                .collect();
            if cmd
                .first()
                .is_some_and(|c| c.chars().all(|ch| ch.is_ascii_lowercase()))
            {
                out.push(cmd);
            }
        }
    }
    out
}

#[test]
fn workflow_examples_parse_and_use_real_commands() {
    let (gh_text, gh) = yaml("examples/ci/github-actions.yml");
    assert!(gh["jobs"]["policies"]["steps"]
        .as_sequence()
        .is_some_and(|s| s.len() > 5));
    let (gl_text, gl) = yaml("examples/ci/gitlab-ci.yml");
    assert!(gl["teamgate"]["script"]
        .as_sequence()
        .is_some_and(|s| s.len() > 3));
    let mut checked = 0;
    for text in [&gh_text, &gl_text] {
        for cmd in teamgate_commands(text) {
            // The command and its flags exist: `--help` with the same words
            // up to the first value-bearing flag accepts them.
            let sub = cmd[0].clone();
            let (code, out, err) = run(&[&sub, "--help"]);
            assert_eq!(code, 0, "teamgate {sub}: {err}");
            for flag in cmd.iter().filter(|w| w.starts_with("--")) {
                assert!(out.contains(flag.as_str()), "teamgate {sub} has no {flag}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked} commands checked");
    for needle in [
        "diff --git",
        "--format md",
        "--format junit",
        "code\" = 3",
        "code\" = 1",
    ] {
        assert!(
            gl_text.contains(needle) || gh_text.contains(needle),
            "{needle}"
        );
    }
}

#[test]
fn pre_commit_hooks_parse() {
    let (_, hooks) = yaml(".pre-commit-hooks.yaml");
    let ids: Vec<&str> = hooks
        .as_sequence()
        .expect("a list of hooks")
        .iter()
        .filter_map(|h| h["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["teamgate-validate", "teamgate-test", "teamgate-prove"]
    );
    for h in hooks.as_sequence().unwrap() {
        let entry = h["entry"].as_str().expect("entry");
        let sub = entry.split_whitespace().nth(1).expect("a subcommand");
        assert_eq!(run(&[sub, "--help"]).0, 0, "{entry}");
    }
}
