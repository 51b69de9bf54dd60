//! Arbitrary web UI answers: the front page whose title (or Basic realm) identification
//! reads, and the RidgeWave device-info page the driver scrapes (the input split at the
//! first 0xff byte). Both must give a value, a named error or nothing, never a panic.
#![no_main]

use efi_plugin_api::{HttpResponse, IoReply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (front, page) = match data.iter().position(|b| *b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, data),
    };
    let front = String::from_utf8_lossy(front);
    let _ = efi_core::poller::fingerprint::page_title(&front);
    let _ = efi_core::poller::fingerprint::basic_realm(&front);
    let _ = bec_ridgewave::web::rows(&String::from_utf8_lossy(page));
    let answer = Ok(IoReply::Http(HttpResponse {
        status: 200,
        headers: Vec::new(),
        body: page.to_vec(),
    }));
    if let Ok(info) = bec_ridgewave::web::read(answer) {
        if let Some(mac) = info.mac {
            assert_eq!(mac.len(), 17, "a MAC is aa:bb:cc:dd:ee:ff: {mac}");
        }
    }
});
