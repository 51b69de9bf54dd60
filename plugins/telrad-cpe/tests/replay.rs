//! Replays of a recorded CPE12000SG walk, and of a CPE12300's web pages (the fixture pages
//! the efi-lab web UI serves, lab/fixtures/web/telrad-cpe12300).

use efi_plugin_api::snmprec::AgentData;
use efi_plugin_api::testing::{load_snmprec, run, run_snmprec, Tr069Data};
use efi_plugin_api::{
    oid, DeviceRecord, Driver, Fingerprint, HttpResponse, IoError, IoErrorKind, IoReply, IoRequest,
    SnmpValue, Target, TlsPolicy,
};
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
        TelradDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
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

/// The CPE12000 recording with a CPE12300's sysDescr and no 17713.20 tree.
fn cpe12300_snmp() -> AgentData {
    let data = recording();
    AgentData::from_varbinds(data.walk(&oid("1.3.6.1.2.1")).into_iter().map(|mut v| {
        if v.oid == oid("1.3.6.1.2.1.1.1.0") {
            v.value = SnmpValue::OctetString(b"Linux GDM7243 3.10.0-uc0".to_vec());
        }
        v
    }))
}

/// Answers SNMP from `snmp` and each CGI from the fixture directory (`<cgi>.<Command>`),
/// with `page` given the chance to replace a page's body.
fn cpe12300(
    page: impl Fn(&str, Vec<u8>) -> Vec<u8>,
) -> Result<DeviceRecord, efi_plugin_api::PluginError> {
    cpe12300_with(Some(&cpe12300_snmp()), &Tr069Data::default(), page)
}

/// [`cpe12300`] with SNMP optional (`None`: it times out) and a TR-069 cache.
fn cpe12300_with(
    snmp: Option<&AgentData>,
    cached: &Tr069Data,
    page: impl Fn(&str, Vec<u8>) -> Vec<u8>,
) -> Result<DeviceRecord, efi_plugin_api::PluginError> {
    let web = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../lab/fixtures/web/telrad-cpe12300"
    );
    run(
        TelradDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        |req| match req {
            IoRequest::Http(h) => {
                assert_eq!(h.tls, TlsPolicy::AcceptInvalid, "the units are self-signed");
                let url = h.url.strip_prefix("https://127.0.0.1:8080/").expect(&h.url);
                let (path, query) = url.split_once('?').unwrap();
                let command = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Command="))
                    .unwrap();
                let file = format!("{web}/{path}.{command}");
                let body = page(command, std::fs::read(&file).expect(&file));
                Ok(IoReply::Http(HttpResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "text/xml".into())],
                    body,
                }))
            }
            IoRequest::Tr069 { .. } => cached.answer(req),
            other => match snmp {
                Some(snmp) => snmp.answer(other),
                None => Err(IoError::new(IoErrorKind::Timeout, "no answer")),
            },
        },
    )
}

#[test]
fn a_cpe12300_is_read_from_its_web_pages() {
    let r = cpe12300(|_, body| body).unwrap();
    assert_eq!(r.vendor.as_deref(), Some("Telrad"));
    assert_eq!(r.model.as_deref(), Some("CPE12300"));
    assert_eq!(r.description.as_deref(), Some("Linux GDM7243 3.10.0-uc0"));
    assert_eq!(r.identity.serial.as_deref(), Some("00000000001"));
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000001"));
    assert_eq!(r.identity.imei.as_deref(), Some("000000000000001"));
    assert_eq!(r.identity.mac.as_deref(), Some("00:00:5e:00:53:01"));
    assert_eq!(r.bandwidth_mhz, Some(20.0));
    assert_eq!(r.eci, Some(42529), "Cell_ID all digits: a decimal ECI");
    assert_eq!((r.enb_id, r.cell_id), (Some(166), Some(33)));
    assert_eq!(r.pci, Some(101));
    assert_eq!(r.sinr_db, Some(14.0));
    assert_eq!(r.rssi_dbm, Some(-67.0));
    assert_eq!((r.tx_mcs, r.rx_mcs), (Some(18), Some(22)));
    assert_eq!(r.rx_rate_bps, Some(1_200_000.0), "\"1200 kbps\"");
    assert_eq!(r.tx_rate_bps, Some(300_000.0));
    assert_eq!(
        r.rsrp_dbm,
        Some(-93.5),
        "mean of the antennas that report; 0 is unused"
    );
    assert_eq!(r.rsrq_db, Some(-10.0));
    assert_eq!(r.earfcn, Some(40620));
    assert_eq!(r.connected, Some(true));
    let antennas = r
        .metrics
        .iter()
        .filter(|m| m.name == "antenna_rsrp_dbm")
        .count();
    assert_eq!(antennas, 2);
    assert!(r
        .metrics
        .iter()
        .any(|m| m.name == "max_rx_rate_bps" && m.value == 45_000_000.0));
}

