//! Hot reload: edits of a temporary bundle in every way an editor, a reviewer
//! or Kubernetes makes them, seen through the store and the watcher.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use teamgate::store::ReloadOutcome;
use teamgate::store::WatchGuard;
use teamgate::{Bundle, Query, Store};
use util::ScratchBundle;

const PROBE: &str = "@id(\"probe\")\n@rules(\"AW3\")\npermit (principal == User::\"carol\", action == Action::\"createProject\", resource);\n";

fn query(p: &str, a: &str, r: &str) -> Query {
    Query::new(p.parse().unwrap(), a.parse().unwrap(), r.parse().unwrap()).with_context(json!({}))
}

fn carol_creates(store: &Store) -> bool {
    let s = store.snapshot();
    s.decide(
        &query(
            r#"User::"carol""#,
            r#"Action::"createProject""#,
            r#"Workspace::"acme""#,
        ),
        None,
    )
    .is_allowed()
}

/// Waits (generously: machines are shared) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting until {what}");
}

fn watched(b: &ScratchBundle) -> (Arc<Store>, WatchGuard) {
    let store = Arc::new(Store::open(Bundle::new(b.path())).expect("bundle loads"));
    let w = store.watch().expect("watcher starts");
    (store, w)
}

#[test]
fn new_edited_and_deleted_files_are_picked_up() {
    let b = ScratchBundle::new();
    let (store, _w) = watched(&b);
    assert!(!carol_creates(&store));
    b.write("policies/rules/probe.cedar", PROBE);
    eventually("a new file grants", || carol_creates(&store));
    b.write(
        "policies/rules/probe.cedar",
        &PROBE.replace("permit", "forbid"),
    );
    eventually("an edited file no longer grants", || !carol_creates(&store));
    b.write("policies/rules/probe.cedar", PROBE);
    eventually("granted again", || carol_creates(&store));
    std::fs::remove_file(b.path().join("policies/rules/probe.cedar")).unwrap();
    eventually("a deleted file no longer grants", || !carol_creates(&store));
    assert!(store.status().reloads >= 4);
}

#[test]
fn atomic_saves_are_picked_up() {
    let b = ScratchBundle::new();
    let (store, _w) = watched(&b);
    // What vim and many editors do: write elsewhere, rename over the original.
    let tmp = b.path().join("policies/rules/.probe.cedar.tmp");
    std::fs::write(&tmp, PROBE).unwrap();
    std::fs::rename(&tmp, b.path().join("policies/rules/probe.cedar")).unwrap();
    eventually("the renamed file grants", || carol_creates(&store));
}

#[test]
fn renamed_directories_are_picked_up() {
    let b = ScratchBundle::new();
    b.write("policies/extra/probe.cedar", PROBE);
    let (store, _w) = watched(&b);
    assert!(carol_creates(&store));
    // Hidden directories are not read: renaming one away disables its policies.
    std::fs::rename(
        b.path().join("policies/extra"),
        b.path().join("policies/.extra-disabled"),
    )
    .unwrap();
    eventually("the renamed-away directory no longer grants", || {
        !carol_creates(&store)
    });
    std::fs::rename(
        b.path().join("policies/.extra-disabled"),
        b.path().join("policies/extra"),
    )
    .unwrap();
    eventually("renamed back, it grants again", || carol_creates(&store));
}

