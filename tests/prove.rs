//! `teamgate prove` and `diff --prove` with the real cvc5 solver: every
//! shipped invariant proves on the shipped pack; a mutated pack is caught
//! with a counterexample that `explain --as-given` replays to the forbidden
//! decision; a refactor proves equivalent and a real change does not.
//!
//! Without cvc5 on PATH (or in $CVC5) these tests say so and pass, unless
//! TEAMGATE_REQUIRE_CVC5 is set, as `.ci/run` does: there they fail.

mod util;

use serde_json::Value;
use sha2::{Digest, Sha256};
use util::{output, repo, teamgate, ScratchBundle};

fn solver_present() -> bool {
    let found = teamgate::prove::solver::locate(None).is_ok();
    if !found {
        assert!(
            std::env::var_os("TEAMGATE_REQUIRE_CVC5").is_none(),
            "TEAMGATE_REQUIRE_CVC5 is set but cvc5 is not installed"
        );
        eprintln!("SKIPPED: cvc5 is not installed (apt-get install cvc5)");
    }
    found
}

fn invariants_file() -> String {
    repo().join("invariants.yaml").display().to_string()
}

/// Runs `prove --format json` on a bundle; returns the exit code and outcomes.
fn prove(bundle: &str, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let cex = tempfile::tempdir().expect("tempdir");
    let cex_dir = cex.keep().display().to_string();
    let inv = invariants_file();
    let mut args = vec![
        "prove",
        "--bundle",
        bundle,
        "--invariants",
        &inv,
        "--format",
        "json",
        "--counterexamples",
        &cex_dir,
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = output(teamgate().args(&args).output().expect("run"));
    let outcomes: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
    (code, outcomes, err)
}

const SHIPPED: &[&str] = &[
    "private-tasks-owner-only",
    "external-never-edits-project-details",
    "external-nothing-of-the-host-workspace",
    "collaborator-restrictions-beat-grants",
    "collaborator-completes-only-assigned-tasks",
    "guest-license-no-administration",
    "guest-license-no-members-channel",
    "client-no-site-administration",
    "project-roles-only-add",
    "system-roles-unchanged",
    "only-invited-guests-see-shared-projects",
    "display-workspace-fixed",
    "no-policy-errors",
];

#[test]
fn every_shipped_invariant_proves_on_the_shipped_pack() {
    if !solver_present() {
        return;
    }
    let (code, outcomes, err) = prove(&repo().display().to_string(), &[]);
    assert_eq!(code, 0, "{err}\n{outcomes:#?}");
    let ids: Vec<&str> = outcomes.iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(ids, SHIPPED);
    for o in &outcomes {
        assert_eq!(o["status"], "proved", "{o:#}");
        assert!(o["checks"].as_u64().unwrap_or(0) >= 1, "{o:#}");
    }
    // The rules the issue asks for are all protected.
    let rules: Vec<&str> = outcomes
        .iter()
        .flat_map(|o| o["rules"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    for r in ["CX4", "PR7", "P1", "P2", "PR3", "AW2", "GS3", "TC3", "P5"] {
        assert!(rules.contains(&r), "no invariant protects {r}");
    }
}

/// What replaying a counterexample must show.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The pack allows what the invariant says it never does.
    Allow,
    /// The pack denies what it should allow (or what the left side allows).
    Deny,
    /// This policy errors on it.
    Errors(&'static str),
    /// This policy is satisfied on it (determining or overridden).
    Satisfied(&'static str),
}

struct Mutation {
    invariant: &'static str,
    /// (file under policies/, from, to); an empty `from` appends `to`.
    edits: &'static [(&'static str, &'static str, &'static str)],
    expect: Expect,
}

const MUTATIONS: &[Mutation] = &[
    Mutation {
        invariant: "private-tasks-owner-only",
        edits: &[(
            "rules/private-tasks.cedar",
            "when { resource has owner && resource.owner != principal };",
            "when { resource has owner && resource.owner != principal && principal.license == \"guest\" };",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "external-never-edits-project-details",
        edits: &[(
            "licenses/external.cedar",
            "resource)\nwhen { !(resource in principal.workspace) };",
            "resource)\nwhen { !(resource in principal.workspace) && principal.license == \"guest\" };",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "external-nothing-of-the-host-workspace",
        edits: &[
            (
                "licenses/external.cedar",
                "when { resource != principal.workspace };",
                "when { resource != principal.workspace && principal.license == \"guest\" };",
            ),
            (
                "licenses/external.cedar",
                "    Action::\"viewTimeReports\"\n  ],\n  resource\n)\nwhen { !(resource in principal.workspace) };",
                "    Action::\"viewTimeReports\"\n  ],\n  resource\n)\nwhen { !(resource in principal.workspace) && principal.license == \"guest\" };",
            ),
        ],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "collaborator-restrictions-beat-grants",
        edits: &[(
            "licenses/collaborator.cedar",
            "    Action::\"editTask\",\n",
            "",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "collaborator-completes-only-assigned-tasks",
        edits: &[(
            "licenses/collaborator.cedar",
            "when { principal.license == \"collaborator\" && !resource.assignees.contains(principal) }\nunless",
            "when { principal.license == \"collaborator\" && !resource.assignees.contains(principal) && false }\nunless",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "guest-license-no-administration",
        edits: &[(
            "licenses/guest.cedar",
            "    Action::\"editUserTimes\"\n  ],\n  resource\n)\nwhen { principal.license == \"guest\" };",
            "    Action::\"editUserTimes\"\n  ],\n  resource\n)\nwhen { principal.license == \"guest\" && principal.role == Role::\"guest\" };",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "guest-license-no-members-channel",
        edits: &[(
            "licenses/guest.cedar",
            "when { resource.audience == \"members\" && principal.license == \"guest\" };",
            "when { resource.audience == \"members\" && principal.license == \"guest\" && principal.role == Role::\"guest\" };",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "client-no-site-administration",
        edits: &[(
            "licenses/client.cedar",
            "when { principal.license == \"client\" };",
            "when { principal.license == \"client\" && principal.role == Role::\"guest\" };",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "project-roles-only-add",
        edits: &[(
            "project-roles/viewer.cedar",
            "",
            "\n@id(\"project-role.viewer.no-delete\")\n@rules(\"PR2\")\nforbid (principal is User, action == Action::\"deleteProject\", resource is Project)\nwhen { resource.hasTag(principal.userId) && resource.getTag(principal.userId) == ProjectRole::\"viewer\" };\n",
        )],
        expect: Expect::Deny,
    },
    Mutation {
        invariant: "system-roles-unchanged",
        edits: &[(
            "roles/guest.cedar",
            "\"times\", \"calendar\"]",
            "\"times\", \"calendar\", \"settings\"]",
        )],
        expect: Expect::Satisfied("role.guest.menu"),
    },
    Mutation {
        invariant: "only-invited-guests-see-shared-projects",
        edits: &[(
            "rules/guest-sharing.cedar",
            "  resource.sharedWith.contains(principal) &&\n  resource.sharingEnabled &&",
            "  (resource.sharedWith.contains(principal) || resource.sharingEnabled) &&\n  resource.sharingEnabled &&",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "display-workspace-fixed",
        edits: &[(
            "rules/connections.cedar",
            "forbid (principal, action == Action::\"changeDisplayWorkspace\", resource);",
            "forbid (principal, action == Action::\"changeDisplayWorkspace\", resource)\nwhen { principal.license == \"full\" };",
        )],
        expect: Expect::Allow,
    },
    Mutation {
        invariant: "no-policy-errors",
        edits: &[(
            "rules/plan-limits.cedar",
            "(if context has newGuests then context.newGuests else 1) < 0 ||",
            "resource.workspace.guestEmailsUsed + (if context has newGuests then context.newGuests else 1) > 1000 ||",
        )],
        expect: Expect::Errors("plan.guest-email-cap"),
    },
];

/// Re-pins the system roles after a test edits one, so the bundle loads and
/// only the proof can object.
fn relock(b: &ScratchBundle) {
    let mut lock = String::from("# re-pinned by the test\n");
    for f in ["roles/admin.cedar", "roles/guest.cedar"] {
        let digest = Sha256::digest(b.read(&format!("policies/{f}")).as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        lock.push_str(&format!("{hex}  {f}\n"));
    }
    b.write("policies/system-roles.lock", &lock);
}

fn mutate(m: &Mutation) -> ScratchBundle {
    let b = ScratchBundle::new();
    for (file, from, to) in m.edits {
        let rel = format!("policies/{file}");
        if from.is_empty() {
            let text = b.read(&rel);
            b.write(&rel, &format!("{text}{to}"));
        } else {
            b.edit(&rel, from, to);
        }
    }
    relock(&b);
    let (code, _, err) = output(
        teamgate()
            .args(["validate", "--bundle", &b.arg()])
            .output()
            .expect("run"),
    );
    assert_eq!(
        code, 0,
        "{}: the mutated bundle must load\n{err}",
        m.invariant
    );
    b
}

/// Replays a counterexample with `explain --as-given --format json`.
fn replay(bundle: &str, cex: &Value) -> Value {
    let r = &cex["replay"];
    let context = format!("@{}", r["context_file"].as_str().unwrap_or_default());
    let args = [
        "explain",
        "--bundle",
        bundle,
        "--as-given",
        "--entities",
        r["entities_file"].as_str().unwrap_or_default(),
        "--principal",
        cex["principal"].as_str().unwrap_or_default(),
        "--action",
        cex["action"].as_str().unwrap_or_default(),
        "--resource",
        cex["resource"].as_str().unwrap_or_default(),
        "--context",
        &context,
        "--format",
        "json",
    ];
    let (code, out, err) = output(teamgate().args(args).output().expect("run"));
    assert!(code == 0 || code == 2, "explain failed ({code}): {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("explain json: {e}\n{out}"))
}

fn cited(ex: &Value, list: &str) -> Vec<String> {
    ex[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(String::from))
        .collect()
}

#[test]
fn every_invariant_catches_its_mutation_with_a_replayable_counterexample() {
    if !solver_present() {
        return;
    }
    // Every shipped invariant has a mutation here.
    for id in SHIPPED {
        assert!(
            MUTATIONS.iter().any(|m| m.invariant == *id),
            "no mutation for {id}"
        );
    }
    for m in MUTATIONS {
        let b = mutate(m);
        let (code, outcomes, err) = prove(&b.arg(), &["--invariant", m.invariant]);
        assert_eq!(
            code, 3,
            "{}: expected a violation\n{err}\n{outcomes:#?}",
            m.invariant
        );
        let o = &outcomes[0];
        assert_eq!(o["status"], "violated", "{o:#}");
        let cex = &o["counterexample"];
        let ex = replay(&b.arg(), cex);
        let allowed = ex["decision"]["allowed"].as_bool();
        match m.expect {
            Expect::Allow => assert_eq!(allowed, Some(true), "{}: {ex:#}", m.invariant),
            Expect::Deny => assert_eq!(allowed, Some(false), "{}: {ex:#}", m.invariant),
            Expect::Errors(p) => {
                assert_eq!(cex["policy"], p, "{}", m.invariant);
                assert!(
                    cited(&ex, "errored").contains(&p.to_string()),
                    "{}: {ex:#}",
                    m.invariant
                );
            }
            Expect::Satisfied(p) => {
                let mut sat = cited(&ex, "determining");
                sat.extend(cited(&ex, "overridden"));
                assert!(sat.contains(&p.to_string()), "{}: {ex:#}", m.invariant);
            }
        }
        // The same invariant still proves on the unmutated pack (the
        // mutation, not the invariant, is what failed).
    }
}

#[test]
fn diff_prove_finds_a_refactor_equivalent_and_a_change_not() {
    if !solver_present() {
        return;
    }
    // A refactor: the CX5 policies move to a file of their own, in the
    // other order.
    let refactor = ScratchBundle::new();
    let ext = refactor.read("policies/licenses/external.cedar");
    let start = ext
        .find("@id(\"external.no-settings-workload-reports\")")
        .expect("cx5");
    let mid = ext
        .find("@id(\"external.own-times-only\")")
        .expect("own times");
    let end = ext
        .find("@id(\"external.full-license-only\")")
        .expect("cx6");
    let (a, b) = (&ext[start..mid], &ext[mid..end]);
    refactor.write(
        "policies/licenses/external.cedar",
        &format!("{}{}", &ext[..start], &ext[end..]),
    );
    refactor.write(
        "policies/licenses/external-times.cedar",
        &format!("{b}\n{a}"),
    );
    let old = repo().display().to_string();
    let args = |new: &str| {
        vec![
            "diff".to_string(),
            "--prove".into(),
            "--format".into(),
            "json".into(),
            "--quiet".into(),
            old.clone(),
            new.to_string(),
        ]
    };
    let (code, out, err) = output(
        teamgate()
            .args(args(&refactor.arg()))
            .output()
            .expect("run"),
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let shapes: Vec<Value> = serde_json::from_str(&out).expect("json");
    assert!(shapes.len() > 50, "{}", shapes.len());
    assert!(shapes.iter().all(|s| s["status"] == "proved"));

    // A real change: externals may edit project details again.
    let change = mutate(&MUTATIONS[1]);
    let (code, out, err) = output(teamgate().args(args(&change.arg())).output().expect("run"));
    assert_eq!(code, 3, "{err}\n{out}");
    let shapes: Vec<Value> = serde_json::from_str(&out).expect("json");
    let differ: Vec<&Value> = shapes
        .iter()
        .filter(|s| s["status"] == "violated")
        .collect();
    assert!(!differ.is_empty());
    for d in &differ {
        let id = d["id"].as_str().unwrap_or_default();
        assert!(
            id.ends_with(" Project"),
            "only project actions change: {id}"
        );
        let cex = &d["counterexample"];
        assert_eq!(cex["decision"], "old deny, new allow", "{d:#}");
        // Replayed on the new bundle: allowed.
        let ex = replay(&change.arg(), cex);
        assert_eq!(ex["decision"]["allowed"], true, "{ex:#}");
    }
}

#[test]
fn bad_invariants_and_a_missing_solver_are_exit_1_with_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let run = |file: &str, env: Option<(&str, &str)>| {
        let mut c = teamgate();
        c.args(["prove", "--invariants", file]);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        output(c.output().expect("run"))
    };
    let yaml = write("broken.yaml", "invariants:\n  - id: x\n    rules: [P1\n");
    let (code, _, err) = run(&yaml, None);
    assert_eq!(code, 1);
    assert!(err.contains("broken.yaml:"), "{err}");

    let two = write(
        "two.yaml",
        "invariants:\n  - id: x\n    rules: [P1]\n    always-denies: true\n    never-errors: true\n",
    );
    let (code, _, err) = run(&two, None);
    assert_eq!(code, 1);
    assert!(
        err.contains("invariants[0]") && err.contains("exactly one"),
        "{err}"
    );

    let typo = write(
        "typo.yaml",
        "invariants:\n  - id: x\n    rules: [PR3]\n    implies:\n      left: { files: [project-role/] }\n      right: {}\n",
    );
    let missing_solver = Some(("CVC5", "/nonexistent/cvc5"));
    let (code, _, err) = run(&typo, missing_solver);
    assert_eq!(code, 1);
    assert!(err.contains("cvc5"), "{err}");
    if solver_present() {
        let (code, _, err) = run(&typo, None);
        assert_eq!(code, 1);
        assert!(
            err.contains("invariants[0]") && err.contains("project-role/"),
            "{err}"
        );
        let shape = write(
            "shape.yaml",
            "invariants:\n  - id: x\n    rules: [P1]\n    shape: { resource: Workspace }\n    never-allows: resource.owner == principal\n",
        );
        let (code, _, err) = run(&shape, None);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("invariants[0]") && err.contains("Workspace"),
            "{err}"
        );
        // A condition nested deep enough to exhaust a parser's stack is an
        // error, not a crash.
        let deep = write(
            "deep.yaml",
            &format!(
                "invariants:\n  - id: x\n    rules: [P1]\n    never-allows: \"{}true{}\"\n",
                "(".repeat(5000),
                ")".repeat(5000)
            ),
        );
        let (code, _, err) = run(&deep, None);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("nested more than"), "{err}");
    }
}

#[test]
fn validate_refuses_invariants_that_no_longer_fit_the_pack() {
    // No solver needed: shapes, conditions and selections are checked at load.
    let b = ScratchBundle::new();
    b.write(
        "invariants.yaml",
        &std::fs::read_to_string(invariants_file()).expect("read invariants"),
    );
    let validate = |b: &ScratchBundle| {
        output(
            teamgate()
                .args(["validate", "--bundle", &b.arg()])
                .output()
                .expect("run"),
        )
    };
    let (code, out, err) = validate(&b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("invariants 13"), "{out}");
    // A file an invariant names that is not in the pack.
    b.edit(
        "invariants.yaml",
        "files: [roles/admin.cedar, roles/guest.cedar]",
        "files: [roles/admins.cedar, roles/guest.cedar]",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(
        err.contains("invariants.yaml") && err.contains("roles/admins.cedar"),
        "{err}"
    );
}

#[test]
fn a_solver_that_cannot_decide_is_unknown_and_exit_4() {
    // A stand-in for cvc5 that answers `unknown` to every check, as cvc5
    // does past its time limit.
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("cvc5");
    std::fs::write(
        &fake,
        "#!/bin/sh\nwhile IFS= read -r line; do\n  case \"$line\" in *\"(check-sat)\"*) echo unknown;; esac\ndone\n",
    )
    .expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let inv = invariants_file();
    let (code, out, err) = output(
        teamgate()
            .args([
                "prove",
                "--invariants",
                &inv,
                "--invariant",
                "private-tasks-owner-only",
            ])
            .args(["--format", "junit", "--quiet"])
            .env("CVC5", &fake)
            .output()
            .expect("run"),
    );
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        out.contains("errors=\"1\"") && out.contains("answered unknown"),
        "{out}"
    );
}
