//! Replays a recorded SNMP walk through the driver and checks the whole record.

use efi_plugin_api::testing::{load_snmprec, record, run, run_snmprec, Recording};
use efi_plugin_api::{Driver, Fingerprint, IoError, IoErrorKind, IoRequest, Target};
use hello_driver::HelloDriver;

fn target() -> Target {
    Target::new("127.0.0.1".parse().unwrap())
}

#[test]
fn replays_a_recorded_router_walk_into_a_full_record() {
    let data = load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/router.snmprec"
    ))
    .unwrap();
    let record = run_snmprec(HelloDriver::new().collect(&target()), &data).unwrap();

    assert_eq!(
        record.description.as_deref(),
        Some("Linux lab-router 5.10.0 #1 SMP armv7l")
    );
    assert_eq!(record.hostname.as_deref(), Some("lab-router"));
    assert_eq!(record.uptime_s, Some(86_400));
    let boot = record.last_boot_unix_s.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 86_400 - boot).abs() <= 5, "boot {boot} vs now {now}");

    assert_eq!(record.interfaces.len(), 2);
    let eth0 = &record.interfaces[1];
    assert_eq!(eth0.index, 2);
    assert_eq!(eth0.name, "eth0");
    assert_eq!(eth0.mac.as_deref(), Some("00:1a:c2:c3:a1:b2"));
    assert_eq!(eth0.up, Some(true));
    assert_eq!(eth0.speed_bps, Some(1_000_000_000));
    assert_eq!(eth0.in_octets, Some(123_456_789));
    assert_eq!(eth0.out_octets, Some(98_765_432));
    assert_eq!(eth0.in_errors, Some(7));
    assert_eq!(eth0.out_errors, Some(1));
    // lo has an empty ifPhysAddress: absent, not a zero MAC.
    assert_eq!(record.interfaces[0].mac, None);

    // Totals and identity come from the non-loopback interfaces only.
    assert_eq!(record.identity.mac.as_deref(), Some("00:1a:c2:c3:a1:b2"));
    assert_eq!(record.octets_received, Some(123_456_789));
    assert_eq!(record.octets_sent, Some(98_765_432));
    // Nothing radio-related in MIB-II: absent, never zero.
    assert_eq!(record.rsrp_dbm, None);
    assert_eq!(record.sinr_db, None);
}

#[test]
fn an_agent_without_an_if_table_still_gives_the_system_group() {
    let mut data = load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/router.snmprec"
    ))
    .unwrap();
    data = efi_plugin_api::snmprec::AgentData::from_varbinds(
        data.walk(&efi_plugin_api::oid("1.3.6.1.2.1.1")),
    );
    let record = run_snmprec(HelloDriver::new().collect(&target()), &data).unwrap();
    assert_eq!(record.hostname.as_deref(), Some("lab-router"));
    assert!(record.interfaces.is_empty());
    assert_eq!(record.identity.mac, None);
    assert_eq!(record.octets_received, None);
}

#[test]
fn a_timeout_fails_the_poll_with_the_reason() {
    let err = run(HelloDriver::new().collect(&target()), |_req: &IoRequest| {
        Err(IoError::new(
            IoErrorKind::Timeout,
            "no answer after 2 tries",
        ))
    })
    .unwrap_err();
    assert!(err.to_string().contains("system group"), "{err}");
    assert!(err.to_string().contains("no answer after 2 tries"), "{err}");
}

#[test]
fn identifies_any_snmp_agent_weakly() {
    let d = HelloDriver::new();
    assert_eq!(d.identify(&Fingerprint::default()), 0);
    let fp = Fingerprint {
        sys_descr: Some("Linux".into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&fp) > 0 && d.identify(&fp) < 50);
}

#[test]
fn a_recording_replays_to_the_same_record_and_catches_a_changed_driver() {
    let data = load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/router.snmprec"
    ))
    .unwrap();
    let (live, recording) = record(&target(), HelloDriver::new().collect(&target()), |r| {
        data.answer(r)
    });
    let live = live.unwrap();
    assert_eq!(recording.exchanges.len(), 2, "one GET and one walk");

    // The recording survives its JSON form (what `efi-poller record` writes to a file).
    let recording: Recording = serde_json::from_str(&recording.to_json()).unwrap();
    let mut replayed = recording
        .replay(HelloDriver::new().collect(&target()))
        .unwrap();
    let mut expected = live;
    // Boot time is derived from "now": the only field allowed to differ between runs.
    replayed.last_boot_unix_s = None;
    expected.last_boot_unix_s = None;
    assert_eq!(replayed, expected);

    // A driver that asks something the device was never asked fails with both requests named.
    let mut tampered = recording.clone();
    tampered.exchanges[0].request = efi_plugin_api::IoRequest::SnmpGet {
        oids: vec![efi_plugin_api::oid("1.3.6.1.2.1.1.1.0")],
    };
    let err = tampered
        .replay(HelloDriver::new().collect(&target()))
        .unwrap_err();
    assert!(err.to_string().contains("but the recording has"), "{err}");
}
