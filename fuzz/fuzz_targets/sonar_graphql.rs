//! Arbitrary GraphQL answers from Sonar to the sink's snapshot (two per page; the input split
//! at 0xff bytes): the snapshot ends with Sonar's state or a named error, never a panic.
#![no_main]

#[path = "../common/drive.rs"]
mod drive;

use efi_plugin_api::Sink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config: sonar::SonarConfig = serde_json::from_value(serde_json::json!({
        "url": "http://127.0.0.1:1",
        "credentials": "sonar",
        "managed_subnets": ["10.45.0.0/16"],
        "page_size": 2,
        "default_model": "RidgeWave 6900",
    }))
    .expect("a valid config");
    let sink = sonar::SonarSink::new(config).expect("a valid config");
    drive::drive(sink.snapshot(), data);
});
