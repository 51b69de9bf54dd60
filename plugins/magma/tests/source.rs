//! The Magma source against recorded orc8r answers.

use efi_plugin_api::testing::run;
use efi_plugin_api::{HttpResponse, IoReply, IoRequest, Source};
use magma::{MagmaConfig, MagmaSource};
use serde_json::json;

fn source(page_size: u32) -> MagmaSource {
    MagmaSource::new(MagmaConfig {
        url: "https://127.0.0.1:9443/magma/v1".into(),
        credentials: "magma".into(),
        networks: vec!["lab".into()],
        page_size,
    })
    .unwrap()
}

fn sub(imsi: &str, ips: &[(&str, &str)]) -> serde_json::Value {
    json!({"id": format!("IMSI{imsi}"), "name": "Jane Doe", "msisdn": "15550000001",
           "lte": {"state": "ACTIVE"},
           "state": {"mobility": ips.iter().map(|(apn, ip)| json!({"apn": apn, "ip": ip})).collect::<Vec<_>>()}})
}

#[test]
fn pages_are_followed_and_mobility_ips_become_sessions() {
    let mut seen_tokens = Vec::new();
    let batch = run(source(2).poll(), |req| {
        let IoRequest::Http(h) = req else { panic!() };
        assert_eq!(h.credentials.as_deref(), Some("magma"));
        let token = h.url.split("page_token=").nth(1).unwrap_or("").to_owned();
        seen_tokens.push(token.clone());
        let body = match token.as_str() {
            "" => json!({"total_count": 3, "next_page_token": "SU1TSTAwMg%3D%3D",
                         "subscribers": {"IMSI001": sub("001", &[("internet", "10.46.0.1")]), "IMSI002": sub("002", &[("ims", "")])}}),
            _ => json!({"total_count": 3, "next_page_token": "",
                        "subscribers": {"IMSI003": sub("003", &[("internet", "10.46.0.3"), ("ims", "10.47.0.3")])}}),
        };
        Ok(IoReply::Http(HttpResponse { status: 200, headers: vec![], body: serde_json::to_vec(&body).unwrap() }))
    })
    .unwrap();
    assert_eq!(seen_tokens.len(), 2);
    assert!(batch.complete);
    let ips: Vec<String> = batch
        .sessions
        .iter()
        .map(|s| s.ip.unwrap().to_string())
        .collect();
    assert_eq!(
        ips,
        ["10.46.0.1", "10.46.0.3", "10.47.0.3"],
        "IPv6 (empty ip) skipped"
    );
    assert_eq!(
        batch.sessions[0].identity.imsi.as_deref(),
        Some("001"),
        "IMSI without the prefix"
    );
    assert_eq!(
        batch.sessions[0].subscriber_name.as_deref(),
        Some("Jane Doe")
    );
}

#[test]
fn errors_carry_orc8rs_message() {
    let err = run(source(10).poll(), |_| {
        Ok(IoReply::Http(HttpResponse {
            status: 500,
            headers: vec![],
            body: br#"{"message":"failed to decode page token"}"#.to_vec(),
        }))
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP 500 failed to decode page token"),
        "{err}"
    );
    assert!(MagmaSource::new(MagmaConfig {
        url: "http://x".into(),
        credentials: "m".into(),
        networks: vec!["n".into()],
        page_size: 1
    })
    .is_err());
}
