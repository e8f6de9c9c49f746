//! Reviewer tools as a reviewer uses them: explain, matrix, diff.

mod util;
use serde_json::Value;
use util::{run, teamgate, ScratchBundle};

fn explain(p: &str, a: &str, r: &str, ctx: Option<&str>) -> String {
    let mut args = vec!["explain", "--principal", p, "--action", a, "--resource", r];
    if let Some(c) = ctx {
        args.extend(["--context", c]);
    }
    let (_, out, err) = run(&args);
    assert!(err.is_empty(), "{err}");
    // The version hash changes with every edit of the pack; keep snapshots about decisions.
    out.lines()
        .filter(|l| !l.starts_with("version "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn explain_faq_cases() {
    insta::assert_snapshot!(
        "explain_external_manager_edits_details",
        explain(
            "User::\"erin\"",
            "editProjectDetails",
            "Project::\"website\"",
            None
        )
    );
    insta::assert_snapshot!(
        "explain_freelancer_other_project",
        explain(
            "User::\"carol\"",
            "viewProject",
            "Project::\"internal\"",
            None
        )
    );
    insta::assert_snapshot!(
        "explain_collaborator_completes_assigned",
        explain(
            "User::\"frank\"",
            "completeTask",
            "Task::\"website-qa\"",
            None
        )
    );
    insta::assert_snapshot!(
        "explain_time_for_external",
        explain(
            "User::\"bob\"",
            "logTime",
            "Project::\"website\"",
            Some(r#"{"forUser": {"type": "User", "id": "erin"}}"#)
        )
    );
    insta::assert_snapshot!(
        "explain_evaluation_error",
        explain(
            "User::\"bob\"",
            "inviteExternal",
            "Project::\"website\"",
            Some(
                r#"{"inviteeEmail": "x@partner.example", "invitee": {"type": "User", "id": "ghost"}}"#
            )
        )
    );
}

#[test]
fn explain_json_lists_determining_and_overridden() {
    let (code, out, _) = run(&[
        "explain",
        "--principal",
        "User::\"erin\"",
        "--action",
        "editProjectDetails",
        "--resource",
        "Project::\"website\"",
        "--format",
        "json",
    ]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["determining"][0]["id"],
        "external.never-edit-project-details"
    );
    assert_eq!(
        v["determining"][0]["file"],
        "policies/licenses/external.cedar"
    );
    assert_eq!(v["overridden"][0]["id"], "project-role.manager");
}

#[test]
fn matrix_of_the_demo_workspace() {
    let (code, md, _) = run(&["matrix", "--format", "md"]);
    assert_eq!(code, 0);
    let md = md.lines().skip(1).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("matrix_demo", md);
}

#[test]
fn matrix_selection_and_formats() {
    let (code, csv, _) = run(&[
        "matrix",
        "--format",
        "csv",
        "--principal",
        "User::\"erin\"",
        "--resource-type",
        "Project",
        "--action",
        "editProjectDetails",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        csv.lines().next(),
        Some("resource_type,principal,action,resource,decision,reasons")
    );
    assert!(csv.contains("\"Project\",\"User::\"\"erin\"\"\",\"editProjectDetails\",\"Project::\"\"website\"\"\",deny,\"external.never-edit-project-details\""), "{csv}");
    assert!(csv.contains("\"Project::\"\"erin-own\"\"\",allow"), "{csv}");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("matrix.html");
    let (code, _, _) = run(&[
        "matrix",
        "--format",
        "html",
        "--output",
        &page.display().to_string(),
    ]);
    assert_eq!(code, 0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("position:sticky"), "sticky headers");
    assert!(html.contains("class=\"legend\""));
    assert!(
        html.contains("title=\"external.never-edit-project-details\""),
        "hover shows the determining policy"
    );
    let (code, _, err) = run(&["matrix", "--resource-type", "Spaceship"]);
    assert_eq!(code, 1);
    assert!(err.contains("matches no request"), "{err}");
}

fn remove_policy(b: &ScratchBundle, file: &str, id: &str) {
    let text = b.read(file);
    let start = text.find(&format!("@id(\"{id}\")")).unwrap();
    let end = text[start..].find(";\n").unwrap() + start + 2;
    b.write(file, &format!("{}{}", &text[..start], &text[end..]));
}

#[test]
fn diff_lists_exactly_the_decisions_a_removed_forbid_decided() {
    let b = ScratchBundle::new();
    let forbid = "external.never-edit-project-details";
    remove_policy(&b, "policies/licenses/external.cedar", forbid);
    let (code, out, err) = run(&[
        "diff",
        ".",
        &b.arg(),
        "--format",
        "json",
        "--scenarios",
        "none",
    ]);
    assert_eq!(code, 3, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let changes: Vec<&Value> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["changes"].as_array().unwrap())
        .collect();
    assert!(!changes.is_empty());
    for c in &changes {
        assert_eq!(
            (c["old"].as_str(), c["new"].as_str()),
            (Some("deny"), Some("allow")),
            "{c}"
        );
        assert_eq!(
            c["old_reasons"],
            serde_json::json!([forbid]),
            "only what that forbid decided: {c}"
        );
    }
    // Independently: every request the forbid alone decided, and that some permit allows without it.
    let old = teamgate::Bundle::new(util::repo()).load().unwrap();
    let new = teamgate::Bundle::new(b.path()).load().unwrap();
    let mut expected = 0;
    for c in teamgate::review::universe::cases(&old, None) {
        let d = old.decide(&c.query, None);
        if d.reasons() == [forbid] && new.decide(&c.query, None).is_allowed() {
            expected += 1;
        }
    }
    assert_eq!(changes.len(), expected);
    assert!(
        v["groups"][0]["cause"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == &Value::from(format!("-{forbid} (removed)"))),
        "{}",
        v["groups"][0]
    );
    let (code, text, _) = run(&["diff", ".", &b.arg()]);
    assert_eq!(code, 3);
    assert!(text.contains("denies became allows"), "{text}");
}

#[test]
fn diff_of_identical_bundles_exits_zero() {
    let b = ScratchBundle::new();
    let (code, out, _) = run(&["diff", ".", &b.arg()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("0 of "), "{out}");
    let (code, _, err) = run(&["diff", ".", "/nonexistent"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the new bundle (/nonexistent) is invalid"),
        "{err}"
    );
}

#[test]
fn diff_against_a_git_revision() {
    let b = ScratchBundle::new();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(b.path())
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    b.edit(
        "policies/rules/own-time.cedar",
        "context.forUser == principal &&",
        "context.forUser == principal && false &&",
    );
    // The old bundle is unpacked into a scratch directory under TMPDIR,
    // removed again however the command ends.
    let scratch = tempfile::tempdir().expect("temp dir");
    let out = teamgate()
        .current_dir(b.path())
        .env("TMPDIR", scratch.path())
        .args(["diff", "--git", "HEAD", "--format", "md"])
        .output()
        .unwrap();
    let (code, md, err) = util::output(out);
    assert_eq!(code, 3, "{err}");
    assert!(md.starts_with("### Policy decision changes"), "{md}");
    assert!(md.contains("own-time.log (changed)"), "{md}");
    let out = teamgate()
        .current_dir(b.path())
        .env("TMPDIR", scratch.path())
        .args(["diff", "--git", "no-such-rev"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .expect("scratch dir")
        .map(|e| e.map(|e| e.file_name()))
        .collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}

/// Changes of a diff as comparable rows.
fn rows(d: &teamgate::review::diff::Diff) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = d
        .groups
        .iter()
        .flat_map(|g| {
            g.changes.iter().map(|c| {
                (
                    g.cause.join(" "),
                    c.request.clone(),
                    format!("{:?}>{:?}", c.old, c.new),
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// Counts the decisions a diff makes.
#[derive(Default)]
struct Decided(std::sync::atomic::AtomicU64);

impl teamgate::review::Progress for Decided {
    fn start(&self, _: &str, total: u64) {
        self.0
            .fetch_add(total, std::sync::atomic::Ordering::Relaxed);
    }
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

#[test]
fn diff_of_changed_slices_only_equals_the_diff_of_the_whole_universe() {
    use std::sync::atomic::Ordering::Relaxed;
    use teamgate::review::diff::{compare_as, Scope};
    use teamgate::review::universe;
    let old = teamgate::Bundle::new(util::repo()).load().unwrap();
    assert_eq!(
        universe::count(&old, None),
        universe::cases(&old, None).len(),
        "the universe is counted as it is built"
    );
    // Edits of every kind: a forbid removed, a condition widened, a grant
    // added, annotations only, a file split; and the data changed too.
    type Edit = fn(&ScratchBundle);
    let edits: Vec<(&str, Edit)> = vec![
        ("forbid removed", |b| {
            remove_policy(
                b,
                "policies/licenses/external.cedar",
                "external.never-edit-project-details",
            )
        }),
        ("condition widened", |b| {
            b.edit(
                "policies/licenses/collaborator.cedar",
                "when { principal.license == \"collaborator\" && !resource.assignees.contains(principal) }",
                "when { principal.license == \"collaborator\" && !resource.assignees.contains(principal) && false }",
            )
        }),
        ("grant added", |b| {
            let text = b.read("policies/project-roles/viewer.cedar");
            b.write(
                "policies/project-roles/viewer.cedar",
                &format!("{text}\n@id(\"viewer.times\")\n@rules(\"PR2\")\npermit (principal is User, action == Action::\"viewProjectTimes\", resource is Project)\nwhen {{ resource.hasTag(principal.userId) }};\n"),
            )
        }),
        ("annotation only", |b| {
            b.edit(
                "policies/rules/creator.cedar",
                "@rules(\"PR5, PR8\")",
                "@rules(\"PR5, PR8, P3\")",
            )
        }),
        ("data changed", |b| {
            let mut all: Value = serde_json::from_str(&b.read("fixtures/entities.json")).unwrap();
            for e in all.as_array_mut().unwrap() {
                if e["uid"]["id"] == "bob" {
                    e["attrs"]["role"]["__entity"]["id"] = "admin".into();
                }
            }
            b.write("fixtures/entities.json", &all.to_string());
        }),
    ];
    for (what, edit) in edits {
        let b = ScratchBundle::new();
        edit(&b);
        let new = teamgate::Bundle::new(b.path()).load().unwrap();
        let (fast_work, full_work) = (Decided::default(), Decided::default());
        let fast = compare_as(&old, &new, &[], &fast_work, Scope::ChangedSlices);
        let full = compare_as(&old, &new, &[], &full_work, Scope::All);
        assert_eq!(rows(&fast), rows(&full), "{what}");
        let (f, a) = (fast_work.0.load(Relaxed), full_work.0.load(Relaxed));
        if what == "data changed" {
            assert_eq!(f, a, "other data: every request is compared");
        } else {
            assert!(
                f * 4 < a,
                "{what}: {f} decisions for the changed slices, {a} for all"
            );
        }
        assert_eq!(fast.requests, full.requests, "{what}");
        if what != "annotation only" {
            assert!(full.changed() > 0, "{what}: the edit changes decisions");
        }
    }
}

#[test]
fn matrix_by_role_has_one_row_per_profile_present_in_the_data() {
    use std::collections::{BTreeMap, BTreeSet};
    let (code, out, err) = run(&["matrix", "--by", "role", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let cells: Vec<Value> = serde_json::from_str(&out).unwrap();
    // Rows: (resource type, principal, resource) each with one profile.
    let mut rows: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for c in &cells {
        let profile = c["profile"].to_string();
        assert!(c["profile"]["role"].is_string(), "{c}");
        let key = (
            c["resource_type"].as_str().unwrap().to_string(),
            c["principal"].as_str().unwrap().to_string(),
            c["resource"].as_str().unwrap().to_string(),
        );
        let old = rows.insert(key, profile.clone());
        assert!(old.is_none() || old == Some(profile), "one profile per row");
    }
    // Exactly one row per profile and resource type...
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for ((ty, _, _), profile) in &rows {
        assert!(
            seen.insert((ty.clone(), profile.clone())),
            "{ty} {profile} twice"
        );
    }
    // ...and every profile the data holds has its row.
    let snap = teamgate::Bundle::new(util::repo()).load().unwrap();
    let mut profiles = teamgate::review::profile::Profiles::new(&snap);
    let users: Vec<_> = snap
        .entity_uids(None)
        .filter(|u| u.type_name().to_string() == "User")
        .collect();
    for ty in ["Project", "Task", "Workspace"] {
        for r in snap
            .entity_uids(None)
            .filter(|u| u.type_name().to_string() == ty)
        {
            for u in &users {
                let p = serde_json::to_value(profiles.of(u, &r).unwrap()).unwrap();
                assert!(
                    seen.contains(&(ty.to_string(), p.to_string())),
                    "{ty}: no row for {p}"
                );
            }
        }
    }
    // The markdown shows the profile first.
    let (_, md, _) = run(&["matrix", "--by", "role", "--resource-type", "Project"]);
    assert!(md.contains("| profile | principal | resource |"), "{md}");
    assert!(
        md.contains("| role=user license=full project=manager external |"),
        "{md}"
    );
}

/// Chromium on PATH, or None (then the browser test says so, and fails when
/// TEAMGATE_REQUIRE_CHROMIUM is set, as in CI).
fn chromium() -> Option<std::path::PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("TEAMGATE_REQUIRE_CHROMIUM").is_none(),
            "TEAMGATE_REQUIRE_CHROMIUM is set but no chromium is installed"
        );
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium)");
    }
    found
}

#[test]
fn the_matrix_page_filters_rows_in_a_real_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("matrix.html");
    let (code, _, err) = run(&[
        "matrix",
        "--by",
        "role",
        "--format",
        "html",
        "-o",
        &page.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("id=\"filter\""), "a filter box");
    assert!(
        html.contains("class=\"profile\">role="),
        "profiles beside principals"
    );
    // The page as the browser renders it, with the filter of the address.
    let dom = |filter: &str| {
        let out = std::process::Command::new(&browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
            .arg(format!("file://{}#filter={filter}", page.display()))
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rows = |dom: &str| -> Vec<(bool, String)> {
        dom.split("<tr")
            .skip(1)
            .filter(|r| r.contains("class=\"profile\""))
            .map(|r| (r.starts_with(" style=\"display: none;\""), r.to_string()))
            .collect()
    };
    let all = rows(&dom(""));
    assert!(all.len() > 20 && all.iter().all(|(hidden, _)| !hidden));
    let guests = rows(&dom("license%3Dguest"));
    assert_eq!(guests.len(), all.len());
    let shown: Vec<_> = guests.iter().filter(|(hidden, _)| !hidden).collect();
    assert!(!shown.is_empty() && shown.len() < all.len());
    for (hidden, row) in &guests {
        assert_eq!(!hidden, row.contains("license=guest"), "{row}");
    }
}

/// The matrix decided block by block on every core (and the CSV streamed
/// from it) holds, in the universe's order, each request's own decision.
#[test]
fn the_matrix_decided_in_blocks_keeps_each_requests_decision_in_order() {
    use teamgate::review::{matrix, universe, NoProgress};
    use teamgate::{testkit, Bundle};
    // Large enough for several blocks.
    let (json, _) = testkit::workspace(150, 9);
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = testkit::write_bundle(&Bundle::new(env!("CARGO_MANIFEST_DIR")), dir.path(), &json)
        .expect("write")
        .load()
        .expect("generated workspace loads");
    let sel = matrix::Selection::default();
    let cells = matrix::cells(&snap, &sel);
    let cases = universe::cases(&snap, None);
    assert!(cells.len() > 40_000, "{} cells", cells.len());
    assert_eq!(cells.len(), cases.len());
    let mut allowed = 0;
    for (cell, case) in cells.iter().zip(&cases) {
        let d = snap.decide(&case.query, None);
        assert_eq!(cell.principal, case.query.principal().to_string());
        assert_eq!(cell.resource, case.query.resource().to_string());
        assert!(cell.action.starts_with(case.query.action_name()));
        assert_eq!(
            (cell.allowed, &cell.reasons[..]),
            (d.is_allowed(), d.causes()),
            "{case:?}"
        );
        allowed += usize::from(cell.allowed);
    }
    assert!(
        allowed > 100 && allowed < cells.len() - 100,
        "{allowed} allows"
    );
    let mut streamed = Vec::new();
    let space = matrix::space(&snap, &sel);
    let n = matrix::write_csv(&snap, &space, &NoProgress, &mut streamed).expect("write");
    assert_eq!(n, cells.len());
    assert_eq!(
        String::from_utf8(streamed).expect("utf-8"),
        matrix::csv(&cells)
    );
}
