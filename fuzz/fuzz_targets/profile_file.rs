//! Arbitrary profile files: the profiles plugin must compile them or refuse them with a
//! message (and a line within the file), never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(refusal) = profiles::profile::compile(&text, std::path::Path::new("fuzz.toml")) {
        if let Some(line) = refusal.line {
            assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "{refusal}");
        }
    }
});
