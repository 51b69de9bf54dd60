//! Arbitrary answers of the GenieACS NBI to `/devices/` pages (the input split at 0xff
//! bytes, one body per page): the source ends with devices or a named error, never a panic,
//! and each document it reads flattens without one.
#![no_main]

#[path = "../common/drive.rs"]
mod drive;

use efi_plugin_api::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = genieacs::GenieAcsSource::new(genieacs::GenieAcsConfig {
        url: "http://127.0.0.1:1".into(),
        credentials: None,
        accept_invalid_certs: false,
        page_size: 2,
        trees: vec!["InternetGatewayDevice".into(), "Device".into()],
    });
    drive::drive(source.poll(), data);
    if let Ok(serde_json::Value::Array(docs)) = serde_json::from_slice(data) {
        for doc in &docs {
            let _ = genieacs::device(doc);
        }
    }
});
