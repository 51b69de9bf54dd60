//! Replays of a recorded Atom walk (BAICELLS-MIB), with the agent's quirks.

use baicells_atom::BaicellsDriver;
use efi_plugin_api::snmprec::AgentData;
use efi_plugin_api::testing::{load_snmprec, run_snmprec};
use efi_plugin_api::{oid, Driver, Fingerprint, SnmpValue, Target};

fn recording() -> AgentData {
    load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/atom-od04.snmprec"
    ))
    .unwrap()
}

fn collect(data: &AgentData) -> Result<efi_plugin_api::DeviceRecord, efi_plugin_api::PluginError> {
    run_snmprec(
        BaicellsDriver.collect(&Target::new("127.0.0.1".parse().unwrap())),
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
    assert!(err.to_string().contains("web CGI"), "{err}");
}

#[test]
fn identification() {
    let d = BaicellsDriver;
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