#[test]
fn a_cpe12300_with_a_hex_eci_and_a_broken_page_keeps_what_is_valid() {
    let r = cpe12300(|command, body| match command {
        // The Thr page answers garbage; Status has the 7-hex-digit ECI of this model.
        "Thr" => b"\x00<<<not xml".to_vec(),
        "Status" => String::from_utf8(body)
            .unwrap()
            .replace("<Cell_ID>42529</Cell_ID>", "<Cell_ID>000A617</Cell_ID>")
            .into_bytes(),
        _ => body,
    })
    .unwrap();
    assert_eq!(r.eci, Some(0xA617));
    assert_eq!((r.enb_id, r.cell_id), (Some(166), Some(23)));
    assert_eq!(r.rx_rate_bps, None, "the broken page's fields are absent");
    assert_eq!(r.rsrp_dbm, Some(-93.5), "the other pages still count");
    assert_eq!(r.identity.serial.as_deref(), Some("00000000001"));
}

#[test]
fn a_cpe12300_whose_pages_all_fail_is_a_named_error() {
    let err = cpe12300(|_, _| b"<html>500".to_vec())
        .unwrap_err()
        .to_string();
    assert!(err.contains("CPE12300 at 127.0.0.1"), "{err}");
    assert!(err.contains("cusltestatus.cgi?Command=Status"), "{err}");
}

#[test]
fn identification() {
    let d = TelradDriver::default();
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
    let cpe12300 = Fingerprint {
        tr069_product_class: Some("CPE12300XG".into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&cpe12300) >= 90);
    let by_tac = Fingerprint {
        imei: Some("866301030000001".into()),
        ..Fingerprint::default()
    };
    assert!(d.identify(&by_tac) > 0);
}

// The TR-069 trees as the ACS holds them (devices.md 3.3 and 3.4), from the host's cache.