#[test]
fn kubernetes_configmap_symlink_swap_is_picked_up() {
    // A mounted ConfigMap: real files in a timestamped directory, `..data`
    // pointing at it, and the visible entries linking through `..data`.
    let src = ScratchBundle::new();
    let mount = tempfile::tempdir().unwrap();
    let m = mount.path();
    util::copy_dir(src.path(), &m.join("..2026_11_23_01"));
    std::os::unix::fs::symlink("..2026_11_23_01", m.join("..data")).unwrap();
    for d in ["schemas", "policies", "fixtures"] {
        std::os::unix::fs::symlink(format!("..data/{d}"), m.join(d)).unwrap();
    }
    let store = Arc::new(Store::open(Bundle::new(m)).expect("configmap bundle loads"));
    let s = store.clone();
    let _w = WatchGuard::start(
        &Bundle::new(m),
        teamgate::store::DEFAULT_DEBOUNCE,
        move || {
            s.reload();
        },
    )
    .unwrap();
    assert!(!carol_creates(&store));
    // The kubelet's update: a new directory, a new link, renamed over ..data.
    util::copy_dir(src.path(), &m.join("..2026_11_23_02"));
    std::fs::write(m.join("..2026_11_23_02/policies/rules/probe.cedar"), PROBE).unwrap();
    std::os::unix::fs::symlink("..2026_11_23_02", m.join("..data_tmp")).unwrap();
    std::fs::rename(m.join("..data_tmp"), m.join("..data")).unwrap();
    std::fs::remove_dir_all(m.join("..2026_11_23_01")).unwrap();
    eventually("the swapped ConfigMap grants", || carol_creates(&store));
    // And a second swap back, to show the watch followed the new directory.
    util::copy_dir(src.path(), &m.join("..2026_11_23_03"));
    std::os::unix::fs::symlink("..2026_11_23_03", m.join("..data_tmp")).unwrap();
    std::fs::rename(m.join("..data_tmp"), m.join("..data")).unwrap();
    eventually("the second swap is seen too", || !carol_creates(&store));
}

#[test]
fn an_invalid_edit_keeps_the_last_good_set_and_reports_the_error() {
    let b = ScratchBundle::new();
    b.write("policies/rules/probe.cedar", PROBE);
    let (store, _w) = watched(&b);
    let good = store.status().version;
    b.write(
        "policies/rules/probe.cedar",
        "@id(\"probe\")\npermit (principal, action, resource\n",
    );
    eventually("the failure is recorded", || store.status().failures >= 1);
    let status = store.status();
    assert_eq!(status.version, good, "the old snapshot keeps serving");
    assert!(carol_creates(&store), "old decisions stay");
    let err = &status.last_error.expect("error kept")[0];
    assert_eq!(err.file(), Some("policies/rules/probe.cedar"));
    assert_eq!(err.line(), Some(2));
    // The next good edit clears it.
    b.write(
        "policies/rules/probe.cedar",
        &PROBE.replace("permit", "forbid"),
    );
    eventually("the good edit lands", || !carol_creates(&store));
    assert!(store.status().last_error.is_none());
}

#[test]
fn restoring_the_served_content_clears_the_error() {
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    let good = b.read("policies/rules/creator.cedar");
    b.write("policies/rules/creator.cedar", "permit (principal,");
    assert!(matches!(store.reload(), ReloadOutcome::Failed(_)));
    assert!(store.status().last_error.is_some());
    // `git checkout` of the file: the disk is the served version again.
    b.write("policies/rules/creator.cedar", &good);
    assert_eq!(store.reload(), ReloadOutcome::Unchanged);
    let status = store.status();
    assert!(status.last_error.is_none(), "{:?}", status.last_error);
    assert!(status.last_error_at.is_none());
    assert_eq!(status.failures, 1, "the failure stays counted");
}

#[test]
fn a_half_written_file_never_serves() {
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    b.write("policies/rules/probe.cedar", &PROBE[..PROBE.len() / 2]);
    assert!(matches!(store.reload(), ReloadOutcome::Failed(_)));
    assert!(!carol_creates(&store));
    b.write("policies/rules/probe.cedar", PROBE);
    assert!(matches!(store.reload(), ReloadOutcome::Swapped(_)));
    assert!(carol_creates(&store));
}

