//! `serve --entities-from` and `teamgate db` against a real PostgreSQL
//! cluster started by the test: the initial read, inserts, updates and
//! deletes reaching decisions, a refused row reported while the feed goes
//! on, a lost connection recovered with a full re-read, and two sidecars
//! converging to the same data version.
//!
//! Without PostgreSQL these tests say "SKIPPED" and pass, unless
//! TEAMGATE_REQUIRE_POSTGRES is set (as `.ci/run` does).

mod util;

use serde_json::Value;
use util::pg::{self, Cluster};
use util::server::{ask, eventually, Server};
use util::{output, repo, teamgate, ScratchBundle};

fn db(args: &[&str]) -> (i32, String, String) {
    output(teamgate().arg("db").args(args).output().expect("run"))
}

/// A cluster with the table made and the demo workspace loaded, bob's
/// role turned to `admin` in the database (so the data served is seen to
/// be the table's, not the bundle's files).
fn loaded_cluster() -> Cluster {
    let c = Cluster::start();
    for _ in 0..2 {
        // Twice: init is idempotent.
        let (code, out, err) = db(&["init", &c.url()]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let fixtures = repo().join("fixtures/entities.json").display().to_string();
    let (code, out, err) = db(&["load", &fixtures, &c.url()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("loaded 40 entities"), "{out}");
    c.sql(r#"UPDATE teamgate_entities SET entity = jsonb_set(entity, '{attrs,role}', '{"__entity": {"type": "Role", "id": "admin"}}') WHERE uid = 'User::"bob"'"#);
    c
}

fn serve(c: &Cluster, extra: &[&str]) -> Server {
    let bundle = ScratchBundle::new();
    let store = bundle.path().join("state/data.redb").display().to_string();
    let url = c.url();
    let mut args = vec!["--entities-from", &url, "--data-store", &store];
    args.extend_from_slice(extra);
    Server::start_with(bundle, &args)
}

fn decision(s: &Server, p: &str, a: &str, r: &str) -> String {
    let (code, v) = s.post("/v1/is_authorized", &ask(p, a, r));
    assert_eq!(code, 200, "{v}");
    v["decision"].as_str().unwrap_or_default().to_string()
}

fn settings(s: &Server, user: &str) -> String {
    decision(
        s,
        &format!("User::\"{user}\""),
        "Action::\"manageGeneralSettings\"",
        "Workspace::\"acme\"",
    )
}

fn metric(s: &Server, name: &str) -> f64 {
    let (_, body) = s.get("/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn data_version(s: &Server) -> String {
    let (_, body) = s.get("/v1/policies");
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data_version"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_table_is_served_and_each_change_reaches_decisions() {
    if !pg::available() {
        return;
    }
    let c = loaded_cluster();
    let token = tempfile::NamedTempFile::new().expect("token file");
    std::fs::write(token.path(), "a-token-of-sixteen-chars").expect("write");
    let token_arg = token.path().display().to_string();
    let s = serve(&c, &["--admin-token-file", &token_arg]);
    // The table's data, not the files': bob is an admin there.
    assert_eq!(settings(&s, "bob"), "Allow");
    let (code, body) = s.get("/readyz");
    assert_eq!(code, 200, "{body}");
    assert_eq!(metric(&s, "teamgate_source_up"), 1.0);

    // Update.
    c.sql(r#"UPDATE teamgate_entities SET entity = jsonb_set(entity, '{attrs,role}', '{"__entity": {"type": "Role", "id": "user"}}') WHERE uid = 'User::"bob"'"#);
    eventually("bob is a user again", || settings(&s, "bob") == "Deny");

    // Insert: a new admin of acme.
    c.sql(r#"INSERT INTO teamgate_entities VALUES ('User::"zoe"', '{"uid": {"type": "User", "id": "zoe"}, "attrs": {"userId": "zoe", "email": "zoe@acme.com", "workspace": {"__entity": {"type": "Workspace", "id": "acme"}}, "role": {"__entity": {"type": "Role", "id": "admin"}}, "license": "full", "memberOf": []}, "parents": [{"type": "Workspace", "id": "acme"}]}')"#);
    eventually("zoe is served", || settings(&s, "zoe") == "Allow");

    // Delete: an unknown principal is a deny.
    c.sql(r#"DELETE FROM teamgate_entities WHERE uid = 'User::"zoe"'"#);
    eventually("zoe is gone", || settings(&s, "zoe") == "Deny");

    assert!(metric(&s, "teamgate_source_changes_total") >= 3.0);
    // The data API does not write over the table.
    let r = util::server::client()
        .post(format!("{}/v1/entities", s.base))
        .header("authorization", "Bearer a-token-of-sixteen-chars")
        .body("[]")
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 409);
}

#[test]
fn a_refused_row_is_reported_and_the_feed_goes_on() {
    if !pg::available() {
        return;
    }
    let c = loaded_cluster();
    let s = serve(&c, &[]);
    assert_eq!(settings(&s, "bob"), "Allow");
    // A role that does not exist (AW1): refused, bob keeps his last good row.
    c.sql(r#"UPDATE teamgate_entities SET entity = jsonb_set(entity, '{attrs,role}', '{"__entity": {"type": "Role", "id": "nope"}}') WHERE uid = 'User::"bob"'"#);
    eventually("the row is refused", || {
        metric(&s, "teamgate_source_rejected_rows") == 1.0
    });
    assert_eq!(settings(&s, "bob"), "Allow");
    // Another change still applies.
    c.sql(r#"UPDATE teamgate_entities SET entity = jsonb_set(entity, '{attrs,role}', '{"__entity": {"type": "Role", "id": "admin"}}') WHERE uid = 'User::"gina"'"#);
    eventually("gina is an admin", || settings(&s, "gina") == "Allow");
    assert_eq!(metric(&s, "teamgate_source_rejected_rows"), 1.0);
    // Fixing the row applies it.
    c.sql(r#"UPDATE teamgate_entities SET entity = jsonb_set(entity, '{attrs,role}', '{"__entity": {"type": "Role", "id": "user"}}') WHERE uid = 'User::"bob"'"#);
    eventually("bob's fixed row applies", || settings(&s, "bob") == "Deny");
    assert_eq!(metric(&s, "teamgate_source_rejected_rows"), 0.0);
}

#[test]
fn a_lost_connection_is_retried_and_nothing_is_missed() {
    if !pg::available() {
        return;
    }
    let c = loaded_cluster();
    let s = serve(&c, &["--max-source-staleness", "1"]);
    assert_eq!(settings(&s, "bob"), "Allow");
    // Cut teamgate off: no new logins, its connection ended.
    c.sql("ALTER ROLE teamgate NOLOGIN");
    c.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'teamgate'");
    eventually("the source is down", || {
        metric(&s, "teamgate_source_up") == 0.0
    });
    // A change while nobody listens: its notification is lost.
    c.sql(r#"UPDATE teamgate_entities SET entity = jsonb_set(entity, '{attrs,role}', '{"__entity": {"type": "Role", "id": "user"}}') WHERE uid = 'User::"bob"'"#);
    // The last data keeps serving, and /readyz says how stale it is.
    assert_eq!(settings(&s, "bob"), "Allow");
    eventually("readyz reports the stale source", || {
        let (code, body) = s.get("/readyz");
        code == 503 && body.contains("unreachable")
    });
    // Back: the full re-read after reconnecting brings the missed change.
    c.sql("ALTER ROLE teamgate LOGIN");
    eventually("the missed change arrives", || {
        settings(&s, "bob") == "Deny"
    });
    eventually("ready again", || s.get("/readyz").0 == 200);
    assert!(metric(&s, "teamgate_source_reconnects_total") >= 1.0);
}

#[test]
fn two_sidecars_converge_to_the_same_data_version() {
    if !pg::available() {
        return;
    }
    let c = loaded_cluster();
    let a = serve(&c, &[]);
    let b = serve(&c, &[]);
    // Changes in several transactions, which the two may batch differently.
    c.sql(r#"INSERT INTO teamgate_entities VALUES ('User::"zoe"', '{"uid": {"type": "User", "id": "zoe"}, "attrs": {"userId": "zoe", "email": "zoe@acme.com", "workspace": {"__entity": {"type": "Workspace", "id": "acme"}}, "role": {"__entity": {"type": "Role", "id": "admin"}}, "license": "full", "memberOf": []}, "parents": [{"type": "Workspace", "id": "acme"}]}')"#);
    for (i, role) in ["user", "admin", "controller", "user"].iter().enumerate() {
        c.sql(&format!(
            r#"UPDATE teamgate_entities SET entity = jsonb_set(entity, '{{attrs,role}}', '{{"__entity": {{"type": "Role", "id": "{role}"}}}}') WHERE uid = 'User::"bob"'; UPDATE teamgate_entities SET entity = jsonb_set(entity, '{{attrs,email}}', '"gina{i}@acme.com"') WHERE uid = 'User::"gina"'"#
        ));
    }
    eventually("both serve zoe", || {
        settings(&a, "zoe") == "Allow" && settings(&b, "zoe") == "Allow"
    });
    c.sql(r#"DELETE FROM teamgate_entities WHERE uid = 'User::"zoe"'"#);
    eventually("both served the last change", || {
        settings(&a, "zoe") == "Deny" && settings(&b, "zoe") == "Deny"
    });
    eventually("the same data version", || {
        let (va, vb) = (data_version(&a), data_version(&b));
        !va.is_empty() && va == vb
    });
    // A third sidecar started now, reading everything at once, agrees.
    let late = serve(&c, &[]);
    let info = |s: &Server| {
        let mut v: Value = serde_json::from_str(&s.get("/v1/policies").1).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.remove("policies");
        }
        v
    };
    assert_eq!(
        data_version(&late),
        data_version(&a),
        "{}\n{}",
        info(&a),
        info(&late)
    );
    assert_eq!(settings(&late, "bob"), settings(&a, "bob"));
}

#[test]
fn db_load_refuses_data_that_breaks_the_rules_and_loads_nothing() {
    if !pg::available() {
        return;
    }
    let c = Cluster::start();
    assert_eq!(db(&["init", &c.url()]).0, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    let mut entities: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/entities.json")).expect("fixtures"),
    )
    .expect("json");
    // alice's role does not exist (AW1).
    let alice = entities
        .as_array_mut()
        .and_then(|a| a.iter_mut().find(|e| e["uid"]["id"] == "alice"))
        .expect("alice");
    alice["attrs"]["role"]["__entity"]["id"] = "nope".into();
    std::fs::write(&bad, entities.to_string()).expect("write");
    let (code, _, err) = db(&["load", &bad.display().to_string(), &c.url()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nope") && err.contains("nothing was loaded"),
        "{err}"
    );
    assert_eq!(c.sql("SELECT count(*) FROM teamgate_entities"), "0");
    // Not a URL last: a clear error.
    let (code, _, err) = db(&["load", &bad.display().to_string()]);
    assert_eq!(code, 1, "{err}");
}
