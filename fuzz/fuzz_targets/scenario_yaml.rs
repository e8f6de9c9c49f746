//! Scenario files (YAML, and Cedar run-tests JSON), parsed and run against
//! the shipped bundle: a report, never a panic.
#![no_main]

use std::path::Path;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::snapshot;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = if pick % 4 == 0 { "fuzz.json" } else { "fuzz.yaml" };
    let _ = teamgate::scenario::run_text(Path::new(path), text, snapshot());
});
