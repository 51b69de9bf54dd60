//! Replays of a recorded CPE12000SG walk.

use efi_plugin_api::snmprec::AgentData;
use efi_plugin_api::testing::{load_snmprec, run_snmprec};
use efi_plugin_api::{oid, Driver, Fingerprint, Target};
use telrad_cpe::TelradDriver;

fn recording() -> AgentData {
    load_snmprec(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cpe12000sg.snmprec"
    ))
    .unwrap()
}

#[test]
fn a_cpe12000sg_gives_its_full_record() {
    let r = run_snmprec(
        TelradDriver.collect(&Target::new("127.0.0.1".parse().unwrap())),
        &recording(),
    )
    .unwrap();
    assert_eq!(r.vendor.as_deref(), Some("Telrad"));
    assert_eq!(r.model.as_deref(), Some("CPE12000SG"));
    assert_eq!(r.firmware.as_deref(), Some("01.02.01.035"));
    assert_eq!(r.identity.serial.as_deref(), Some("TLR000000001"));
    assert_eq!(r.identity.imei.as_deref(), Some("357498100000003"));
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000103"));
    assert_eq!(r.identity.mac.as_deref(), Some("80:02:9c:11:22:33"));
    assert_eq!(
        r.rsrp_dbm,
        Some(-91.0),
        "mean of the two antennas that report; unused ones say 0"
    );
    assert_eq!(r.rsrq_db, Some(-10.0));
    assert_eq!(r.sinr_db, Some(15.0));
    assert_eq!(r.tx_rate_bps, Some(4320.0), "\"4.320 kbps\"");
    assert_eq!(r.rx_rate_bps, Some(5_676_000.0));
    assert_eq!(r.pci, Some(451));
    assert_eq!(r.enb_id, Some(166));
    assert_eq!(r.cell_id, Some(33), "the local cell ID");
    assert_eq!(
        r.eci,
        Some(166 * 256 + 33),
        "ECI = eNB x 256 + cell when the CPE gives them apart"
    );
    assert_eq!(
        r.uptime_s,
        Some(8 * 86_400 + 14 * 3_600 + 45 * 60),
        "uptime as text"
    );
    let antennas: Vec<_> = r
        .metrics
        .iter()
        .filter(|m| m.name == "antenna_rsrp_dbm")
        .collect();
    assert_eq!(antennas.len(), 2);
    assert!(r
        .metrics
        .iter()
        .any(|m| m.name == "tx_power_dbm" && m.value == 21.0));
}

#[test]
fn a_cpe12300_is_refused_with_the_reason() {
    let mut data = recording();
    let cpe12300 =
        AgentData::from_varbinds(data.walk(&oid("1.3.6.1.2.1")).into_iter().map(|mut v| {
            if v.oid == oid("1.3.6.1.2.1.1.1.0") {
                v.value =
                    efi_plugin_api::SnmpValue::OctetString(b"Linux GDM7243 3.10.0-uc0".to_vec());
            }
            v
        }));
    data = cpe12300;
    let err = run_snmprec(
        TelradDriver.collect(&Target::new("127.0.0.1".parse().unwrap())),
        &data,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a CPE12000"), "{err}");
}

#[test]
fn identification() {
    let d = TelradDriver;
    let fp = |descr: &str| Fingerprint {
        sys_descr: Some(descr.into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&fp("Linux WLTGG-122 2.6.36-uc0")) > 0);
    assert_eq!(
        d.identify(&fp("BEC RidgeWave 6900 4G/LTE Outdoor Router")),
        0
    );
    assert_eq!(d.identify(&fp("Linux efi-lab-cpe-1 5.4.0 armv7l")), 0);
    let by_oui = Fingerprint {
        tr069_oui: Some("20107A".into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&by_oui) >= 90);
}