fn tr069(file: &str) -> Tr069Data {
    Tr069Data::load(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A CPE12000SG poll with SNMP optional (`None`: it times out) and a TR-069 cache.
fn cpe12000_with(
    snmp: Option<&AgentData>,
    cached: &Tr069Data,
) -> Result<DeviceRecord, efi_plugin_api::PluginError> {
    run(
        TelradDriver::default().collect(&Target::new("127.0.0.1".parse().unwrap())),
        |req| match (req, snmp) {
            (IoRequest::Tr069 { .. }, _) => cached.answer(req),
            (IoRequest::Http(h), _) => panic!("a CPE12000SG has no pages to read: {}", h.url),
            (_, Some(data)) => data.answer(req),
            (_, None) => Err(IoError::new(IoErrorKind::Timeout, "no answer")),
        },
    )
}

#[test]
fn a_cpe12000sg_without_snmp_gives_its_record_over_tr069() {
    let r = cpe12000_with(None, &tr069("cpe12000sg.tr069.json")).unwrap();
    assert_eq!(
        r.vendor.as_deref(),
        Some("Telrad"),
        "not the OEM's \"Generic\""
    );
    assert_eq!(r.model.as_deref(), Some("CPE12000SG"));
    assert_eq!(r.description.as_deref(), Some("Outdoor CPE CAT12"));
    assert_eq!(r.firmware.as_deref(), Some("01.02.01.035"));
    assert_eq!(r.hardware.as_deref(), Some("V00A"));
    assert_eq!(r.identity.serial.as_deref(), Some("TLR000000001"));
    assert_eq!(r.identity.imei.as_deref(), Some("357498100000003"));
    assert_eq!(r.identity.imsi.as_deref(), Some("001010000000103"));
    assert_eq!(r.uptime_s, Some(745_500), "DeviceInfo.UpTime, in seconds");
    assert_eq!(
        (r.rsrp_dbm, r.rsrq_db, r.sinr_db),
        (Some(-91.0), Some(-10.0), Some(15.0)),
        "means of the antennas that report; RSRP2/3 say 0"
    );
    assert_eq!(r.rssi_dbm, Some(-61.0));
    assert_eq!(
        (r.enb_id, r.cell_id, r.eci),
        (Some(166), Some(42), Some(166 * 256 + 42)),
        "CellID is the local cell, eNodeBID apart"
    );
    assert_eq!(r.pci, Some(451));
    assert_eq!(r.plmn.as_deref(), Some("00101"));
    assert_eq!(r.bandwidth_mhz, Some(20.0), "20000 kHz");
    assert_eq!(r.earfcn, Some(56640));
    assert_eq!((r.rx_mcs, r.tx_mcs), (Some(22), Some(16)));
    assert_eq!(r.rx_rate_bps, Some(5_676_000.0), "\"5676.000 kbps\"");
    assert_eq!(r.tx_rate_bps, Some(4_320.0), "\"4.320 kbps\"");
    assert_eq!(
        (r.octets_received, r.octets_sent),
        (Some(1_499_331_200), Some(88_204_112))
    );
    assert_eq!(r.connected, Some(true));
    let antennas = r
        .metrics
        .iter()
        .filter(|m| m.name == "antenna_rsrp_dbm")
        .count();
    assert_eq!(antennas, 2);
}

#[test]
fn a_cpe12000sg_uptime_falls_back_to_its_text() {
    let mut cached = tr069("cpe12000sg.tr069.json");
    cached.remove("InternetGatewayDevice.DeviceInfo.UpTime");
    let r = cpe12000_with(None, &cached).unwrap();
    assert_eq!(r.uptime_s, Some(8 * 86_400 + 14 * 3_600 + 45 * 60));
}

#[test]
fn snmp_wins_on_a_cpe12000sg_and_tr069_fills_what_snmp_lacks() {
    let r = cpe12000_with(Some(&recording()), &tr069("cpe12000sg.tr069.json")).unwrap();
    assert_eq!(r.cell_id, Some(33), "SNMP's local cell, not the cache's 42");
    assert_eq!(r.eci, Some(166 * 256 + 33));
    assert_eq!(
        r.uptime_s,
        Some(8 * 86_400 + 14 * 3_600 + 45 * 60),
        "SNMP's"
    );
    assert_eq!(r.rssi_dbm, Some(-61.0), "only TR-069 has RSSI");
    assert_eq!(r.earfcn, Some(56640), "only TR-069 has the EARFCN");
    assert_eq!(r.bandwidth_mhz, Some(20.0));
    assert_eq!(r.plmn.as_deref(), Some("00101"));
    assert_eq!(
        r.identity.mac.as_deref(),
        Some("80:02:9c:11:22:33"),
        "SNMP's"
    );
    let antennas = r
        .metrics
        .iter()
        .filter(|m| m.name == "antenna_rsrp_dbm")
        .count();
    assert_eq!(antennas, 2, "the cache's antennas do not double SNMP's");
}

#[test]
fn a_telrad_with_neither_snmp_nor_tr069_fails_naming_both() {
    let e = cpe12000_with(None, &Tr069Data::default()).unwrap_err();
    assert!(e.message.contains("Telrad scalars: timeout"), "{e}");
    assert!(e.message.contains("TR-069: the cache holds none"), "{e}");
}

#[test]
fn a_cpe12300xg_with_neither_snmp_nor_pages_gives_its_record_over_tr069() {
    let r = cpe12300_with(None, &tr069("cpe12300xg.tr069.json"), |_, _| {
        b"<html>500".to_vec()
    })
    .unwrap();
    assert_eq!(r.vendor.as_deref(), Some("Telrad"));
    assert_eq!(
        r.model.as_deref(),
        Some("CPE12300XG"),
        "ModelName, not ProductClass"
    );
    assert_eq!(r.firmware.as_deref(), Some("KT2A_OTE722_TRD_1.0.1.110"));
    assert_eq!(r.identity.serial.as_deref(), Some("00000000001"));
    assert_eq!(r.identity.imei.as_deref(), Some("866301030000004"));
    assert_eq!(r.identity.imsi.as_deref(), Some("313870000000104"));
    assert_eq!(
        r.identity.mac.as_deref(),
        Some("34:ba:9a:00:00:05"),
        "the LAN MAC, as the web UI gives it"
    );
    assert_eq!(r.uptime_s, Some(7200));
    assert_eq!((r.rsrp_dbm, r.rsrq_db), (Some(-93.0), Some(-10.0)));
    assert_eq!((r.sinr_db, r.rssi_dbm), (Some(14.0), Some(-67.0)));
    assert_eq!(
        (r.eci, r.enb_id, r.cell_id),
        (Some(0xA617), Some(166), Some(23)),
        "ECI is 7 hex characters"
    );
    assert_eq!(r.pci, Some(101));
    assert_eq!(r.plmn.as_deref(), Some("313870"));
    assert_eq!(
        (r.bandwidth_mhz, r.band),
        (Some(20.0), Some(48)),
        "\"20MHz\""
    );
    assert_eq!(r.earfcn, Some(56638));
    assert_eq!((r.rx_mcs, r.tx_mcs), (Some(22), Some(18)));
    assert_eq!(
        r.rx_rate_bps,
        Some(20_352_000.0),
        "no unit: kbps, as the pages"
    );
    assert_eq!(r.tx_rate_bps, Some(36_464_000.0));
    assert_eq!(
        r.octets_received,
        Some(4_294_967_000),
        "32-bit counter as read"
    );
    assert_eq!(
        (r.octets_sent, r.packets_sent),
        (Some(120_000_000), Some(900_000))
    );
    assert_eq!(r.connected, Some(true), "ServiceStatus Connected");
    let antennas: Vec<f64> = r
        .metrics
        .iter()
        .filter(|m| m.name == "antenna_rsrp_dbm")
        .map(|m| m.value)
        .collect();
    assert_eq!(antennas, [-92.0, -95.0], "ANTX2/3 say 0.0: unused");
    assert!(r
        .metrics
        .iter()
        .any(|m| m.name == "tx_power_dbm" && m.value == 21.0));
}

#[test]
fn a_cpe12300_without_snmp_is_recognised_by_its_tree_and_its_pages_read() {
    let r = cpe12300_with(None, &tr069("cpe12300xg.tr069.json"), |_, body| body).unwrap();
    assert_eq!(r.rsrp_dbm, Some(-93.5), "the live pages win over the cache");
    assert_eq!(r.pci, Some(101));
    assert_eq!(r.band, Some(48), "only the cache has the band");
    assert_eq!(
        r.model.as_deref(),
        Some("CPE12300XG"),
        "the cache's full model"
    );
    assert_eq!(
        r.identity.mac.as_deref(),
        Some("00:00:5e:00:53:01"),
        "the page's"
    );
}

#[test]
fn a_cpe12300_all_digit_eci_is_still_hex() {
    let mut cached = tr069("cpe12300xg.tr069.json");
    cached.set(
        "InternetGatewayDevice.WANDevice.1.WANNetConfigInfo.ECI",
        "0001234",
    );
    let r = cpe12300_with(None, &cached, |_, _| Vec::new()).unwrap();
    assert_eq!(r.eci, Some(0x1234));
}

#[test]
fn a_cpe12300_that_lost_service_is_not_connected() {
    let mut cached = tr069("cpe12300xg.tr069.json");
    for antenna in 0..4 {
        cached.set(
            &format!("InternetGatewayDevice.WANDevice.1.WANNetConfigInfo.ANTX{antenna}.RSRP"),
            "0.0",
        );
    }
    cached.set(
        "InternetGatewayDevice.WANDevice.1.WANNetConfigInfo.RSRP",
        "0",
    );
    cached.set(
        "InternetGatewayDevice.WANDevice.1.WANNetConfigInfo.ServiceStatus",
        "NoService",
    );
    let r = cpe12300_with(None, &cached, |_, _| Vec::new()).unwrap();
    assert_eq!(r.rsrp_dbm, None, "0 is no reading, not 0 dBm");
    assert_eq!(r.connected, Some(false));
    assert!(!r.metrics.iter().any(|m| m.name == "antenna_rsrp_dbm"));
}
