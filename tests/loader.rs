//! The loader's errors, seen through `teamgate validate` as a user meets them.

mod util;
use util::{run, ScratchBundle};

fn validate(b: &ScratchBundle) -> (i32, String, String) {
    run(&["validate", "--bundle", &b.arg()])
}

#[test]
fn shipped_bundle_is_valid() {
    let (code, out, err) = run(&["validate"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with("ok: bundle . is valid"), "{out}");
    assert!(out.contains("entities  40"), "{out}");
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let b = ScratchBundle::new();
    b.edit(
        "policies/rules/creator.cedar",
        "permit (principal is User, action, resource)",
        "permit (principal is User, action resource)",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    // `permit (` starts on line 6 of creator.cedar; the error is on that line.
    assert!(err.contains("policies/rules/creator.cedar:6:"), "{err}");
    assert!(
        err.contains("action resource"),
        "the snippet shows the source: {err}"
    );
    assert!(err.contains("nothing was loaded"), "{err}");
}

#[test]
fn every_error_is_reported_at_once() {
    let b = ScratchBundle::new();
    b.edit(
        "policies/rules/creator.cedar",
        "resource.creator == principal) ||",
        "resource.creator == principal ||",
    );
    b.edit(
        "policies/rules/own-time.cedar",
        "context.forUser == principal",
        "context.forUser == principal.nope",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(err.contains("policies/rules/creator.cedar:"), "{err}");
    assert!(err.contains("policies/rules/own-time.cedar:"), "{err}");
    assert!(err.contains("2 errors found"), "{err}");
}

#[test]
fn policy_that_no_longer_validates_names_its_line() {
    let b = ScratchBundle::new();
    b.edit(
        "policies/licenses/guest.cedar",
        "principal.license == \"guest\" &&\n  resource.sharedWith",
        "principal.licence == \"guest\" &&\n  resource.sharedWith",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(err.contains("policies/licenses/guest.cedar:17:3"), "{err}");
    assert!(err.contains("licence"), "{err}");
}

#[test]
fn policy_without_id_is_refused() {
    let b = ScratchBundle::new();
    b.write(
        "policies/rules/extra.cedar",
        "// no id\npermit (principal, action, resource);\n",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(err.contains("policies/rules/extra.cedar:2:1"), "{err}");
    assert!(err.contains("no @id"), "{err}");
}

#[test]
fn duplicate_policy_id_names_both_places() {
    let b = ScratchBundle::new();
    b.write(
        "policies/rules/extra.cedar",
        "@id(\"creator.project\")\npermit (principal, action, resource);\n",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(
        err.contains("duplicate policy id \"creator.project\""),
        "{err}"
    );
    assert!(err.contains("policies/rules/creator.cedar:"), "{err}");
}

#[test]
fn user_with_missing_role_is_refused() {
    let b = ScratchBundle::new();
    let mut json: serde_json::Value =
        serde_json::from_str(&b.read("fixtures/entities.json")).unwrap();
    let carol = json
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["uid"]["id"] == "carol")
        .unwrap();
    carol["attrs"]["role"]["__entity"]["id"] = "ghost".into();
    b.write(
        "fixtures/entities.json",
        &serde_json::to_string_pretty(&json).unwrap(),
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fixtures/entities.json:"), "{err}");
    assert!(err.contains(".attrs.role"), "{err}");
    assert!(
        err.contains("Role::\"ghost\", which does not exist (AW1)"),
        "{err}"
    );
}

#[test]
fn user_without_role_is_refused() {
    let b = ScratchBundle::new();
    let mut json: serde_json::Value =
        serde_json::from_str(&b.read("fixtures/entities.json")).unwrap();
    let users = json.as_array_mut().unwrap();
    let carol = users
        .iter_mut()
        .find(|e| e["uid"]["id"] == "carol")
        .unwrap();
    carol["attrs"].as_object_mut().unwrap().remove("role");
    b.write(
        "fixtures/entities.json",
        &serde_json::to_string_pretty(&json).unwrap(),
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(
        err.contains("User::\"carol\" has no workspace role"),
        "{err}"
    );
}

#[test]
fn two_default_project_roles_are_refused() {
    let b = ScratchBundle::new();
    let text = b
        .read("fixtures/entities.json")
        .replace("\"isDefault\": false", "\"isDefault\": true");
    b.write("fixtures/entities.json", &text);
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(
        err.contains("exactly one project role must be the default"),
        "{err}"
    );
}

#[test]
fn member_tag_and_member_of_must_agree() {
    let b = ScratchBundle::new();
    let mut json: serde_json::Value =
        serde_json::from_str(&b.read("fixtures/entities.json")).unwrap();
    let gina = json
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["uid"]["id"] == "gina")
        .unwrap();
    gina["attrs"]["memberOf"] = serde_json::json!([]);
    b.write(
        "fixtures/entities.json",
        &serde_json::to_string_pretty(&json).unwrap(),
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(
        err.contains("User::\"gina\" is a member of Project::\"internal\""),
        "{err}"
    );
}

#[test]
fn invalid_json_names_line_and_column() {
    let b = ScratchBundle::new();
    b.write(
        "fixtures/extra.json",
        "[\n  {\"uid\": {\"type\": \"Team\", \"id\": \"x\"},\n  \"attrs\": {,}}\n]\n",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(err.contains("fixtures/extra.json:3:13"), "{err}");
}

#[test]
fn entity_not_matching_schema_names_json_path() {
    let b = ScratchBundle::new();
    b.write(
        "fixtures/extra.json",
        "[\n {\"uid\": {\"type\": \"Customer\", \"id\": \"x\"}, \"parents\": [],\n  \"attrs\": {\"workspace\": {\"__entity\": {\"type\": \"Workspace\", \"id\": \"acme\"}}, \"color\": 3}}\n]\n",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(err.contains("fixtures/extra.json:2: $[0]"), "{err}");
    assert!(err.contains("color"), "{err}");
}

#[test]
fn editing_a_system_role_fails_the_checks() {
    let b = ScratchBundle::new();
    b.edit(
        "policies/roles/guest.cedar",
        "\"mywork\", ",
        "\"mywork\", \"settings\", ",
    );
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(
        err.contains("roles/guest.cedar is a system role's policy file and is fixed (AW2)"),
        "{err}"
    );
}

#[test]
fn role_without_policy_file_is_refused() {
    let b = ScratchBundle::new();
    std::fs::remove_file(b.path().join("policies/roles/controller.cedar")).unwrap();
    let (code, _, err) = validate(&b);
    assert_eq!(code, 1);
    assert!(
        err.contains("Role::\"controller\" has no policy file policies/roles/controller.cedar"),
        "{err}"
    );
}

#[test]
fn missing_bundle_says_what_a_bundle_is() {
    let (code, _, err) = run(&["validate", "--bundle", "/nonexistent/bundle"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/bundle/policies: no such directory"),
        "{err}"
    );
}

#[test]
fn validate_json_lists_errors_with_locations() {
    let b = ScratchBundle::new();
    b.edit(
        "policies/rules/creator.cedar",
        "permit (principal is User, action, resource)",
        "permit (principal is User, action resource)",
    );
    let (code, out, _) = run(&["validate", "--bundle", &b.arg(), "--format", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["file"], "policies/rules/creator.cedar");
    assert_eq!(v["errors"][0]["line"], 6);
}

#[test]
fn deeply_nested_policy_text_is_a_located_error_not_a_crash() {
    let b = ScratchBundle::new();
    let n = 50_000;
    b.write(
        "policies/rules/deep.cedar",
        &format!(
            "@id(\"deep\")\npermit (principal, action, resource) when {{ {}true{} }};\n",
            "(".repeat(n),
            ")".repeat(n)
        ),
    );
    b.write(
        "policies/rules/chain.cedar",
        &format!(
            "@id(\"chain\")\npermit (principal, action, resource) when {{ {} }};\n",
            vec!["true"; 20_000].join(" && ")
        ),
    );
    b.write(
        "schemas/deep.cedarschema",
        &format!(
            "type Deep = {}{};\n",
            "{ a: ".repeat(n),
            " Long }".repeat(n)
        ),
    );
    let (code, _, err) = run(&["validate", "--bundle", &b.arg()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("policies/rules/deep.cedar:2:"), "{err}");
    assert!(err.contains("nested more than 32 levels deep"), "{err}");
    assert!(err.contains("policies/rules/chain.cedar:1:"), "{err}");
    assert!(err.contains("more than 256 operators"), "{err}");
    assert!(err.contains("schemas/deep.cedarschema:1:"), "{err}");
}
