//! Replays of a recorded Atom walk (BAICELLS-MIB), with the agent's quirks.

use baicells_atom::BaicellsDriver;
use efi_plugin_api::snmprec::AgentData;
use efi_plugin_api::testing::{load_snmprec, run, run_snmprec, Tr069Data};
use efi_plugin_api::{
    oid, DeviceRecord, Driver, Fingerprint, IoError, IoErrorKind, IoRequest, PluginError,
    SnmpValue, Target,
};

fn recording() -> AgentData {
    load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/atom-od04.snmprec"
    ))
    .unwrap()
}

fn collect(data: &AgentData) -> Result<efi_plugin_api::DeviceRecord, efi_plugin_api::PluginError> {
    run_snmprec(
        BaicellsDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        data,
    )
}

fn set(data: &mut AgentData, group: u32, object: u32, value: &str) {
    data.set(
        oid("1.3.6.1.4.1.53058.2")
            .child(group)
            .child(object)
            .child(0),
        SnmpValue::OctetString(value.as_bytes().to_vec()),
    );
}

#[test]
fn an_atom_gives_its_full_record() {
    let r = collect(&recording()).unwrap();
    assert_eq!(r.vendor.as_deref(), Some("Baicells"));
    assert_eq!(r.model.as_deref(), Some("OD04"));
    assert_eq!(r.firmware.as_deref(), Some("BaiCE_BM_2.5.26.2_NA"));
    assert_eq!(r.identity.serial.as_deref(), Some("1203000AQ0000000001"));
    assert_eq!(r.identity.imei.as_deref(), Some("867945040000002"));
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000102"));
    assert_eq!(r.identity.mac.as_deref(), Some("48:bf:74:00:00:02"));
    assert_eq!(r.uptime_s, Some(3600));
    assert_eq!((r.rx_mcs, r.tx_mcs), (Some(23), Some(11)));
    assert_eq!(r.bandwidth_mhz, Some(20.0), "20000 kHz");
    assert_eq!(r.rsrp_dbm, Some(-96.0), "mean of the two antennas");
    assert_eq!((r.rsrq_db, r.sinr_db), (Some(-10.0), Some(21.0)));
    assert_eq!(r.pci, Some(451));
    assert_eq!(r.eci, Some(42529), "CellID is the decimal ECI on Baicells");
    assert_eq!((r.enb_id, r.cell_id), (Some(166), Some(33)));
    assert_eq!(r.plmn.as_deref(), Some("00101"));
    let metric = |n: &str| r.metrics.iter().find(|m| m.name == n).map(|m| m.value);
    assert_eq!(metric("connection_time_s"), Some(3723.0), "hh:mm:ss");
    assert_eq!(metric("tx_power_dbm"), Some(19.2));
    assert_eq!(metric("downlink_frequency_khz"), Some(3_629_000.0));
}

#[test]
fn no_signal_invalid_values_and_empty_imsi_are_absent() {
    let mut data = recording();
    for (g, o, v) in [
        (2, 7, "-"),
        (2, 8, "-"),
        (2, 9, "-"),
        (2, 10, "-"),
        (2, 5, "65535"),
        (2, 15, "65535"),
        (2, 16, "65535"),
        (3, 3, ""),
    ] {
        set(&mut data, g, o, v);
    }
    let r = collect(&data).unwrap();
    assert_eq!((r.rsrp_dbm, r.rsrq_db, r.sinr_db), (None, None, None));
    assert_eq!(
        (r.bandwidth_mhz, r.eci, r.enb_id, r.cell_id),
        (None, None, None, None)
    );
    assert_eq!(r.identity.imsi, None);
    assert_eq!(r.connected, Some(false));
}

#[test]
fn firmware_without_snmp_is_reported_not_guessed() {
    let data = AgentData::from_varbinds(recording().walk(&oid("1.3.6.1.2.1")));
    let err = collect(&data).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("BAICELLS-MIB does not answer"), "{err}");
    assert!(err.contains("TR-069: unsupported"), "{err}");
}

#[test]
fn identification() {
    let d = BaicellsDriver::default();
    let fp = |descr: &str| Fingerprint {
        sys_descr: Some(descr.into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&fp("Linux BaiCPE 3.18.29 #1 SMP mips")) >= 90);
    assert_eq!(
        d.identify(&fp("BEC RidgeWave 6900 4G/LTE Outdoor Router")),
        0
    );
    let by_oui = Fingerprint {
        tr069_oui: Some("48BF74".into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&by_oui) >= 90);
}

// The ODU's TR-069 tree as its ACS holds it (devices.md 3.2), read from the host's cache.

fn tr069() -> Tr069Data {
    Tr069Data::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/eg7010a.tr069.json"
    ))
    .unwrap()
}

const STATUS: &str = "InternetGatewayDevice.WEB_GUI.Network.LTE_Setting.Status.";

