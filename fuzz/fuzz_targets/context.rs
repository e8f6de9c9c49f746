//! Request contexts (with teamgate's own derivations, e.g. the invitee of
//! an `inviteExternal`) for every action: a decision, never a panic, and
//! never an allow with errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::snapshot;

const CASES: [(&str, &str, &str); 6] = [
    (r#"User::"erin""#, "inviteExternal", r#"Project::"website""#),
    (r#"User::"bob""#, "logTime", r#"Project::"website""#),
    (r#"User::"frank""#, "viewTask", r#"Task::"website-qa""#),
    (r#"User::"alice""#, "inviteUser", r#"Workspace::"acme""#),
    (r#"User::"dan""#, "viewProjectField", r#"Project::"website""#),
    (r#"User::"carol""#, "viewMenuItem", r#"Workspace::"acme""#),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(context) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let (p, a, r) = CASES[pick as usize % CASES.len()];
    let q = teamgate::Query::parse(p, a, r)
        .expect("static request")
        .with_context(context);
    let d = snapshot().decide(&q, None);
    assert!(!(d.is_allowed() && !d.errors().is_empty()));
});
