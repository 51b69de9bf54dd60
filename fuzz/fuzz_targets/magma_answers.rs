//! Arbitrary pages of Magma orc8r's subscriber API (two networks, two per page; the input
//! split at 0xff bytes): the source ends with sessions or a named error, never a panic.
#![no_main]

#[path = "../common/drive.rs"]
mod drive;

use efi_plugin_api::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = magma::MagmaSource::new(magma::MagmaConfig {
        url: "https://127.0.0.1:1/magma/v1".into(),
        credentials: "magma".into(),
        networks: vec!["lte1".into(), "lte2".into()],
        page_size: 2,
    })
    .expect("a valid config");
    drive::drive(source.poll(), data);
});