fn collect_tr069(data: &Tr069Data) -> Result<DeviceRecord, PluginError> {
    run(
        BaicellsDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        |req| match req {
            IoRequest::SnmpGet { .. } => Err(IoError::new(IoErrorKind::Timeout, "no answer")),
            other => data.answer(other),
        },
    )
}

#[test]
fn an_od06_without_snmp_gives_its_full_record_over_tr069() {
    let r = collect_tr069(&tr069()).unwrap();
    assert_eq!(r.vendor.as_deref(), Some("Baicells"));
    assert_eq!(r.model.as_deref(), Some("EG7010A_M11_Ver.B"));
    assert_eq!(r.hardware.as_deref(), Some("EG7010A_M11_Ver.B"));
    assert_eq!(r.firmware.as_deref(), Some("BaiCE_BG_1.6.16"));
    assert_eq!(r.identity.serial.as_deref(), Some("1203000AQ0000000001"));
    assert_eq!(r.identity.imei.as_deref(), Some("867945040000002"));
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000102"));
    assert_eq!(r.identity.mac.as_deref(), Some("48:bf:74:00:00:02"));
    assert_eq!(r.uptime_s, Some(3600));
    assert_eq!((r.rx_mcs, r.tx_mcs), (Some(23), Some(11)));
    assert_eq!(r.bandwidth_mhz, Some(20.0), "the ODU says 20 (MHz)");
    assert_eq!((r.band, r.earfcn), (Some(43), Some(43690)));
    assert_eq!(r.rsrp_dbm, Some(-96.0), "mean of RSRP0 and RSRP1");
    assert_eq!((r.rsrq_db, r.sinr_db), (Some(-10.0), Some(21.0)));
    assert_eq!(r.pci, Some(451));
    assert_eq!(r.eci, Some(42529), "Cell_ID is the decimal ECI");
    assert_eq!((r.enb_id, r.cell_id), (Some(166), Some(33)));
    assert_eq!(r.plmn.as_deref(), Some("00101"));
    assert_eq!(r.connected, Some(true));
    let metric = |n: &str| r.metrics.iter().find(|m| m.name == n).map(|m| m.value);
    assert_eq!(metric("connection_time_s"), Some(3723.0));
    assert_eq!(metric("tx_power_dbm"), Some(19.2));
    assert_eq!(metric("downlink_frequency_khz"), Some(3_629_000.0));
}

#[test]
fn idu_firmware_quirks_and_missing_values_over_tr069() {
    let mut data = tr069();
    // The IDU reports kHz and no band; a CPE without signal says "-"; IMEIs may end in \r.
    data.set(&format!("{STATUS}Bandwidth"), "20000");
    data.remove(&format!("{STATUS}Band"));
    data.set(&format!("{STATUS}RSRP0"), "-");
    data.set(&format!("{STATUS}RSRP1"), "-");
    data.set(&format!("{STATUS}Cell_ID"), "65535");
    data.set(
        "InternetGatewayDevice.WEB_GUI.Overview.DeviceInfo.IMEI",
        "867945040000002\r",
    );
    let r = collect_tr069(&data).unwrap();
    assert_eq!(r.bandwidth_mhz, Some(20.0), "20000 kHz");
    assert_eq!(r.band, None);
    assert_eq!((r.rsrp_dbm, r.connected), (None, Some(false)));
    assert_eq!((r.eci, r.cell_id), (None, None));
    assert_eq!(r.enb_id, Some(166), "eNB_ID alone is kept");
    assert_eq!(r.identity.imei.as_deref(), Some("867945040000002"));
}

#[test]
fn snmp_wins_where_both_answer_and_tr069_fills_the_gaps() {
    let snmp = recording();
    let mut cached = tr069();
    cached.set(&format!("{STATUS}SINR"), "5");
    let r = run(
        BaicellsDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        |req| match req {
            IoRequest::Tr069 { .. } => cached.answer(req),
            other => snmp.answer(other),
        },
    )
    .unwrap();
    assert_eq!(r.model.as_deref(), Some("OD04"), "from BAICELLS-MIB");
    assert_eq!(r.sinr_db, Some(21.0), "SNMP's value, not the cache's 5");
    assert_eq!(
        (r.band, r.earfcn),
        (Some(43), Some(43690)),
        "only TR-069 has these"
    );
}

#[test]
fn neither_way_in_fails_naming_both() {
    let e = collect_tr069(&Tr069Data::default()).unwrap_err();
    assert!(e.message.contains("BAICELLS-MIB: timeout"), "{e}");
    assert!(e.message.contains("TR-069: the cache holds none"), "{e}");
    let e = run(
        BaicellsDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        |req| match req {
            IoRequest::SnmpGet { .. } => Err(IoError::new(IoErrorKind::Timeout, "no answer")),
            _ => Err(IoError::new(
                IoErrorKind::Unsupported,
                "no TR-069 data for 127.0.0.1",
            )),
        },
    )
    .unwrap_err();
    assert!(
        e.message.contains("TR-069: unsupported: no TR-069 data"),
        "{e}"
    );
}
