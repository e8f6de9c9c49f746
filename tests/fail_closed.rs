//! Fail closed: every error is a deny that says why (P5).

mod util;
use serde_json::json;
use teamgate::{Bundle, Query, Strategy};
use util::run;

fn snap() -> teamgate::Snapshot {
    Bundle::new(env!("CARGO_MANIFEST_DIR")).load().unwrap()
}

fn q(p: &str, a: &str, r: &str, ctx: serde_json::Value) -> Query {
    Query::new(p.parse().unwrap(), a.parse().unwrap(), r.parse().unwrap()).with_context(ctx)
}

fn decide(query: Query) -> teamgate::Decision {
    snap().decide(&query, None)
}

#[test]
fn unknown_principal_is_a_deny_that_says_why() {
    let d = decide(q(
        r#"User::"mallory""#,
        r#"Action::"viewProject""#,
        r#"Project::"website""#,
        json!({}),
    ));
    assert!(!d.is_allowed());
    assert!(
        d.errors()[0].contains(r#"unknown principal User::"mallory""#),
        "{d:?}"
    );
}

#[test]
fn unknown_resource_is_a_deny() {
    let d = decide(q(
        r#"User::"alice""#,
        r#"Action::"viewProject""#,
        r#"Project::"nope""#,
        json!({}),
    ));
    assert!(!d.is_allowed());
    assert!(d.errors()[0].contains("unknown resource"), "{d:?}");
}

#[test]
fn unknown_action_and_action_groups_are_denied() {
    // alice is admin: everything in her workspace is allowed, so only the
    // action check can deny these.
    for a in [
        r#"Action::"launchRockets""#,
        r#"Action::"area:projectDetails:edit""#,
    ] {
        let d = decide(q(r#"User::"alice""#, a, r#"Project::"website""#, json!({})));
        assert!(!d.is_allowed(), "{a}");
        assert!(d.errors()[0].contains("unknown action"), "{d:?}");
    }
}

#[test]
fn wrong_resource_type_for_action_is_denied() {
    let d = decide(q(
        r#"User::"alice""#,
        r#"Action::"viewTask""#,
        r#"Project::"website""#,
        json!({}),
    ));
    assert!(!d.is_allowed());
    assert!(!d.errors().is_empty());
}

#[test]
fn context_not_matching_schema_is_denied_and_named() {
    let d = decide(q(
        r#"User::"alice""#,
        r#"Action::"logTime""#,
        r#"Project::"website""#,
        json!({}),
    ));
    assert!(!d.is_allowed());
    assert!(d.errors()[0].contains("forUser"), "{d:?}");
    let d = decide(q(
        r#"User::"alice""#,
        r#"Action::"viewProjectField""#,
        r#"Project::"website""#,
        json!({"field": 3}),
    ));
    assert!(!d.is_allowed());
    assert!(d.errors()[0].contains("does not match the schema"), "{d:?}");
    let d = decide(q(
        r#"User::"alice""#,
        r#"Action::"viewProject""#,
        r#"Project::"website""#,
        json!([1]),
    ));
    assert!(!d.is_allowed());
    assert!(d.errors()[0].contains("must be a JSON object"), "{d:?}");
}

#[test]
fn an_erroring_forbid_never_lets_a_permit_through() {
    // The CX12 forbid reads context.invitee.license; the invitee does not exist,
    // so that forbid errors. Cedar alone skips it and the creator permit allows.
    let s = snap();
    let query = q(
        r#"User::"bob""#,
        r#"Action::"inviteExternal""#,
        r#"Project::"website""#,
        json!({"inviteeEmail": "x@partner.example", "invitee": {"__entity": {"type": "User", "id": "ghost"}}}),
    );
    let cedar = s.evaluate(&query, None, Strategy::WholeSet).unwrap();
    assert_eq!(
        cedar.decision(),
        cedar_policy::Decision::Allow,
        "Cedar's own answer"
    );
    let d = s.decide(&query, None);
    assert!(!d.is_allowed(), "teamgate fails closed: {d:?}");
    assert!(d.reasons().is_empty());
    assert!(
        d.errors()
            .iter()
            .any(|e| e.contains("connect.full-license-never-external")),
        "{d:?}"
    );
}

#[test]
fn invitee_domain_cannot_be_spoofed_by_the_caller() {
    let d = decide(q(
        r#"User::"bob""#,
        r#"Action::"inviteExternal""#,
        r#"Project::"website""#,
        json!({"inviteeEmail": "zed@ACME.com", "inviteeDomain": "partner.example"}),
    ));
    assert!(!d.is_allowed());
    assert_eq!(d.reasons(), vec!["connect.no-colleagues"]);
}

#[test]
fn cli_exit_codes_allow_deny_bad_input() {
    let (code, out, _) = run(&[
        "authorize",
        "--principal",
        r#"User::"bob""#,
        "--action",
        "editProjectDetails",
        "--resource",
        r#"Project::"website""#,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["reasons"], json!(["creator.project", "role.user"]));
    assert_eq!(v["version"].as_str().unwrap().len(), 16);

    let (code, out, _) = run(&[
        "authorize",
        "--principal",
        r#"User::"erin""#,
        "--action",
        r#"Action::"editProjectDetails""#,
        "--resource",
        r#"Project::"website""#,
        "--format",
        "json",
    ]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reasons"], json!(["external.never-edit-project-details"]));

    let (code, _, err) = run(&[
        "authorize",
        "--principal",
        "erin",
        "--action",
        "viewProject",
        "--resource",
        r#"Project::"website""#,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--principal \"erin\" is not an entity uid"),
        "{err}"
    );

    let (code, _, err) = run(&[
        "authorize",
        "--principal",
        r#"User::"bob""#,
        "--action",
        "logTime",
        "--resource",
        r#"Project::"website""#,
        "--context",
        "{\"forUser\": ",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--context: invalid JSON at line 1"), "{err}");
}

#[test]
fn cli_unknown_entity_is_a_deny_not_a_crash() {
    let (code, out, _) = run(&[
        "authorize",
        "--principal",
        r#"User::"mallory""#,
        "--action",
        "viewProject",
        "--resource",
        r#"Project::"website""#,
    ]);
    assert_eq!(code, 2);
    assert!(out.contains("DENY"), "{out}");
    assert!(out.contains("unknown principal"), "{out}");
}

#[test]
fn cli_extra_entities_are_merged_for_one_query() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("extra.json");
    // Sharing switched off for the whole acme account (GS4): ivy loses access at once.
    let mut acme = json!({"uid": {"type": "Workspace", "id": "acme"}, "parents": [], "attrs": {
        "domain": "acme.com", "plan": "business", "subscription": "active", "guestSharing": false,
        "guestEmailsUsed": 1, "connectionDomainExceptions": [], "ownProjects": 3}});
    std::fs::write(
        &file,
        serde_json::to_string(&json!([acme.clone()])).unwrap(),
    )
    .unwrap();
    let args = [
        "authorize",
        "--principal",
        r#"User::"ivy""#,
        "--action",
        "viewProject",
        "--resource",
        r#"Project::"launch""#,
    ];
    let (code, _, _) = run(&args);
    assert_eq!(code, 0, "shared with ivy");
    let mut with_file: Vec<&str> = args.to_vec();
    let f = file.display().to_string();
    with_file.extend(["--entities", &f]);
    let (code, out, _) = run(&with_file);
    assert_eq!(code, 2, "{out}");
    // A broken extra file is bad input, with its path.
    acme["attrs"]["guestSharing"] = json!("no");
    std::fs::write(&file, serde_json::to_string(&json!([acme])).unwrap()).unwrap();
    let (code, _, err) = run(&with_file);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("guestSharing"), "{err}");
}
