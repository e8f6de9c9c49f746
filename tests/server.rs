//! The sidecar over real HTTP on an ephemeral loopback port, as an
//! application meets it.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::server::{ask, client, eventually, Server};
use util::{run, teamgate};

#[test]
fn is_authorized_answers_in_cedar_agent_shape() {
    let s = Server::start(&[]);
    // A body written for cedar-agent: string uids, context, additional_entities.
    let (code, v) = s.post(
        "/v1/is_authorized",
        r#"{"principal": "User::\"erin\"", "action": "Action::\"editProjectDetails\"", "resource": "Project::\"website\"", "context": {}, "additional_entities": []}"#,
    );
    assert_eq!(code, 200);
    assert_eq!(v["decision"], "Deny");
    assert_eq!(
        v["diagnostics"]["reason"],
        json!(["external.never-edit-project-details"])
    );
    assert_eq!(v["diagnostics"]["errors"], json!([]));
    assert_eq!(v["version"].as_str().unwrap().len(), 16);
    // The object form.
    let (code, v) = s.post("/v1/is_authorized", &json!({"principal": {"type": "User", "id": "bob"}, "action": {"type": "Action", "id": "viewProject"}, "resource": {"type": "Project", "id": "website"}}).to_string());
    assert_eq!(code, 200);
    assert_eq!(v["decision"], "Allow");
}

#[test]
fn batches_answer_in_order_from_one_snapshot() {
    let s = Server::start(&[]);
    let reqs = vec![
        json!({"principal": "User::\"bob\"", "action": "Action::\"viewProject\"", "resource": "Project::\"website\""}),
        json!({"principal": "User::\"erin\"", "action": "Action::\"viewProject\"", "resource": "Project::\"internal\""}),
        json!({"principal": "User::\"frank\"", "action": "Action::\"completeTask\"", "resource": "Task::\"website-qa\""}),
        json!({"principal": "User::\"frank\"", "action": "Action::\"editTask\"", "resource": "Task::\"website-qa\""}),
        // The first pair again, not next to it (batches are decided grouped
        // by principal and resource, and answered in order).
        json!({"principal": "User::\"bob\"", "action": "Action::\"editProjectDetails\"", "resource": "Project::\"website\""}),
    ];
    let (code, v) = s.post(
        "/v1/batch_is_authorized",
        &json!({"requests": reqs}).to_string(),
    );
    assert_eq!(code, 200);
    let decisions: Vec<&str> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions[..4], ["Allow", "Deny", "Allow", "Deny"]);
    assert_eq!(decisions.len(), 5);
    for (i, r) in reqs.iter().enumerate() {
        let (_, single) = s.post("/v1/is_authorized", &r.to_string());
        assert_eq!(
            single, v["responses"][i],
            "batch answer {i} equals the single answer"
        );
    }
    // Over the limit: 400 naming the field.
    let many: Vec<Value> = (0..101).map(|_| reqs[0].clone()).collect();
    let (code, v) = s.post(
        "/v1/batch_is_authorized",
        &json!({"requests": many}).to_string(),
    );
    assert_eq!(code, 400);
    assert_eq!(v["field"], "requests");
    // A bad item names its index.
    let (code, v) = s.post("/v1/batch_is_authorized", &json!({"requests": [reqs[0], {"principal": "User::\"bob\"", "action": "Action::\"nope\"", "resource": "Project::\"website\""}]}).to_string());
    assert_eq!(code, 400);
    assert_eq!(v["field"], "requests[1].action");
}

