//! The Raemis source against recorded answers and event bodies.

use efi_plugin_api::source::SessionEventKind;
use efi_plugin_api::testing::run;
use efi_plugin_api::{HttpResponse, IoErrorKind, IoReply, IoRequest, Source};
use raemis::{parse_event, RaemisConfig, RaemisSource};

fn source() -> RaemisSource {
    RaemisSource::new(RaemisConfig {
        url: "http://127.0.0.1:18081/".into(),
        credentials: Some("raemis".into()),
        accept_invalid_certs: false,
        apns: vec![],
    })
}

fn answer(req: &IoRequest, subscribers: &str, sessions: &str) -> efi_plugin_api::IoResponse {
    let IoRequest::Http(h) = req else {
        panic!("only HTTP")
    };
    assert_eq!(
        h.credentials.as_deref(),
        Some("raemis"),
        "credentials by name, never inline"
    );
    let body = if h.url.ends_with("/api/subscriber") {
        subscribers
    } else {
        assert!(h.url.ends_with("/api/data_session"), "{}", h.url);
        sessions
    };
    Ok(IoReply::Http(HttpResponse {
        status: 200,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }))
}

#[test]
fn a_pull_joins_sessions_with_subscribers_on_imsi() {
    let subs = r#"[{"id":1,"imsi":"001010000000001","imei":"350000000000001\r","msisdn":"15550000001","name":"  Jane Doe ","local_ps_attachment":"ATTACHED"},
                   {"id":2,"imsi":"001010000000002","imei":"","msisdn":"","name":"_spare"}]"#;
    let sessions = r#"[{"id":7,"imsi":"001010000000001","ip":"10.45.0.10","apn":"internet"},
                       {"id":8,"imsi":"001010000000002","ip":"10.45.0.11","apn":"internet","extra":"ignored"},
                       {"id":9,"imsi":"001010000000003","ip":"not-an-ip","apn":"internet"}]"#;
    let batch = run(source().poll(), |r| answer(r, subs, sessions)).unwrap();
    assert!(batch.complete);
    assert_eq!(batch.sessions.len(), 2, "the unreadable address is skipped");
    let s = &batch.sessions[0];
    assert_eq!(s.identity.imsi.as_deref(), Some("001010000000001"));
    assert_eq!(
        s.identity.imei.as_deref(),
        Some("350000000000001"),
        "trailing \\r trimmed"
    );
    assert_eq!(s.subscriber_name.as_deref(), Some("Jane Doe"));
    assert_eq!(s.ip, Some("10.45.0.10".parse().unwrap()));
    assert_eq!(
        batch.sessions[1].identity.imei, None,
        "empty IMEI is absent"
    );
}

#[test]
fn failures_name_the_endpoint_and_status() {
    let err = run(source().poll(), |r| {
        let IoRequest::Http(h) = r else {
            unreachable!()
        };
        Ok(IoReply::Http(HttpResponse {
            status: if h.url.ends_with("subscriber") {
                200
            } else {
                500
            },
            headers: vec![],
            body: b"[]".to_vec(),
        }))
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/api/data_session answered HTTP 500"),
        "{err}"
    );

    let err = run(source().poll(), |r| answer(r, "[]", "[{\"imsi\":\"0010")).unwrap_err();
    assert!(err.to_string().contains("not the expected JSON"), "{err}");

    let err = run(source().poll(), |_| {
        Err(efi_plugin_api::IoError::new(IoErrorKind::Timeout, "15 s"))
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("Raemis /api/subscriber: timeout"),
        "{err}"
    );
}

#[test]
fn an_empty_epc_answer_is_a_complete_empty_batch() {
    let batch = run(source().poll(), |r| answer(r, "[]", "[]")).unwrap();
    assert!(batch.sessions.is_empty());
    assert!(
        batch.complete,
        "the planner's guard, not the source, decides what an empty answer means"
    );
}

#[test]
fn pushed_events_parse_in_the_raemis_format() {
    let body = "imsi=001010000000001&event_type=pdp_context_activated&event_time=2024-07-22+10%3A22%3A26.123456&add_text=%7B%22ip%22%3A%2210.45.0.10%22%2C%22apn%22%3A%22internet%22%7D";
    let e = parse_event(body.as_bytes()).unwrap().unwrap();
    assert_eq!(e.kind, SessionEventKind::Attach);
    assert_eq!(e.session.identity.imsi.as_deref(), Some("001010000000001"));
    assert_eq!(e.session.ip, Some("10.45.0.10".parse().unwrap()));
    assert_eq!(e.at_unix_s, Some(1_721_643_746));
    assert_eq!(
        e.at_unix_us,
        Some(1_721_643_746_123_456),
        "microseconds order events within a second"
    );

    let e = parse_event(b"imsi=001010000000001&event_type=PDP_CONTEXT_DEACTIVATED&event_time=2024-07-22 10:22:27&add_text=").unwrap().unwrap();
    assert_eq!(e.kind, SessionEventKind::Detach);
    assert_eq!(e.session.ip, None);

    assert!(
        parse_event(b"imsi=001010000000001&event_type=alarm_raised")
            .unwrap()
            .is_none(),
        "other events are ignored"
    );
    for (body, why) in [
        (&b"event_type=pdp_context_activated"[..], "no imsi"),
        (b"imsi=001&add_text=%7B%7D", "no event_type"),
        (
            b"imsi=001&event_type=pdp_context_activated&add_text=%7B%7D",
            "without an ip",
        ),
        (
            b"imsi=001&event_type=pdp_context_activated&add_text=%7Bbroken",
            "not a JSON object",
        ),
        (b"imsi=0x1&event_type=pdp_context_activated", "not digits"),
        (
            b"imsi=001&event_type=pdp_context_deactivated&event_time=yesterday",
            "event_time \"yesterday\" is not a time",
        ),
    ] {
        let err = parse_event(body).unwrap_err();
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
}
