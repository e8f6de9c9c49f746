//! Policy and schema text as the loader takes it: teamgate's shape limits
//! first, then Cedar's parser. An error, never a panic or a stack overflow
//! (the check runs on a thread with a watcher's 2 MiB stack).
#![no_main]

use std::path::Path;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let text = text.to_string();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            if pick % 2 == 0 {
                if teamgate::check_cedar_text(Path::new("p.cedar"), &text, true).is_ok() {
                    if let Ok(set) = cedar_policy::PolicySet::from_str(&text) {
                        let _ = set.to_string();
                    }
                }
            } else if teamgate::check_cedar_text(Path::new("s.cedarschema"), &text, false).is_ok() {
                let _ = cedar_policy::SchemaFragment::from_cedarschema_str(&text);
            }
        })
        .expect("thread")
        .join()
        .expect("no panic");
});
