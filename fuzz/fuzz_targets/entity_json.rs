//! Entity JSON through both of its paths: a request's added entities (an
//! overlay) and a data API change. Never a panic; a change that is taken
//! keeps every stored entity readable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::snapshot;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Array(entities)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        return;
    };
    let snap = snapshot();
    let _ = teamgate::Overlay::adding_to_stored("fuzz")
        .upsert(entities.clone())
        .build(snap);
    let _ = teamgate::Overlay::over_stored("fuzz")
        .upsert(entities.clone())
        .build(snap);
    if let Ok(next) = snap.with_change(&teamgate::Change::upsert(entities)) {
        for uid in next.entity_uids(None).take(64) {
            assert!(next.entity_json(&uid).is_some());
        }
    }
});
