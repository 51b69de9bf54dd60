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
        BecDriver.collect(&Target::new("127.0.0.1".parse().unwrap())),
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
    let d = BecDriver;
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
        BecDriver.collect(&Target::new("127.0.0.1".parse().unwrap())),
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
fn neither_snmp_nor_tr069_fails_naming_both() {
    let e = collect_with(None, &efi_plugin_api::testing::Tr069Data::default()).unwrap_err();
    assert!(e.message.contains("BEC scalars: timeout"), "{e}");
    assert!(e.message.contains("TR-069: the cache holds none"), "{e}");
}
