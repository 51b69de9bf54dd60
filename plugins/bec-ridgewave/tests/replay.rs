//! Replays of recorded RidgeWave walks: every field the model provides, with its quirks.

use bec_ridgewave::BecDriver;
use efi_plugin_api::snmprec::AgentData;
use efi_plugin_api::testing::{load_snmprec, run_snmprec};
use efi_plugin_api::{oid, Driver, Fingerprint, SnmpValue, Target};

fn recording() -> AgentData {
    load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ridgewave-6900.snmprec"
    ))
    .unwrap()
}

fn collect(data: &AgentData) -> efi_plugin_api::DeviceRecord {
    run_snmprec(
        BecDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        data,
    )
    .unwrap()
}

#[test]
fn a_ridgewave_6900_gives_its_full_record() {
    let r = collect(&recording());
    assert_eq!(r.vendor.as_deref(), Some("BEC"));
    assert_eq!(r.model.as_deref(), Some("RidgeWave 6900"));
    assert_eq!(r.hostname.as_deref(), Some("RidgeWave6900"));
    assert_eq!(r.uptime_s, Some(86_400));
    assert_eq!(r.rssi_dbm, Some(-79.0));
    assert_eq!(r.rsrp_dbm, Some(-104.0), "from the combined signal string");
    assert_eq!(r.rsrq_db, Some(-7.0));
    assert_eq!(r.sinr_db, Some(18.4));
    assert_eq!(r.eci, Some(42529));
    assert_eq!(r.enb_id, Some(166), "ECI = eNB x 256 + cell");
    assert_eq!(r.cell_id, Some(33));
    assert_eq!(r.pci, Some(451));
    assert_eq!(
        r.identity.imei.as_deref(),
        Some("869910040000001"),
        "the trailing \\r is not part of the IMEI"
    );
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000101"));
    assert_eq!(
        r.identity.mac.as_deref(),
        Some("60:03:47:a1:b2:c3"),
        "eth0's MAC, not usb0's"
    );
    assert_eq!(r.bandwidth_mhz, Some(20.0), "the part after the last ':'");
    assert_eq!(r.earfcn, Some(55640));
    assert_eq!(r.rx_mcs, Some(17));
    assert_eq!(r.connected, Some(true));
    assert_eq!(
        r.tx_mcs, None,
        "not published by BEC over SNMP: absent, never zero"
    );
    assert_eq!(r.plmn, None);
}

#[test]
fn no_signal_and_sentinels_are_absent_not_zero() {
    let mut data = recording();
    let bec = |n: u32| oid("1.3.6.1.4.1.17453.4.1").child(n).child(0);
    data.set(
        bec(4),
        SnmpValue::OctetString(b"RSRP:- RSRQ:- SINR:-".to_vec()),
    );
    data.set(bec(3), SnmpValue::OctetString(b"-".to_vec()));
    data.set(bec(6), SnmpValue::OctetString(b"65535".to_vec()));
    data.set(bec(9), SnmpValue::OctetString(Vec::new()));
    let r = collect(&data);
    assert_eq!(
        (r.rsrp_dbm, r.rsrq_db, r.sinr_db, r.rssi_dbm),
        (None, None, None, None)
    );
    assert_eq!((r.eci, r.enb_id, r.cell_id), (None, None, None));
    assert_eq!(r.identity.imsi, None);
    assert_eq!(r.connected, Some(false));
}

#[test]
fn identifies_ridgewaves_and_nothing_else() {
    let d = BecDriver::default();
    let fp = |descr: &str| Fingerprint {
        sys_descr: Some(descr.into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&fp("BEC RidgeWave 6900 4G/LTE Outdoor Router")) >= 90);
    assert!(d.identify(&fp("bec 6500ael 4g/lte")) >= 90);
    assert_eq!(d.identify(&fp("Linux efi-lab-cpe-1 5.4.0 armv7l")), 0);
    assert_eq!(
        d.identify(&fp("Linux GDM7243 3.10.0-uc0")),
        0,
        "a Telrad CPE12300"
    );
    let by_oui = Fingerprint {
        tr069_oui: Some("600347".into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&by_oui) >= 90);
    let by_oid = Fingerprint {
        sys_object_id: Some("1.3.6.1.4.1.17453.4".into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&by_oid) >= 80);
    // A unit with SNMP off and no ACS: its web UI's title, or its Basic realm.
    for title in ["BEC RidgeWave 7000 Outdoor LTE Router", "RidgeWave 7000"] {
        let by_title = Fingerprint {
            http_title: Some(title.into()),
            ..Fingerprint::default()
        };
        assert!(d.identify(&by_title) >= 80, "{title}");
    }
    let other = Fingerprint {
        http_title: Some("Baicells Outdoor CPE".into()),
        ..Fingerprint::default()
    };
    assert_eq!(d.identify(&other), 0);
}

