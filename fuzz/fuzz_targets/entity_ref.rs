//! Entity references and action names as text: an error or a uid, never a
//! panic; a uid parsed prints back to one that parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uid) = teamgate::parse_uid(teamgate::Field::Principal, text) {
        let again = teamgate::parse_uid(teamgate::Field::Principal, &uid.to_string())
            .expect("a printed uid parses");
        assert_eq!(again, uid);
    }
    let _ = teamgate::parse_action(text);
    if let Some((t, id)) = text.split_once('/') {
        let _ = teamgate::uid_of(teamgate::Field::Resource, t, id);
    }
});