#[test]
fn a_policy_that_no_longer_validates_is_refused() {
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    b.write(
        "policies/rules/probe.cedar",
        &PROBE.replace("createProject", "createProjekt"),
    );
    match store.reload() {
        ReloadOutcome::Failed(p) => assert!(p[0].message().contains("createProjekt"), "{p:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_policy_edit_reuses_the_loaded_entities() {
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    let before = store.snapshot();
    b.write("policies/rules/probe.cedar", PROBE);
    match store.reload() {
        ReloadOutcome::Swapped(s) => {
            assert!(!s.entities_reloaded);
            assert_eq!(s.added, vec!["probe".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        before.shares_entities_with(&store.snapshot()),
        "entities shared, not re-parsed"
    );
    assert_eq!(store.reload(), ReloadOutcome::Unchanged);
}

#[test]
fn deleting_a_role_file_used_by_the_data_is_refused_without_reparsing() {
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    std::fs::remove_file(b.path().join("policies/roles/controller.cedar")).unwrap();
    match store.reload() {
        ReloadOutcome::Failed(p) => assert!(
            p[0].message()
                .contains("Role::\"controller\" has no policy file"),
            "{p:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_schema_edit_rechecks_the_entities() {
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    b.edit(
        "schemas/teamgate.cedarschema",
        "entity Customer in [Workspace] { workspace: Workspace };",
        "entity Customer in [Workspace] { workspace: Workspace, vip: Bool };",
    );
    match store.reload() {
        ReloadOutcome::Failed(p) => assert!(p.iter().any(|x| x.message().contains("vip")), "{p:?}"),
        other => panic!("the fixtures lack the new required attribute: {other:?}"),
    }
    b.edit("schemas/teamgate.cedarschema", "vip: Bool", "vip?: Bool");
    match store.reload() {
        ReloadOutcome::Swapped(s) => assert!(s.entities_reloaded),
        other => panic!("{other:?}"),
    }
}

/// A policy-only reload takes the schema parsed last time when its files are
/// unchanged; an edited schema is parsed again, and the reloads after it
/// take the new one.
#[test]
fn policy_reloads_take_the_schema_of_the_last_edit() {
    use teamgate::store::Seen;
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    b.write("policies/rules/probe.cedar", PROBE);
    assert!(matches!(
        store.reload_seen(Seen::PoliciesOnly),
        ReloadOutcome::Swapped(_)
    ));
    assert!(carol_creates(&store));
    // A new action, and a policy naming it: valid only against the new schema.
    let schema = b.read("schemas/teamgate.cedarschema");
    b.write(
        "schemas/teamgate.cedarschema",
        &format!(
            "{schema}\naction probeAction appliesTo {{ principal: User, resource: Workspace, context: {{}} }};\n"
        ),
    );
    let granted = "@id(\"probe-action\")\n@rules(\"AW3\")\npermit (principal == User::\"carol\", action == Action::\"probeAction\", resource);\n";
    b.write("policies/rules/probe-action.cedar", granted);
    match store.reload() {
        ReloadOutcome::Swapped(_) => {}
        other => panic!("the new schema declares probeAction: {other:?}"),
    }
    let probe = |store: &Store| {
        store
            .snapshot()
            .decide(
                &query(
                    r#"User::"carol""#,
                    r#"Action::"probeAction""#,
                    r#"Workspace::"acme""#,
                ),
                None,
            )
            .is_allowed()
    };
    assert!(probe(&store));
    // A policy-only save after it keeps the new schema.
    b.write("policies/rules/probe.cedar", "// probe off\n");
    assert!(matches!(
        store.reload_seen(Seen::PoliciesOnly),
        ReloadOutcome::Swapped(_)
    ));
    assert!(probe(&store) && !carol_creates(&store));
    // And the schema edited back refuses the policy naming the action.
    b.write("schemas/teamgate.cedarschema", &schema);
    match store.reload() {
        ReloadOutcome::Failed(p) => assert!(
            p.iter().any(|x| x.message().contains("probeAction")),
            "{p:?}"
        ),
        other => panic!("probeAction is no longer declared: {other:?}"),
    }
    assert!(probe(&store), "the last good snapshot keeps serving");
}

#[test]
fn entity_edits_reload_and_bad_ones_are_refused() {
    let b = ScratchBundle::new();
    let (store, _w) = watched(&b);
    let ivy_sees = |store: &Store| {
        let s = store.snapshot();
        s.decide(
            &query(
                r#"User::"ivy""#,
                r#"Action::"viewProject""#,
                r#"Project::"launch""#,
            ),
            None,
        )
        .is_allowed()
    };
    assert!(ivy_sees(&store));
    let mut json: serde_json::Value =
        serde_json::from_str(&b.read("fixtures/entities.json")).unwrap();
    let acme = json
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["uid"]["id"] == "acme")
        .unwrap();
    acme["attrs"]["guestSharing"] = json!(false);
    b.write(
        "fixtures/entities.json",
        &serde_json::to_string_pretty(&json).unwrap(),
    );
    eventually("sharing switched off for the account (GS4)", || {
        !ivy_sees(&store)
    });
    // An entity pointing at a role that does not exist: refused, old data serves.
    let carol = json
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["uid"]["id"] == "carol")
        .unwrap();
    carol["attrs"]["role"]["__entity"]["id"] = json!("ghost");
    b.write(
        "fixtures/entities.json",
        &serde_json::to_string_pretty(&json).unwrap(),
    );
    eventually("the failure is recorded", || store.status().failures >= 1);
    let err = &store.status().last_error.unwrap()[0];
    assert_eq!(err.file(), Some("fixtures/entities.json"));
    assert!(
        err.json_path().unwrap_or_default().ends_with(".attrs.role"),
        "{err:?}"
    );
    assert!(!ivy_sees(&store), "the last good entities keep serving");
}

#[test]
fn subscribers_hear_about_every_reload() {
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).unwrap();
    let rx = store.subscribe();
    b.write("policies/rules/probe.cedar", PROBE);
    store.reload();
    b.write("policies/rules/probe.cedar", "nonsense");
    store.reload();
    assert!(matches!(
        rx.try_recv().unwrap().outcome,
        ReloadOutcome::Swapped(_)
    ));
    assert!(matches!(
        rx.try_recv().unwrap().outcome,
        ReloadOutcome::Failed(_)
    ));
}

#[test]
fn readers_never_see_a_torn_or_invalid_snapshot() {
    let b = ScratchBundle::new();
    let store = Arc::new(Store::open(Bundle::new(b.path())).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (store, stop, queries) = (store.clone(), stop.clone(), queries.clone());
        readers.push(std::thread::spawn(move || {
            let q = query(
                r#"User::"carol""#,
                r#"Action::"createProject""#,
                r#"Workspace::"acme""#,
            );
            while !stop.load(Ordering::Relaxed) {
                let s = store.snapshot();
                let d = s.decide(&q, None);
                assert!(d.errors().is_empty(), "a reader saw errors: {d:?}");
                // Either the probe grants, or nothing does: never anything else.
                if d.is_allowed() {
                    assert_eq!(d.reasons(), vec!["probe"]);
                    assert!(s.policy("probe").is_some());
                } else {
                    assert!(d.reasons().is_empty() && s.policy("probe").is_none());
                }
                queries.fetch_add(1, Ordering::Relaxed);
                std::thread::yield_now();
            }
        }));
    }
    let (mut swapped, mut failed) = (0, 0);
    for i in 0..240 {
        let text = match i % 3 {
            0 => PROBE.to_string(),
            1 => format!("{}\n// edit {i}\n", &PROBE[..PROBE.len() / 2]),
            _ => format!("// edit {i}: probe disabled\n"),
        };
        b.write("policies/rules/probe.cedar", &text);
        match store.reload() {
            ReloadOutcome::Swapped(_) => swapped += 1,
            ReloadOutcome::Failed(_) => failed += 1,
            ReloadOutcome::Unchanged => {}
            _ => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("no reader panicked");
    }
    assert_eq!(failed, 80, "every invalid edit was refused");
    assert_eq!(swapped, 160, "every valid edit was swapped in");
    assert!(
        queries.load(Ordering::Relaxed) > 1000,
        "readers kept querying"
    );
}

#[test]
fn watch_command_reports_each_save() {
    use std::io::{BufRead, BufReader};
    let b = ScratchBundle::new();
    let mut child = util::teamgate()
        .args(["watch", "--bundle", &b.arg()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_matching = |want: &str| -> String {
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.contains(want) {
                return line;
            }
        }
        panic!("watch ended before printing {want:?}");
    };
    let shipped = Bundle::new(b.path())
        .load()
        .expect("scratch bundle")
        .policy_count();
    assert!(next_matching("ok: version").contains(&format!("{shipped} policies")));
    b.write("policies/rules/probe.cedar", PROBE);
    assert!(next_matching("->").contains("policies +1 -0 ~0"));
    b.write("policies/rules/probe.cedar", "broken(");
    assert!(next_matching("error").contains("the last good version"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_burst_of_writes_reloads_once_the_bundle_is_still() {
    // A forbid moved into the bundle in two files, written 100 ms apart:
    // the first file alone would let carol create projects. Nothing
    // reloads until the bundle has been still for the quiet period.
    let b = ScratchBundle::new();
    let store = Arc::new(Store::open(Bundle::new(b.path())).expect("bundle loads"));
    let events = store.subscribe();
    let s = store.clone();
    let _w = WatchGuard::start(
        &Bundle::new(b.path()),
        Duration::from_millis(600),
        move || {
            s.reload();
        },
    )
    .unwrap();
    let allowed_meanwhile = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, seen, stop) = (store.clone(), allowed_meanwhile.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if carol_creates(&store) {
                    seen.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    b.write("policies/rules/probe.cedar", PROBE);
    std::thread::sleep(Duration::from_millis(100));
    b.write(
        "policies/rules/probe-forbid.cedar",
        "@id(\"probe-forbid\")\n@rules(\"AW3\")\nforbid (principal == User::\"carol\", action == Action::\"createProject\", resource);\n",
    );
    eventually("the complete change serves", || {
        store.snapshot().policy("probe-forbid").is_some()
    });
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        !allowed_meanwhile.load(Ordering::Relaxed),
        "the half-done bundle served"
    );
    let swaps = events
        .try_iter()
        .filter(|e| matches!(e.outcome, ReloadOutcome::Swapped(_)))
        .count();
    assert_eq!(swaps, 1, "one reload for the burst");
}

#[test]
fn a_bundle_that_requires_its_manifest_serves_only_complete_states() {
    let b = ScratchBundle::new();
    let bundle = Bundle::new(b.path()).with_manifest(true);
    let e = Store::open(bundle.clone()).expect_err("no manifest yet");
    assert!(
        e.to_string().contains("teamgate manifest")
            || format!("{e:?}").contains("teamgate manifest"),
        "{e:?}"
    );
    teamgate::write_manifest(&bundle).expect("writes");
    let store = Arc::new(Store::open(bundle.clone()).expect("matches its manifest"));
    // A file copied in without a new manifest: refused, the last good serves.
    b.write("policies/rules/probe.cedar", PROBE);
    match store.reload() {
        ReloadOutcome::Failed(p) => assert!(
            p[0].message().contains("do not match the bundle manifest"),
            "{p:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(!carol_creates(&store));
    // The deployment writes the manifest last: now it serves.
    let _w = store.watch().expect("watcher starts");
    teamgate::write_manifest(&bundle).expect("writes");
    eventually("the manifest activates the bundle", || {
        carol_creates(&store)
    });
}

#[test]
fn a_bundle_root_swapped_by_symlink_is_picked_up() {
    let src = ScratchBundle::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    util::copy_dir(src.path(), &d.join("releases/v1"));
    util::copy_dir(src.path(), &d.join("releases/v2"));
    std::fs::write(d.join("releases/v2/policies/rules/probe.cedar"), PROBE).unwrap();
    std::os::unix::fs::symlink("releases/v1", d.join("current")).unwrap();
    let store = Arc::new(Store::open(Bundle::new(d.join("current"))).expect("loads"));
    let _w = store.watch().expect("watcher starts");
    assert!(!carol_creates(&store));
    // `ln -sfn releases/v2 current`, atomically: a new link renamed over.
    std::os::unix::fs::symlink("releases/v2", d.join("current.tmp")).unwrap();
    std::fs::rename(d.join("current.tmp"), d.join("current")).unwrap();
    eventually("the swapped release serves", || carol_creates(&store));
}

#[test]
fn a_panicking_reload_is_counted_and_watching_goes_on() {
    let b = ScratchBundle::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let w = WatchGuard::start(
        &Bundle::new(b.path()),
        Duration::from_millis(100),
        move || {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("a reload that panics");
            }
        },
    )
    .unwrap();
    b.write("policies/rules/probe.cedar", PROBE);
    eventually("the watcher looks again after the panic", || {
        calls.load(Ordering::SeqCst) >= 2
    });
    assert_eq!(w.health().failures(), 1);
    assert!(w.health().is_up());
    b.write("policies/rules/probe.cedar", "// again\n");
    eventually("later edits are still seen", || {
        calls.load(Ordering::SeqCst) >= 4
    });
    assert!(w.health().last_check().is_some());
}

#[test]
fn the_watcher_looks_at_the_bundle_even_without_events() {
    let b = ScratchBundle::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let options = teamgate::store::WatchOptions {
        rescan: Duration::from_millis(200),
        ..teamgate::store::WatchOptions::default()
    };
    let health = Arc::new(teamgate::store::WatchHealth::default());
    let _w = WatchGuard::start_with(&Bundle::new(b.path()), options, health.clone(), move || {
        c.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    eventually("periodic looks", || calls.load(Ordering::SeqCst) >= 4);
    assert!(health.is_up());
}

/// Resident memory of this process, in KB.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Writes a file atomically (a temporary file renamed over it).
fn put(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn reload_chaos_never_serves_an_uncommitted_state() {
    // Rounds: CHAOS_ROUNDS (bench/reload_chaos.sh runs many more).
    let rounds: usize = std::env::var("CHAOS_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let probe_b = PROBE.replace("probe", "probe-b").replace("carol", "bob");
    let src = ScratchBundle::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Three complete, valid states: the shipped pack, with probe A, with
    // probe B. Their versions are the only ones a decision may carry.
    let variants = [None, Some(PROBE.to_string()), Some(probe_b.clone())];
    let mut committed = std::collections::HashSet::new();
    for (i, v) in variants.iter().enumerate() {
        let rel = d.join(format!("releases/r{i}"));
        util::copy_dir(src.path(), &rel);
        if let Some(text) = v {
            std::fs::write(rel.join("policies/rules/probe.cedar"), text).unwrap();
        }
        committed.insert(
            Bundle::new(&rel)
                .load()
                .expect("variant loads")
                .version()
                .to_string(),
        );
    }
    assert_eq!(committed.len(), 3);
    // The served tree: `current` -> a working copy that is edited in place,
    // or -> one of the releases.
    util::copy_dir(src.path(), &d.join("work"));
    std::os::unix::fs::symlink("work", d.join("current")).unwrap();
    let store = Arc::new(Store::open(Bundle::new(d.join("current"))).expect("loads"));
    let _w = store.watch().expect("watcher starts");
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicUsize::new(0));
    let committed = Arc::new(committed);
    let reader = {
        let (store, stop, decided, committed) = (
            store.clone(),
            stop.clone(),
            decided.clone(),
            committed.clone(),
        );
        std::thread::spawn(move || {
            let q = query(
                r#"User::"carol""#,
                r#"Action::"createProject""#,
                r#"Workspace::"acme""#,
            );
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let snap = store.snapshot();
                if !committed.contains(snap.version()) {
                    bad.push(snap.version().to_string());
                }
                if snap.try_decide(&q, None).is_err() {
                    bad.push("a failed decision".into());
                }
                decided.fetch_add(1, Ordering::Relaxed);
            }
            bad
        })
    };
    let probe = d.join("work/policies/rules/probe.cedar");
    let swap = |target: &str| {
        let tmp = d.join("current.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).unwrap();
        std::fs::rename(&tmp, d.join("current")).unwrap();
    };
    let rss_before = rss_kb();
    for i in 0..rounds {
        match i % 8 {
            0 => put(&probe, PROBE),                         // edited
            1 => put(&probe, "permit (principal, action"),   // broken
            2 => put(&probe, &probe_b),                      // restored (another state)
            3 => swap(&format!("releases/r{}", i % 3)),      // moved by symlink swap
            4 => swap("work"),                               // and back
            5 => std::fs::remove_file(&probe).unwrap_or(()), // deleted
            6 => put(&probe, PROBE),                         // recreated
            _ => {
                // A reload in the middle of it all, as SIGHUP would ask.
                store.reload();
            }
        }
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(200));
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    swap("work");
    put(&probe, PROBE);
    eventually("the last state serves", || carol_creates(&store));
    stop.store(true, Ordering::Relaxed);
    let bad = reader.join().unwrap();
    assert!(
        bad.is_empty(),
        "decisions from states never committed: {:?}",
        &bad[..bad.len().min(5)]
    );
    assert!(decided.load(Ordering::Relaxed) > rounds);
    let status = store.status();
    assert!(status.reloads > 10, "{status:?}");
    // Memory stays flat: well under 100 MB more after the rounds.
    let grown = rss_kb().saturating_sub(rss_before);
    assert!(grown < 100 * 1024, "resident memory grew by {grown} KB");
}

#[test]
fn a_save_under_policies_alone_does_not_read_the_entity_files() {
    // The entity file is broken on disk (as a 41 MB file being rewritten
    // would be for a while): a reload that looks at it fails, one told that
    // only policies/ changed does not read it and swaps the new policy in.
    let b = ScratchBundle::new();
    let store = Store::open(Bundle::new(b.path())).expect("bundle loads");
    let entities = store.snapshot().entity_count();
    b.write("fixtures/entities.json", "[ {\"broken\": ");
    b.write("policies/rules/probe.cedar", PROBE);
    match store.reload_seen(teamgate::store::Seen::PoliciesOnly) {
        ReloadOutcome::Swapped(_) => {}
        other => panic!("a policy-only reload must not read the entity files: {other:?}"),
    }
    assert!(carol_creates(&store));
    assert_eq!(store.snapshot().entity_count(), entities);
    // Looking at everything finds the broken file and keeps the last good set.
    assert!(matches!(store.reload(), ReloadOutcome::Failed(_)));
    assert!(carol_creates(&store));
}

/// A policy reload does not queue behind an entity data change in progress
/// (here replacing the demo data with 20,000 users): it builds its policies
/// over the data it saw and is served at once; the data change, finished
/// later, goes under the new policies. Nothing is lost: both are served.
#[test]
fn a_policy_reload_does_not_wait_for_a_data_change() {
    let b = ScratchBundle::new();
    let store = Arc::new(Store::open(Bundle::new(b.path())).unwrap());
    let (json, _) = teamgate::testkit::workspace(20_000, 3);
    let entities = json.len();
    let data_done = Arc::new(AtomicBool::new(false));
    let started = Arc::new(std::sync::Barrier::new(2));
    let data = {
        let (store, data_done, started) = (store.clone(), data_done.clone(), started.clone());
        std::thread::spawn(move || {
            started.wait();
            let r = store.update(&teamgate::Change::replace(json), None);
            data_done.store(true, Ordering::SeqCst);
            r.map_err(|e| e.to_string())
        })
    };
    started.wait();
    // The data change is under way (it takes seconds in a test build).
    std::thread::sleep(Duration::from_millis(100));
    b.write("policies/rules/probe.cedar", PROBE);
    let outcome = store.reload();
    let data_done_first = data_done.load(Ordering::SeqCst);
    let updated = data.join().unwrap().expect("the data change applies");
    assert!(
        matches!(&outcome, ReloadOutcome::Swapped(s) if s.added == ["probe"]),
        "{outcome:?}"
    );
    assert!(
        !data_done_first,
        "the policy reload waited for the data change to finish"
    );
    let snap = store.snapshot();
    assert!(snap.policy("probe").is_some(), "the new policy is served");
    assert_eq!(snap.entity_count(), entities, "the new data is served");
    assert_eq!(snap.version(), updated.version);
    assert_eq!(store.reload(), ReloadOutcome::Unchanged);
}