// The 6900's TR-069 tree as its ACS holds it (devices.md 3.1), from the host's cache.

fn tr069() -> efi_plugin_api::testing::Tr069Data {
    efi_plugin_api::testing::Tr069Data::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ridgewave-6900.tr069.json"
    ))
    .unwrap()
}

fn collect_with(
    snmp: Option<&AgentData>,
    cached: &efi_plugin_api::testing::Tr069Data,
) -> Result<efi_plugin_api::DeviceRecord, efi_plugin_api::PluginError> {
    use efi_plugin_api::{IoError, IoErrorKind, IoRequest};
    efi_plugin_api::testing::run(
        BecDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        |req| match (req, snmp) {
            (IoRequest::Tr069 { .. }, _) => cached.answer(req),
            (_, Some(data)) => data.answer(req),
            (_, None) => Err(IoError::new(IoErrorKind::Timeout, "no answer")),
        },
    )
}

#[test]
fn a_ridgewave_without_snmp_gives_its_record_over_tr069() {
    let r = collect_with(None, &tr069()).unwrap();
    assert_eq!(r.vendor.as_deref(), Some("BEC"));
    assert_eq!(r.model.as_deref(), Some("RidgeWave 6900"));
    assert_eq!(r.description.as_deref(), Some("4G/LTE Outdoor Router"));
    assert_eq!(
        r.firmware.as_deref(),
        Some("1.04.1.560.cbsd"),
        "trailing newline gone"
    );
    assert_eq!(r.hardware, None, "empty HardwareVersion is absent");
    assert_eq!(r.identity.serial.as_deref(), Some("600347A1B2C3"));
    assert_eq!(
        r.identity.imei.as_deref(),
        Some("869910040000001"),
        "\\r gone"
    );
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000101"));
    assert_eq!(r.identity.mac.as_deref(), Some("60:03:47:a1:b2:c3"));
    assert_eq!(r.uptime_s, Some(86_400));
    assert_eq!((r.rsrp_dbm, r.rsrq_db), (Some(-104.0), Some(-7.0)));
    assert_eq!((r.sinr_db, r.rssi_dbm), (Some(18.4), Some(-79.0)));
    assert_eq!(r.eci, Some(0xA621), "hex CellID without leading zeros");
    assert_eq!((r.enb_id, r.cell_id), (Some(166), Some(33)));
    assert_eq!(r.pci, Some(451));
    assert_eq!(r.plmn.as_deref(), Some("001010"));
    assert_eq!((r.bandwidth_mhz, r.band), (Some(20.0), Some(48)));
    assert_eq!((r.rx_mcs, r.tx_mcs), (Some(17), Some(9)));
    assert_eq!(r.connected, Some(true));
}

#[test]
fn an_all_digit_hex_cell_id_is_still_hex() {
    let mut cached = tr069();
    cached.set(
        "InternetGatewayDevice.WANDevice.X_BEC_COM_ModuleA.CellID",
        "1234",
    );
    let r = collect_with(None, &cached).unwrap();
    assert_eq!(r.eci, Some(0x1234));
}

#[test]
fn snmp_wins_and_tr069_fills_what_snmp_lacks() {
    let mut cached = tr069();
    cached.set(
        "InternetGatewayDevice.WANDevice.X_BEC_COM_ModuleA.MainRSRP",
        "-60",
    );
    let r = collect_with(Some(&recording()), &cached).unwrap();
    assert_eq!(r.rsrp_dbm, Some(-104.0), "SNMP's value, not the cache's");
    assert_eq!(r.band, Some(48), "only TR-069 has the band");
    assert_eq!(r.identity.serial.as_deref(), Some("600347A1B2C3"));
}

#[test]
fn neither_snmp_nor_tr069_nor_the_web_ui_fails_naming_all_three() {
    let e = collect_with(None, &efi_plugin_api::testing::Tr069Data::default()).unwrap_err();
    assert!(e.message.contains("BEC scalars: timeout"), "{e}");
    assert!(e.message.contains("TR-069: the cache holds none"), "{e}");
    assert!(
        e.message
            .contains("web: /cgi-bin/status_deviceinfo.asp: timeout"),
        "{e}"
    );
}

