//! The data API over real HTTP: entity changes while the sidecar serves,
//! refused whole when they break a rule, durable across a killed process.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};
use util::server::{ask, client, Server};
use util::{run, ScratchBundle};

const TOKEN: &str = "data-api-token-0123456789";

/// A server with the data API on, its data store in `store_dir`.
fn start(store_dir: &std::path::Path) -> Server {
    let token = store_dir.join("token");
    std::fs::write(&token, TOKEN).expect("token");
    Server::start(&[
        "--no-watch",
        "--admin-token-file",
        &token.display().to_string(),
        "--data-store",
        &store_dir.join("data.redb").display().to_string(),
    ])
}

fn authed(b: RequestBuilder) -> RequestBuilder {
    b.header("authorization", format!("Bearer {TOKEN}"))
}

fn send(b: RequestBuilder) -> (u16, Value) {
    let r = b.send().expect("send");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn upsert(s: &Server, body: &Value) -> (u16, Value) {
    send(authed(client().post(format!("{}/v1/entities", s.base))).body(body.to_string()))
}

fn get_entity(s: &Server, t: &str, id: &str) -> (u16, Value) {
    send(authed(
        client().get(format!("{}/v1/entities/{t}/{id}", s.base)),
    ))
}

fn decision(s: &Server, p: &str, a: &str, r: &str) -> String {
    let (code, v) = s.post("/v1/is_authorized", &ask(p, a, r));
    assert_eq!(code, 200, "{v}");
    v["decision"].as_str().unwrap_or_default().to_string()
}

fn bob_as(s: &Server, role: &str) -> Value {
    let (code, mut bob) = get_entity(s, "User", "bob");
    assert_eq!(code, 200, "{bob}");
    bob["attrs"]["role"] = json!({"__entity": {"type": "Role", "id": role}});
    json!([bob])
}

const BOB: &str = "User::\"bob\"";
const MANAGE: &str = "Action::\"managePermissions\"";
const ACME: &str = "Workspace::\"acme\"";

#[test]
fn the_data_api_is_off_without_a_token_and_guarded_with_one() {
    let s = Server::start(&["--no-watch"]);
    let base = &s.base;
    for b in [
        client().post(format!("{base}/v1/entities")).body("[]"),
        client().delete(format!("{base}/v1/entities")).body("[]"),
        client().get(format!("{base}/v1/entities/User/bob")),
        client().put(format!("{base}/v1/data")).body("[]"),
    ] {
        let (code, v) = send(b);
        assert_eq!(code, 404, "{v}");
        assert!(v["error"].as_str().unwrap().contains("--admin-token-file"));
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let base = &s.base;
    for b in [
        client().post(format!("{base}/v1/entities")).body("[]"),
        client().get(format!("{base}/v1/entities/User/bob")),
        client()
            .put(format!("{base}/v1/data"))
            .header("authorization", "Bearer wrong")
            .body("[]"),
    ] {
        assert_eq!(send(b).0, 401);
    }
}

#[test]
fn changes_land_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Deny");
    let (_, before) = s.get("/v1/policies");
    let before: Value = serde_json::from_str(&before).unwrap();
    // bob becomes an admin: visible to the next decision.
    let (code, v) = upsert(&s, &bob_as(&s, "admin"));
    assert_eq!(code, 200, "{v}");
    assert_ne!(v["version"], before["version"]);
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Allow");
    let (_, g) = get_entity(&s, "User", "bob");
    assert_eq!(g["attrs"]["role"]["__entity"]["id"], "admin");
    let (_, now) = s.get("/v1/policies");
    let now: Value = serde_json::from_str(&now).unwrap();
    assert_eq!(now["version"], v["version"]);
    assert_eq!(now["data_changes"], 1);
    // A batch with one bad entity: 422 naming entity, path and rule; bob stays admin.
    let (_, mut carol) = get_entity(&s, "User", "carol");
    carol["attrs"]["role"] = json!({"__entity": {"type": "Role", "id": "owner"}});
    let mut batch = bob_as(&s, "guest");
    batch.as_array_mut().unwrap().push(carol);
    let (code, v) = upsert(&s, &batch);
    assert_eq!(code, 422, "{v}");
    let p = &v["problems"][0];
    assert_eq!(p["entity"], "User::\"carol\"", "{v}");
    assert_eq!(p["path"], "$[1].attrs.role", "{v}");
    assert_eq!(p["rule"], "AW1", "{v}");
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Allow");
    // Deleting what others refer to: 422 naming a referrer and the rule.
    let (code, v) = send(
        authed(client().delete(format!("{}/v1/entities", s.base)))
            .body(json!([{"type": "Project", "id": "website"}]).to_string()),
    );
    assert_eq!(code, 422, "{v}");
    assert!(v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["rule"] == "references-resolve"));
    // Optimistic concurrency: a stale If-Match is a 412 with the current version.
    let (_, cur) = s.get("/v1/policies");
    let cur: Value = serde_json::from_str(&cur).unwrap();
    let (code, v) = send(
        authed(client().post(format!("{}/v1/entities", s.base)))
            .header(
                "if-match",
                format!("\"{}\"", before["version"].as_str().unwrap()),
            )
            .body(bob_as(&s, "guest").to_string()),
    );
    assert_eq!(code, 412, "{v}");
    assert_eq!(v["version"], cur["version"]);
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Allow");
    let (code, v) = send(
        authed(client().post(format!("{}/v1/entities", s.base)))
            .header("if-match", cur["version"].as_str().unwrap())
            .body(bob_as(&s, "user").to_string()),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Deny");
    // `If-Match: *` matches whatever serves.
    let (code, v) = send(
        authed(client().post(format!("{}/v1/entities", s.base)))
            .header("if-match", "*")
            .body(bob_as(&s, "user").to_string()),
    );
    assert_eq!(code, 200, "{v}");
    // GET of what is not stored is a 404.
    assert_eq!(get_entity(&s, "User", "nobody").0, 404);
}

#[test]
fn bad_bodies_are_4xx_never_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let base = &s.base;
    let cases: Vec<(RequestBuilder, u16)> = vec![
        (
            client()
                .post(format!("{base}/v1/entities"))
                .body("not json"),
            400,
        ),
        (client().post(format!("{base}/v1/entities")).body("{}"), 400),
        (
            client().post(format!("{base}/v1/entities")).body("[1]"),
            400,
        ),
        (
            client().post(format!("{base}/v1/entities")).body("[{}]"),
            422,
        ),
        (
            client()
                .post(format!("{base}/v1/entities"))
                .body(r#"[{"uid": {"type": "Gizmo", "id": "x"}}]"#),
            422,
        ),
        (
            client()
                .post(format!("{base}/v1/entities"))
                .body(r#"[{"uid": {"type": "User", "id": "x"}, "attrs": {"role": 7}}]"#),
            422,
        ),
        (
            client()
                .delete(format!("{base}/v1/entities"))
                .body(r#"[{"id": "x"}]"#),
            400,
        ),
        (
            client()
                .delete(format!("{base}/v1/entities"))
                .body(r#"["User::\"x\""]"#),
            400,
        ),
        (
            client()
                .delete(format!("{base}/v1/entities"))
                .body(r#"[{"type": "Gizmo", "id": "x"}]"#),
            422,
        ),
        (client().put(format!("{base}/v1/data")).body("[]"), 200),
        (
            client().get(format!("{base}/v1/entities/Bad%20Type/x")),
            400,
        ),
    ];
    for (i, (b, want)) in cases.into_iter().enumerate() {
        let (code, v) = send(authed(b));
        assert_eq!(code, want, "case {i}: {v}");
        if want >= 400 {
            assert!(v["error"].is_string(), "case {i}: {v}");
        }
    }
    // An empty replacement is taken: no entity at all, every request denied.
    assert_eq!(
        decision(&s, BOB, "Action::\"viewProject\"", "Project::\"website\""),
        "Deny"
    );
}

#[test]
fn changes_survive_a_killed_process_and_validate_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.redb").display().to_string();
    let version;
    {
        let mut s = start(dir.path());
        let (code, v) = upsert(&s, &bob_as(&s, "admin"));
        assert_eq!(code, 200, "{v}");
        version = v["version"].clone();
        // kill -9 right after the 200.
        s.child.kill().expect("SIGKILL");
        s.child.wait().expect("reaped");
    }
    // A new process over a fresh copy of the same bundle, without the data
    // API: the recorded change still applies, with the same version.
    let s = Server::start(&["--no-watch", "--data-store", &store]);
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Allow");
    let (_, p) = s.get("/v1/policies");
    let p: Value = serde_json::from_str(&p).unwrap();
    assert_eq!(p["version"], version);
    drop(s);
    let bundle = ScratchBundle::new();
    let (code, out, err) = run(&[
        "validate",
        "--bundle",
        &bundle.arg(),
        "--data-store",
        &store,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("with 1 changes from"), "{out}");
    assert!(out.contains(version.as_str().unwrap()), "{out}");
    // Reset: the entity files serve alone again.
    let (code, out, err) = run(&[
        "data",
        "reset",
        "--bundle",
        &bundle.arg(),
        "--data-store",
        &store,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = run(&[
        "validate",
        "--bundle",
        &bundle.arg(),
        "--data-store",
        &store,
    ]);
    assert!(!out.contains("changes from"), "{out}");
}

#[test]
fn an_entity_file_edit_reloads_under_the_recorded_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    assert_eq!(upsert(&s, &bob_as(&s, "admin")).0, 200);
    // dan's address changes in the file; bob stays an admin.
    s.bundle()
        .edit("fixtures/entities.json", "dan@acme.com", "daniel@acme.com");
    let (code, v) = send(authed(client().post(format!("{}/v1/reload", s.base))));
    assert_eq!(code, 200, "{v}");
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Allow");
    let (_, dan) = get_entity(&s, "User", "dan");
    assert_eq!(dan["attrs"]["email"], "daniel@acme.com");
    // A file edit that the recorded change no longer fits is refused; the
    // last good snapshot keeps serving.
    s.bundle().edit(
        "fixtures/entities.json",
        "\"id\": \"admin\"",
        "\"id\": \"administrator\"",
    );
    let (code, _) = send(authed(client().post(format!("{}/v1/reload", s.base))));
    assert_eq!(code, 422);
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Allow");
}

#[test]
fn changes_under_load_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(start(dir.path()));
    let stop = Arc::new(AtomicBool::new(false));
    let (asked, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let askers: Vec<_> = (0..4)
        .map(|_| {
            let (s, stop, asked, failed) = (s.clone(), stop.clone(), asked.clone(), failed.clone());
            std::thread::spawn(move || {
                let c = client();
                while !stop.load(Ordering::Relaxed) {
                    let r = c
                        .post(format!("{}/v1/is_authorized", s.base))
                        .body(ask(BOB, MANAGE, ACME))
                        .send();
                    asked.fetch_add(1, Ordering::Relaxed);
                    match r.map(|r| (r.status().as_u16(), r.json::<Value>())) {
                        Ok((200, Ok(v))) if v["decision"].is_string() => {}
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for i in 0..40 {
        let role = if i % 2 == 0 { "admin" } else { "user" };
        let (code, v) = upsert(&s, &bob_as(&s, role));
        assert_eq!(code, 200, "{v}");
    }
    stop.store(true, Ordering::Relaxed);
    for a in askers {
        a.join().expect("asker");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(asked.load(Ordering::Relaxed) > 40);
    assert_eq!(decision(&s, BOB, MANAGE, ACME), "Deny");
    let (_, m) = s.get("/metrics");
    assert!(
        m.contains("teamgate_data_changes_total{outcome=\"taken\"} 40"),
        "{m}"
    );
}
