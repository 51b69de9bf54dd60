//! Arbitrary `/api/poller` answers: reading the work document must never panic; bad hosts
//! become named problems.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(work) = efi_core::sonar_poller::work::parse(&document) {
            for problem in &work.problems {
                assert!(problem.starts_with("host "), "{problem}");
            }
        }
    }
});