// The web UI's device-info page (lab/fixtures/web/bec-ridgewave-7000, the page
// efi-lab's simulated UI serves), for a unit that gives no MAC otherwise.

fn device_info_page() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../lab/fixtures/web/bec-ridgewave-7000/cgi-bin/status_deviceinfo.asp"
    ))
    .unwrap()
}

/// A poll where SNMP answers from `snmp` (or times out), the cache holds nothing, and the
/// web UI answers `page` (with the HTTP requests seen).
fn collect_with_web(
    snmp: Option<&AgentData>,
    page: impl Fn() -> efi_plugin_api::IoResponse,
) -> (
    Result<efi_plugin_api::DeviceRecord, efi_plugin_api::PluginError>,
    Vec<efi_plugin_api::HttpRequest>,
) {
    use efi_plugin_api::{IoError, IoErrorKind, IoRequest};
    let driver = BecDriver {
        settings: bec_ridgewave::web::BecSettings {
            web_credentials: Some("bec-web".into()),
            ..Default::default()
        },
    };
    let mut target = Target::new("127.0.0.1".parse().unwrap());
    target.web_port = 8081;
    let seen = std::cell::RefCell::new(Vec::new());
    let r = efi_plugin_api::testing::run(driver.collect(&target), |req| match (req, snmp) {
        (IoRequest::Http(h), _) => {
            seen.borrow_mut().push(h.clone());
            page()
        }
        (IoRequest::Tr069 { .. }, _) => efi_plugin_api::testing::Tr069Data::default().answer(req),
        (_, Some(data)) => data.answer(req),
        (_, None) => Err(IoError::new(IoErrorKind::Timeout, "no answer")),
    });
    (r, seen.into_inner())
}

fn ok_page(body: Vec<u8>) -> efi_plugin_api::IoResponse {
    Ok(efi_plugin_api::IoReply::Http(
        efi_plugin_api::HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body,
        },
    ))
}

#[test]
fn a_ridgewave_with_neither_snmp_nor_tr069_gives_its_mac_from_the_web_ui() {
    let (r, seen) = collect_with_web(None, || ok_page(device_info_page()));
    let r = r.unwrap();
    assert_eq!(r.vendor.as_deref(), Some("BEC"));
    assert_eq!(r.identity.mac.as_deref(), Some("60:03:47:00:00:01"));
    assert_eq!(r.firmware.as_deref(), Some("2.1.4"));
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].url, "http://127.0.0.1:8081/cgi-bin/status_deviceinfo.asp",
        "the target's web port"
    );
    assert_eq!(seen[0].credentials.as_deref(), Some("bec-web"));
}

#[test]
fn the_web_ui_fills_the_mac_snmp_lacks_and_is_not_asked_when_snmp_has_it() {
    let (r, seen) = collect_with_web(Some(&recording()), || ok_page(device_info_page()));
    assert!(seen.is_empty(), "SNMP gave the MAC: {seen:?}");
    assert_eq!(
        r.unwrap().identity.mac.as_deref(),
        Some("60:03:47:a1:b2:c3")
    );

    let without_if_table = AgentData::from_varbinds(
        recording()
            .walk(&oid("1.3.6.1"))
            .into_iter()
            .filter(|v| !v.oid.to_string().starts_with("1.3.6.1.2.1.2.2.1")),
    );
    let (r, seen) = collect_with_web(Some(&without_if_table), || ok_page(device_info_page()));
    let r = r.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        r.identity.mac.as_deref(),
        Some("60:03:47:00:00:01"),
        "the page's"
    );
    assert_eq!(r.rsrp_dbm, Some(-104.0), "SNMP's radio kept");
    assert_eq!(r.firmware.as_deref(), Some("2.1.4"));
}

#[test]
fn a_broken_device_info_page_is_a_named_error_and_snmp_data_is_kept() {
    let garbage = || ok_page(b"<html><body><table><tr><td>MAC Address</td><td>n/a".to_vec());
    let (r, _) = collect_with_web(None, garbage);
    let e = r.unwrap_err();
    assert!(e.message.contains("\"n/a\", not a MAC"), "{e}");
    let without_if_table = AgentData::from_varbinds(
        recording()
            .walk(&oid("1.3.6.1"))
            .into_iter()
            .filter(|v| !v.oid.to_string().starts_with("1.3.6.1.2.1.2.2.1")),
    );
    let (r, _) = collect_with_web(Some(&without_if_table), garbage);
    let r = r.unwrap();
    assert_eq!(r.identity.mac, None);
    assert_eq!(r.rsrp_dbm, Some(-104.0), "what SNMP gave stands");
}