#[test]
fn bad_input_is_a_4xx_naming_the_field_never_a_500() {
    let s = Server::start(&[]);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", r#"{"principal": "User::\"bob\"","#.into(), 400, "body"),
        ("not an object", "[1, 2]".into(), 400, "body"),
        ("missing field", r#"{"principal": "User::\"bob\"", "action": "Action::\"viewProject\""}"#.into(), 400, "body"),
        ("unknown field", r#"{"principal": "User::\"bob\"", "action": "Action::\"viewProject\"", "resource": "Project::\"website\"", "contxt": {}}"#.into(), 400, "contxt"),
        ("unparsable uid", ask("bob", "Action::\"viewProject\"", "Project::\"website\""), 400, "principal"),
        ("unknown entity type", ask("Robot::\"r2\"", "Action::\"viewProject\"", "Project::\"website\""), 400, "principal"),
        ("unknown action", ask("User::\"bob\"", "Action::\"launchRockets\"", "Project::\"website\""), 400, "action"),
        ("action group", ask("User::\"bob\"", "Action::\"area:projectDetails:edit\"", "Project::\"website\""), 400, "action"),
        ("wrong resource type", ask("User::\"bob\"", "Action::\"viewTask\"", "Project::\"website\""), 400, "resource"),
        ("missing context key", ask("User::\"bob\"", "Action::\"logTime\"", "Project::\"website\""), 400, "context"),
        ("wrong context type", json!({"principal": "User::\"bob\"", "action": "Action::\"viewProjectField\"", "resource": "Project::\"website\"", "context": {"field": 3}}).to_string(), 400, "context"),
        ("reference of the wrong kind", r#"{"principal": 42, "action": "Action::\"viewProject\"", "resource": "Project::\"website\""}"#.into(), 400, "principal"),
        ("reference without an id", r#"{"principal": {"type": "User"}, "action": "Action::\"viewProject\"", "resource": "Project::\"website\""}"#.into(), 400, "principal"),
        ("reference with a key twice", r#"{"principal": {"type": "User", "id": "bob", "id": "erin"}, "action": "Action::\"viewProject\"", "resource": "Project::\"website\""}"#.into(), 400, "principal"),
        ("bad additional entities", json!({"principal": "User::\"bob\"", "action": "Action::\"viewProject\"", "resource": "Project::\"website\"", "additional_entities": [{"uid": {"type": "Nope", "id": "x"}, "attrs": {}, "parents": []}]}).to_string(), 400, "additional_entities"),
    ];
    for (what, body, status, field) in cases {
        let (code, v) = s.post("/v1/is_authorized", &body);
        assert_eq!(code, status, "{what}: {v}");
        assert!(
            v["field"].as_str().unwrap_or_default().starts_with(field),
            "{what}: {v}"
        );
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {v}"
        );
    }
    // Over the body limit: 413.
    let big = format!(
        r#"{{"principal": "User::\"bob\"", "action": "Action::\"viewProject\"", "resource": "Project::\"website\"", "context": {{"pad": "{}"}}}}"#,
        "x".repeat(1100 * 1024)
    );
    let (code, _) = s.post("/v1/is_authorized", &big);
    assert_eq!(code, 413);
    // An unknown entity id is not malformed: it is a Deny that says why.
    let (code, v) = s.post(
        "/v1/is_authorized",
        &ask(
            "User::\"mallory\"",
            "Action::\"viewProject\"",
            "Project::\"website\"",
        ),
    );
    assert_eq!(code, 200);
    assert_eq!(v["decision"], "Deny");
    assert!(
        v["diagnostics"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("unknown principal"),
        "{v}"
    );
    // An evaluation error is a Deny too.
    let (code, v) = s.post("/v1/is_authorized", &json!({"principal": "User::\"bob\"", "action": "Action::\"inviteExternal\"", "resource": "Project::\"website\"", "context": {"inviteeEmail": "x@partner.example", "invitee": {"type": "User", "id": "ghost"}}}).to_string());
    assert_eq!(code, 200);
    assert_eq!(v["decision"], "Deny");
    assert_eq!(v["diagnostics"]["errors"].as_array().unwrap().len(), 1);
    let (_, metrics) = s.get("/metrics");
    assert!(
        metrics.contains("teamgate_http_errors_total{status=\"400\"} 15"),
        "{metrics}"
    );
    assert!(
        metrics.contains("teamgate_http_errors_total{status=\"413\"} 1"),
        "{metrics}"
    );
}

#[test]
fn additional_entities_apply_to_one_request_and_entities_replace() {
    // cedar-agent's semantics, for those who ask for them.
    let s = Server::start(&["--request-entities", "replace"]);
    let acme_off = json!({"uid": {"type": "Workspace", "id": "acme"}, "parents": [], "attrs": {
        "domain": "acme.com", "plan": "business", "subscription": "active", "guestSharing": false,
        "guestEmailsUsed": 1, "connectionDomainExceptions": [], "ownProjects": 3}});
    let base = json!({"principal": "User::\"ivy\"", "action": "Action::\"viewProject\"", "resource": "Project::\"launch\""});
    let mut with = base.clone();
    with["additional_entities"] = json!([acme_off]);
    assert_eq!(
        s.post("/v1/is_authorized", &with.to_string()).1["decision"],
        "Deny"
    );
    assert_eq!(
        s.post("/v1/is_authorized", &base.to_string()).1["decision"],
        "Allow",
        "the store is unchanged"
    );
    // `entities` replaces the store: without ivy's project, ivy is unknown.
    let mut only = base.clone();
    only["entities"] = json!([acme_off]);
    let (code, v) = s.post("/v1/is_authorized", &only.to_string());
    assert_eq!(code, 200);
    assert_eq!(v["decision"], "Deny");
    assert!(
        v["diagnostics"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("unknown principal"),
        "{v}"
    );
}

#[test]
fn status_endpoints() {
    let s = Server::start(&[]);
    assert_eq!(s.get("/healthz"), (200, "ok\n".into()));
    let (code, ready) = s.get("/readyz");
    assert_eq!(code, 200);
    assert!(ready.contains("\"ready\":true"), "{ready}");
    let (code, body) = s.get("/v1/policies");
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let ext = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "external.never-edit-project-details")
        .unwrap();
    assert_eq!(ext["file"], "policies/licenses/external.cedar");
    assert_eq!(ext["effect"], "forbid");
    assert_eq!(v["last_reload_error"], Value::Null);
    s.post(
        "/v1/is_authorized",
        &ask(
            "User::\"bob\"",
            "Action::\"viewProject\"",
            "Project::\"website\"",
        ),
    );
    let (_, m) = s.get("/metrics");
    assert!(
        m.contains("teamgate_decisions_total{decision=\"allow\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("teamgate_decision_duration_seconds_count 1"),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "teamgate_policy_version_info{{version=\"{}\"}} 1",
            v["version"].as_str().unwrap()
        )),
        "{m}"
    );
}

#[test]
fn reload_endpoint_is_off_without_a_token_and_guarded_with_one() {
    let s = Server::start(&["--no-watch"]);
    assert_eq!(s.post("/v1/reload", "").0, 404);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token-0123456789\n").unwrap();
    let s = Server::start(&[
        "--no-watch",
        "--admin-token-file",
        &token.display().to_string(),
    ]);
    assert_eq!(s.post("/v1/reload", "").0, 401);
    let wrong = client()
        .post(format!("{}/v1/reload", s.base))
        .header("authorization", "Bearer nope")
        .send()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    s.bundle().write("policies/rules/probe.cedar", "@id(\"probe\")\npermit (principal == User::\"carol\", action == Action::\"createProject\", resource);\n");
    let ok = client()
        .post(format!("{}/v1/reload", s.base))
        .header("authorization", "Bearer s3cret-token-0123456789")
        .send()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        s.post(
            "/v1/is_authorized",
            &ask(
                "User::\"carol\"",
                "Action::\"createProject\"",
                "Workspace::\"acme\""
            )
        )
        .1["decision"],
        "Allow"
    );
    s.bundle().write("policies/rules/probe.cedar", "broken");
    let bad = client()
        .post(format!("{}/v1/reload", s.base))
        .header("authorization", "Bearer s3cret-token-0123456789")
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    let (_, body) = s.get("/v1/policies");
    assert!(
        body.contains("policies/rules/probe.cedar"),
        "the last error names the file: {body}"
    );
}

#[test]
fn a_policy_edit_lands_while_clients_keep_asking() {
    let s = Arc::new(Server::start(&[]));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed, allowed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let worker = {
        let (s, stop, sent, failed, allowed) = (
            s.clone(),
            stop.clone(),
            sent.clone(),
            failed.clone(),
            allowed.clone(),
        );
        std::thread::spawn(move || {
            let c = client();
            let body = ask(
                "User::\"carol\"",
                "Action::\"createProject\"",
                "Workspace::\"acme\"",
            );
            while !stop.load(Ordering::Relaxed) {
                match c
                    .post(format!("{}/v1/is_authorized", s.base))
                    .body(body.clone())
                    .send()
                {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let v: Value = r.json().unwrap_or(Value::Null);
                        if v["decision"] == "Allow" {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        } else if v["decision"] != "Deny"
                            || !v["diagnostics"]["errors"]
                                .as_array()
                                .is_some_and(|e| e.is_empty())
                        {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    eventually("requests flow", || sent.load(Ordering::Relaxed) > 20);
    s.bundle().write("policies/rules/probe.cedar", "@id(\"probe\")\npermit (principal == User::\"carol\", action == Action::\"createProject\", resource);\n");
    eventually("the new decision appears", || {
        allowed.load(Ordering::Relaxed) > 0
    });
    s.bundle().write(
        "policies/rules/probe.cedar",
        "@id(\"probe\")\npermit (principal == User::\"carol\", action resource);\n",
    );
    eventually("the bad edit is recorded", || {
        s.get("/v1/policies").1.contains("probe.cedar")
    });
    let before = allowed.load(Ordering::Relaxed);
    eventually("the last good set keeps serving", || {
        allowed.load(Ordering::Relaxed) > before + 5
    });
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed during reloads"
    );
}

#[test]
fn sighup_reloads() {
    let s = Server::start(&["--no-watch"]);
    let body = ask(
        "User::\"carol\"",
        "Action::\"createProject\"",
        "Workspace::\"acme\"",
    );
    assert_eq!(s.post("/v1/is_authorized", &body).1["decision"], "Deny");
    s.bundle().write("policies/rules/probe.cedar", "@id(\"probe\")\npermit (principal == User::\"carol\", action == Action::\"createProject\", resource);\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        s.post("/v1/is_authorized", &body).1["decision"],
        "Deny",
        "no watcher: nothing changes by itself"
    );
    s.signal("-HUP");
    eventually("SIGHUP reloaded", || {
        s.post("/v1/is_authorized", &body).1["decision"] == "Allow"
    });
}

#[test]
fn one_worker_thread_answers_watches_reloads_and_stops_like_many() {
    use std::net::TcpStream;
    // `--workers 1` runs the sidecar on a single-thread scheduler.
    let mut s = Server::start(&["--workers", "1", "--header-timeout", "60"]);
    let body = ask(
        "User::\"carol\"",
        "Action::\"createProject\"",
        "Workspace::\"acme\"",
    );
    assert_eq!(s.post("/v1/is_authorized", &body).1["decision"], "Deny");
    // Clients that never finish their headers hold nobody up.
    let addr = s.base.trim_start_matches("http://").to_string();
    let slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut t = TcpStream::connect(&addr).expect("connect");
            t.write_all(b"POST /v1/is_authorized HTTP/1.1\r\nHost: x\r\n")
                .expect("partial headers");
            t
        })
        .collect();
    let (code, v) = s.post(
        "/v1/batch_is_authorized",
        &format!(r#"{{"requests": [{body}, {body}]}}"#),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["responses"][1]["decision"], "Deny");
    // The watcher's reload lands while connections are open.
    s.bundle().write("policies/rules/probe.cedar", "@id(\"probe\")\npermit (principal == User::\"carol\", action == Action::\"createProject\", resource);\n");
    eventually("the edit landed", || {
        s.post("/v1/is_authorized", &body).1["decision"] == "Allow"
    });
    // A request bringing its own entities (decided off the event loop).
    let new_customer = json!({"uid": {"type": "Customer", "id": "c-new"},
        "attrs": {"workspace": {"__entity": {"type": "Workspace", "id": "acme"}}},
        "parents": [{"type": "Workspace", "id": "acme"}]});
    let with = json!({"principal": "User::\"bob\"", "action": "Action::\"viewCustomer\"", "resource": "Customer::\"c-new\"", "additional_entities": [new_customer]});
    let (code, v) = s.post("/v1/is_authorized", &with.to_string());
    assert_eq!((code, &v["decision"]), (200, &json!("Allow")), "{v}");
    drop(slow);
    stops_on_sigterm(&mut s);
}

/// Sends SIGTERM and waits (at most 20 s) for the server to exit 0.
fn stops_on_sigterm(s: &mut Server) {
    s.signal("-TERM");
    let start = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_finishes_and_exits_zero() {
    let mut s = Server::start(&[]);
    assert_eq!(s.get("/healthz").0, 200);
    stops_on_sigterm(&mut s);
}

#[test]
fn decision_log_writes_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let s = Server::start(&["--decision-log", &log.display().to_string()]);
    s.post(
        "/v1/is_authorized",
        &ask(
            "User::\"erin\"",
            "Action::\"editProjectDetails\"",
            "Project::\"website\"",
        ),
    );
    // A request that brings entities of its own is marked in the log.
    let with_entities = json!({"principal": "User::\"bob\"", "action": "Action::\"viewProject\"", "resource": "Project::\"website\"",
        "additional_entities": [{"uid": {"type": "Customer", "id": "c-new"},
            "attrs": {"workspace": {"__entity": {"type": "Workspace", "id": "acme"}}}, "parents": []}]});
    s.post("/v1/is_authorized", &with_entities.to_string());
    eventually("two lines are written", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 2)
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["request"]["principal"], "User::\"erin\"");
    assert_eq!(first["decision"], "Deny");
    assert_eq!(
        first["reasons"],
        json!(["external.never-edit-project-details"])
    );
    assert!(first["latency_us"].as_f64().unwrap() > 0.0);
    assert_eq!(first["version"].as_str().unwrap().len(), 16);
    assert!(first["time"].as_f64().unwrap() > 1.7e9);
    assert_eq!(first["request_entities"], false);
    let second: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(second["request_entities"], true, "{second}");
    assert_eq!(second["decision"], "Allow");
}

#[test]
fn a_stalled_client_times_out() {
    let s = Server::start(&["--request-timeout", "1"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    // Announce a body and never finish sending it.
    conn.write_all(b"POST /v1/is_authorized HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"principal\"").unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

#[test]
fn listens_on_loopback_by_default() {
    let (code, out, _) = util::run(&["serve", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("[default: 127.0.0.1:8180]"), "{out}");
}

#[test]
fn openapi_document_matches_the_server() {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(util::repo().join("openapi.yaml")).unwrap())
            .unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            documented.push((
                method.as_str().unwrap().to_string(),
                path.as_str().unwrap().to_string(),
            ));
        }
    }
    documented.sort();
    let mut served: Vec<(String, String)> = teamgate::server::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
    let props: Vec<&str> = doc["components"]["schemas"]["AuthorizeRequest"]["properties"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        props,
        [
            "principal",
            "action",
            "resource",
            "context",
            "additional_entities",
            "entities"
        ]
    );
    // The documented example gets the documented answer shape.
    let s = Server::start(&[]);
    let example = &doc["paths"]["/v1/is_authorized"]["post"]["requestBody"]["content"]
        ["application/json"]["example"];
    let (code, v) = s.post(
        "/v1/is_authorized",
        &serde_json::to_string(example).unwrap(),
    );
    assert_eq!(code, 200);
    let required: Vec<&str> = doc["components"]["schemas"]["AuthorizeResponse"]["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for key in required {
        assert!(v.get(key).is_some(), "answer lacks {key}: {v}");
    }
    assert_eq!(v.as_object().unwrap().len(), 3, "no undocumented keys: {v}");
}

#[test]
fn additional_entities_over_a_large_store_are_refused_not_stalled() {
    // The demo store has 40 entities: a limit of 10 stands for a large store.
    let s = Server::start(&[
        "--request-entities",
        "override",
        "--max-rebuild-entities",
        "10",
    ]);
    let body = json!({"principal": "User::\"ivy\"", "action": "Action::\"viewProject\"", "resource": "Project::\"launch\"",
        "additional_entities": [{"uid": {"type": "Customer", "id": "c-new"}, "attrs": {"workspace": {"__entity": {"type": "Workspace", "id": "acme"}}}, "parents": []}]});
    let (code, v) = s.post("/v1/is_authorized", &body.to_string());
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["field"], "additional_entities");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("40 entities"),
        "{v}"
    );
    // An empty list costs nothing and is fine at any size.
    let mut empty = body.clone();
    empty["additional_entities"] = json!([]);
    let (code, v) = s.post("/v1/is_authorized", &empty.to_string());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["decision"], "Allow");
}

#[test]
fn request_entities_only_add_by_default() {
    let s = Server::start(&[]);
    let new_customer = json!({"uid": {"type": "Customer", "id": "c-new"},
        "attrs": {"workspace": {"__entity": {"type": "Workspace", "id": "acme"}}},
        "parents": [{"type": "Workspace", "id": "acme"}]});
    let ask = json!({"principal": "User::\"bob\"", "action": "Action::\"viewCustomer\"", "resource": "Customer::\"c-new\""});
    // Without it, an unknown resource: a deny that says why.
    let (code, v) = s.post("/v1/is_authorized", &ask.to_string());
    assert_eq!(code, 200);
    assert_eq!(v["decision"], "Deny");
    // Added for this request: bob's role sees customers of his workspace.
    let mut with = ask.clone();
    with["additional_entities"] = json!([new_customer]);
    let (code, v) = s.post("/v1/is_authorized", &with.to_string());
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["decision"], "Allow", "{v}");
    // A stored uid may not be replaced: dan (a guest) does not become an admin.
    let dan_admin = json!({"uid": {"type": "User", "id": "dan"}, "parents": [{"type": "Workspace", "id": "acme"}],
        "attrs": {"userId": "dan", "email": "dan@acme.com", "workspace": {"__entity": {"type": "Workspace", "id": "acme"}},
                  "role": {"__entity": {"type": "Role", "id": "admin"}}, "license": "full",
                  "memberOf": [{"__entity": {"type": "Project", "id": "website"}}]}});
    let body = json!({"principal": "User::\"dan\"", "action": "Action::\"deleteWorkspace\"", "resource": "Workspace::\"acme\"",
        "additional_entities": [dan_admin]});
    let (code, v) = s.post("/v1/is_authorized", &body.to_string());
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["field"], "additional_entities");
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("User::\"dan\"") && error.contains("already stored"),
        "{v}"
    );
    // An added entity must pass the loader's checks: a user without a role.
    let roleless = json!({"uid": {"type": "User", "id": "newbie"}, "parents": [],
        "attrs": {"userId": "newbie", "email": "newbie@acme.com", "workspace": {"__entity": {"type": "Workspace", "id": "acme"}},
                  "license": "full", "memberOf": []}});
    // `request` with `entity` added is a 400 whose error says `why`.
    let refused = |mut request: Value, entity: Value, why: &str| {
        request["additional_entities"] = json!([entity]);
        let (code, v) = s.post("/v1/is_authorized", &request.to_string());
        assert_eq!(code, 400, "{v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(why), "{v}");
    };
    refused(ask.clone(), roleless, "AW1");
    // An attribute the schema does not declare is refused: the engine folds
    // `resource has project` to false where the type declares no `project`,
    // and may, because no entity it decides over can carry one.
    let stowaway = json!({"uid": {"type": "Customer", "id": "c-extra"},
        "attrs": {"workspace": {"__entity": {"type": "Workspace", "id": "acme"}},
                  "project": {"__entity": {"type": "Project", "id": "website"}}},
        "parents": [{"type": "Workspace", "id": "acme"}]});
    let bob_asks = json!({"principal": "User::\"bob\"", "action": "Action::\"viewCustomer\"", "resource": "Customer::\"c-extra\""});
    refused(bob_asks, stowaway, "\"project\" is not declared");
    // An added user who claims to be a member of a stored project whose tags
    // do not name them is refused too.
    let intruder = json!({"uid": {"type": "User", "id": "intruder"}, "parents": [{"type": "Workspace", "id": "acme"}],
        "attrs": {"userId": "intruder", "email": "intruder@acme.com", "workspace": {"__entity": {"type": "Workspace", "id": "acme"}},
                  "role": {"__entity": {"type": "Role", "id": "user"}}, "license": "full",
                  "memberOf": [{"__entity": {"type": "Project", "id": "internal"}}]}});
    let sneaky = json!({"principal": "User::\"intruder\"", "action": "Action::\"viewProject\"", "resource": "Project::\"internal\""});
    refused(sneaky, intruder, "tags do not name");
    // `entities` (instead of the store) is off unless enabled.
    let mut instead = ask.clone();
    instead["entities"] = json!([new_customer]);
    let (code, v) = s.post("/v1/is_authorized", &instead.to_string());
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["field"], "entities");
}

#[test]
fn override_replaces_a_stored_entity_for_one_request() {
    let s = Server::start(&["--request-entities", "override"]);
    let acme_off = json!({"uid": {"type": "Workspace", "id": "acme"}, "parents": [], "attrs": {
        "domain": "acme.com", "plan": "business", "subscription": "active", "guestSharing": false,
        "guestEmailsUsed": 1, "connectionDomainExceptions": [], "ownProjects": 3}});
    let body = json!({"principal": "User::\"ivy\"", "action": "Action::\"viewProject\"", "resource": "Project::\"launch\"",
        "additional_entities": [acme_off]});
    let (code, v) = s.post("/v1/is_authorized", &body.to_string());
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["decision"], "Deny",
        "guest sharing switched off for this request"
    );
}

#[test]
fn sighup_during_a_long_load_does_not_kill_the_server() {
    // A bundle large enough that loading it takes a while in a test build.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("big");
    let (code, _, err) = run(&[
        "generate",
        "--users",
        "40000",
        "--requests",
        "10",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut child = teamgate()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-watch",
            "--bundle",
            bundle.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("listening"),
        "the server died during its load: {line:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_non_loopback_address_is_warned_about() {
    let mut child = teamgate()
        .args(["serve", "--listen", "0.0.0.0:0", "--no-watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "{line}");
    let _ = child.kill();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    assert!(err.contains("not loopback"), "{err}");
}

#[test]
fn readyz_reports_a_stale_watcher() {
    let s = Server::start(&[]);
    let (code, body) = s.get("/readyz");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["watcher"]["up"], true, "{v}");
    let (_, m) = s.get("/metrics");
    assert!(m.contains("teamgate_watcher_up 1"), "{m}");
    // A watcher that looks only hourly, and a bound of one second.
    let s = Server::start(&["--rescan-interval", "3600", "--max-staleness", "1"]);
    assert_eq!(s.get("/readyz").0, 200);
    eventually("readyz says the bundle was not looked at lately", || {
        s.get("/readyz").0 == 503
    });
    let (_, body) = s.get("/readyz");
    assert!(body.contains("last looked at"), "{body}");
    // Without a watcher there is nothing to be stale.
    let s = Server::start(&["--no-watch", "--max-staleness", "1"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.get("/readyz").0, 200);
}

#[test]
fn slow_clients_neither_starve_others_nor_hold_connections() {
    use std::net::TcpStream;
    // 5,000 clients that start a request and never finish its headers.
    let s = Server::start(&["--no-watch", "--header-timeout", "60"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..5000 {
        let mut t = TcpStream::connect(&addr).expect("connect");
        t.write_all(b"POST /v1/is_authorized HTTP/1.1\r\nHost: x\r\n")
            .expect("partial headers");
        slow.push(t);
    }
    // Everyone else is still answered (a client that gives up after 10 s).
    let quick = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for _ in 0..20 {
        let r = quick
            .post(format!("{}/v1/is_authorized", s.base))
            .body(ask(
                "User::\"bob\"",
                "Action::\"viewProject\"",
                "Project::\"website\"",
            ))
            .send()
            .expect("answered beside 5,000 slow clients");
        assert_eq!(r.status().as_u16(), 200);
    }
    drop(slow);
    // A slow client is cut off after the header deadline.
    let s = Server::start(&["--no-watch", "--header-timeout", "1"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut t = TcpStream::connect(&addr).unwrap();
    t.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    t.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    // Ok: the server closed it (a read timing out would be an error).
    let closed = t.read_to_end(&mut buf);
    assert!(
        closed.is_ok(),
        "the server keeps a slow connection open: {closed:?}"
    );
    // Beyond --max-connections, new connections are closed at once.
    let s = Server::start(&["--no-watch", "--max-connections", "4"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    eventually("the fifth connection is refused", || {
        let mut t = TcpStream::connect(&addr).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = t.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 64];
        matches!(t.read(&mut buf), Ok(0) | Err(_))
    });
    drop(idle);
    // Until the server has seen them close, a new connection may still be
    // refused: retry rather than fail on a reset.
    eventually("room again once they close", || {
        util::server::client()
            .get(format!("{}/healthz", s.base))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200)
    });
    let (_, m) = s.get("/metrics");
    assert!(!m.contains("teamgate_connections_refused_total 0"), "{m}");
}

#[test]
fn decision_log_masks_rotates_on_sigusr1_and_flushes_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let mut s = Server::start(&[
        "--no-watch",
        "--decision-log",
        &log.display().to_string(),
        "--decision-log-mask",
        "context.inviteeEmail",
    ]);
    let invite = json!({"principal": "User::\"erin\"", "action": "Action::\"inviteExternal\"",
        "resource": "Project::\"website\"", "context": {"inviteeEmail": "secret@partner.example"}});
    assert_eq!(s.post("/v1/is_authorized", &invite.to_string()).0, 200);
    eventually("the line is written", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 1)
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("secret@partner.example"), "{text}");
    assert!(text.contains("**masked**"), "{text}");
    // logrotate moves the file away, then sends SIGUSR1.
    std::fs::rename(&log, dir.path().join("decisions.jsonl.1")).unwrap();
    s.signal("-USR1");
    let mut answered = 0;
    eventually("a new file is opened and written", || {
        assert_eq!(s.post("/v1/is_authorized", &invite.to_string()).0, 200);
        answered += 1;
        std::fs::read_to_string(&log).is_ok_and(|t| !t.is_empty())
    });
    // Every line answered before SIGTERM is in the file when the process exits.
    for _ in 0..200 {
        assert_eq!(s.post("/v1/is_authorized", &invite.to_string()).0, 200);
        answered += 1;
    }
    s.signal("-TERM");
    let status = s.child.wait().expect("exits");
    assert!(status.success());
    let after = std::fs::read_to_string(&log).unwrap().lines().count();
    // Lines answered before the reopen took effect went to the old file.
    let old = std::fs::read_to_string(dir.path().join("decisions.jsonl.1"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        old + after,
        answered + 1,
        "{old} + {after} lines for {answered} + 1 answers"
    );
}

/// `POST /v1/floor` (the HTTP floor for load tests) exists only when asked
/// for, decides nothing and answers a constant deny.
#[test]
fn the_floor_route_is_off_by_default_and_never_allows() {
    let body = ask(
        "User::\"alice\"",
        "Action::\"deleteProject\"",
        "Project::\"website\"",
    );
    let s = Server::start(&[]);
    assert_eq!(s.post("/v1/floor", &body).0, 404);
    let s = Server::start(&["--floor-route"]);
    let (code, v) = s.post("/v1/floor", &body);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["decision"], "Deny");
    assert_eq!(v["version"], "floor");
    // The same request, decided, is an allow: the floor did not decide it.
    let (_, decided) = s.post("/v1/is_authorized", &body);
    assert_eq!(decided["decision"], "Allow", "{decided}");
}
