//! Arbitrary bodies POSTed to the Raemis webhook: each is an event, a named error, or
//! ignored (an event type that is not a session's), never a panic; an accepted event has
//! a digits-only IMSI.
#![no_main]

use efi_plugin_api::source::PushRequest;
use efi_plugin_api::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = raemis::RaemisSource::new(raemis::RaemisConfig {
        url: "http://127.0.0.1:1".into(),
        credentials: None,
        accept_invalid_certs: false,
        apns: Vec::new(),
    });
    let request = PushRequest {
        method: "POST".into(),
        path: "/webhooks/raemis".into(),
        query: String::new(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: data.to_vec(),
        remote: None,
    };
    if let Ok(events) = source.parse_push(&request) {
        for e in events {
            let imsi = e.session.identity.imsi.as_deref().unwrap_or_default();
            assert!(
                !imsi.is_empty() && imsi.chars().all(|c| c.is_ascii_digit()),
                "{imsi:?}"
            );
        }
    }
});
