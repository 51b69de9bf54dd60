//! Arbitrary CPE12300 CGI pages (the input split at 0xff bytes into the four pages): the
//! Telrad driver must turn them into a record or a named error, never a panic.
#![no_main]

use efi_plugin_api::{HttpResponse, IoReply, Step, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = telrad_cpe::web::elements(&String::from_utf8_lossy(data));
    let target = Target::new("127.0.0.1".parse().unwrap());
    let phase = telrad_cpe::web::WebPhase::new(
        &target,
        &telrad_cpe::TelradSettings::default(),
        None,
        None,
    );
    let responses = data
        .split(|b| *b == 0xff)
        .take(4)
        .map(|page| {
            Ok(IoReply::Http(HttpResponse {
                status: 200,
                headers: Vec::new(),
                body: page.to_vec(),
            }))
        })
        .collect();
    match phase.finish(responses) {
        Step::Done(_) | Step::Failed(_) => {}
        Step::Requests(_) => panic!("the web step asks for nothing more"),
    }
});
