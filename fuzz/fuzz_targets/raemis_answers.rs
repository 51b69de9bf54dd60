//! Arbitrary answers of Raemis' REST API to a pull (`/api/subscriber`, `/api/data_session`;
//! the input split at 0xff bytes): the source ends with sessions or a named error, never a
//! panic.
#![no_main]

#[path = "../common/drive.rs"]
mod drive;

use efi_plugin_api::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = raemis::RaemisSource::new(raemis::RaemisConfig {
        url: "http://127.0.0.1:1".into(),
        credentials: None,
        accept_invalid_certs: false,
        apns: vec!["internet".into()],
    });
    drive::drive(source.poll(), data);
});
