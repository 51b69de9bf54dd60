//! Arbitrary bytes from a CPE shell: cleaning them must never panic, and what comes out has
//! no escape sequence starts and no carriage returns left in it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = efi_core::engines::shell::clean_terminal_output(data);
    assert!(!text.contains('\u{1b}'), "an ESC survived: {text:?}");
    assert!(!text.contains('\r'), "a CR survived: {text:?}");
});
