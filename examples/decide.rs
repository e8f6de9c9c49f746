//! teamgate in-process: load the demo bundle, ask two questions, one of them
//! with an entity the request brings along.
//!
//! `cargo run --example decide`

use serde_json::json;
use teamgate::{Bundle, Overlay, Query};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Load once; a Snapshot is immutable and cheap to share between threads.
    let snapshot = Bundle::new(env!("CARGO_MANIFEST_DIR")).load()?;

    // erin is an external with the manager project role on `website`: the
    // external license restriction (CX4) beats the role.
    let query = Query::parse(
        r#"User::"erin""#,
        "editProjectDetails",
        r#"Project::"website""#,
    )?;
    let decision = snapshot.decide(&query, None);
    println!(
        "{query}: {} because {:?}",
        decision.verdict(),
        decision.reasons()
    );

    // ivy sees `launch` through guest sharing; with sharing switched off for
    // acme (an entity this request brings), she does not (GS4).
    let acme = json!({"uid": {"type": "Workspace", "id": "acme"}, "parents": [], "attrs": {
        "domain": "acme.com", "plan": "business", "subscription": "active",
        "guestSharing": false, "guestEmailsUsed": 1,
        "connectionDomainExceptions": [], "ownProjects": 3}});
    let overlay = Overlay::over_stored("example")
        .upsert(vec![acme])
        .build(&snapshot)?;
    let query = Query::parse(r#"User::"ivy""#, "viewProject", r#"Project::"launch""#)?;
    for (label, overlay) in [("as stored", None), ("sharing off", Some(&overlay))] {
        let d = snapshot.decide(&query, overlay);
        println!("{query} ({label}): {}", d.verdict());
    }

    // Malformed questions are errors you can match on; `decide` turns them
    // into a deny that says why (fail closed).
    let unknown = Query::parse(r#"User::"mallory""#, "viewProject", r#"Project::"website""#)?;
    match snapshot.try_decide(&unknown, None) {
        Ok(d) => println!("{unknown}: {}", d.verdict()),
        Err(e) => println!("{unknown}: deny, {e} (malformed: {})", e.is_malformed()),
    }
    Ok(())
}
