//! baicells-atom: the driver for Baicells Atom LTE CPEs (OD04/OD06 family) over BAICELLS-MIB
//! (1.3.6.1.4.1.53058.2, scalars read at their `.0` instance: the column OID returns junk).
//! Quirks handled (shared/reference/devices.md 2.5): `-` for no signal, `65535` for invalid
//! frequency/bandwidth/eNB/cell, empty IMSI, `hh:mm:ss` connection time, two antennas.
//! The OD06's SNMP depends on its firmware; its web CGI is the other way in (issue 7).

use efi_plugin_api::normalise::{
    average_nonzero, bandwidth_mhz, digits, mac_text, number, text, uptime_text,
};
use efi_plugin_api::prelude::*;
use efi_plugin_api::{now_unix_ms, Metric};
use std::collections::BTreeMap;

const BASE: &str = "1.3.6.1.4.1.53058.2";
const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

/// (group, object) pairs read, each at `.0`.
const OBJECTS: [(u32, u32); 24] = [
    (1, 3),  // Manufacturer
    (1, 5),  // ProductClass
    (1, 6),  // SerialNumber
    (1, 7),  // HardwareVersion
    (1, 8),  // SoftwareVersion
    (1, 9),  // UpTime (seconds)
    (2, 1),  // DownLinkMCS
    (2, 2),  // UpLinkMCS
    (2, 3),  // DownLinkFrequency (kHz)
    (2, 5),  // BandWidth
    (2, 7),  // AntRSRP0
    (2, 8),  // AntRSRP1
    (2, 9),  // AntRSRQ
    (2, 10), // AntSINR
    (2, 13), // TxPower
    (2, 14), // PCI
    (2, 15), // eNBID
    (2, 16), // CellID
    (2, 17), // MCC
    (2, 18), // MNC
    (3, 2),  // IMEI
    (3, 3),  // IMSI
    (3, 5),  // ConnectionTime hh:mm:ss
    (3, 19), // LanMacAddress
];

fn obj(group: u32, object: u32) -> Oid {
    oid(BASE).child(group).child(object).child(0)
}

/// The plugin.
pub struct BaicellsPlugin;

impl Plugin for BaicellsPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "baicells-atom".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Baicells Atom CPEs over BAICELLS-MIB (SNMP)".into(),
            kinds: vec![PluginKind::Driver],
            models: vec!["Baicells Atom OD06".into(), "Baicells Atom OD04".into()],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(BaicellsPlugin)
    }

    fn new_driver(&self, _config: &PluginConfig) -> Result<Box<dyn Driver>, PluginError> {
        Ok(Box::new(BaicellsDriver))
    }
}

/// The driver.
pub struct BaicellsDriver;

impl Driver for BaicellsDriver {
    fn identify(&self, fp: &Fingerprint) -> Confidence {
        let mut score = 0;
        if fp.tr069_oui_is("48BF74") {
            score = score.max(95);
        }
        if fp
            .sys_descr
            .as_deref()
            .is_some_and(|d| d.contains("BaiCPE"))
        {
            score = score.max(90);
        }
        if fp.mac_oui_is("48:bf:74") {
            score = score.max(70);
        }
        if fp.imei_tac_in(&["86794504", "86628803"]) {
            score = score.max(60);
        }
        score
    }

    fn collect(&self, _target: &Target) -> BoxTask<DeviceRecord> {
        Box::new(Collect)
    }
}

struct Collect;

impl Task for Collect {
    type Output = DeviceRecord;

    fn start(&mut self) -> Step<DeviceRecord> {
        let mut oids: Vec<Oid> = OBJECTS.iter().map(|(g, o)| obj(*g, *o)).collect();
        oids.push(oid(SYS_DESCR));
        oids.push(oid(SYS_NAME));
        Step::Requests(vec![IoRequest::SnmpGet { oids }])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<DeviceRecord> {
        let values: BTreeMap<Oid, SnmpValue> = match responses.into_iter().next() {
            Some(Ok(IoReply::Snmp(vbs))) => vbs.into_iter().map(|v| (v.oid, v.value)).collect(),
            Some(Err(e)) => return Step::Failed(PluginError::io(format!("BAICELLS-MIB: {e}"))),
            _ => return Step::Failed(PluginError::protocol("BAICELLS-MIB: no SNMP answer")),
        };
        let get = |g: u32, o: u32| values.get(&obj(g, o)).and_then(text);
        let num = |g: u32, o: u32| get(g, o).and_then(|t| number(&t));
        if get(1, 5).is_none() && get(3, 2).is_none() {
            return Step::Failed(PluginError::unsupported(
                "BAICELLS-MIB does not answer (SNMP support depends on the firmware; use the web CGI)",
            ));
        }
        let mut r = DeviceRecord {
            vendor: get(1, 3).or(Some("Baicells".into())),
            model: get(1, 5),
            hardware: get(1, 7),
            firmware: get(1, 8),
            description: values.get(&oid(SYS_DESCR)).and_then(text),
            hostname: values.get(&oid(SYS_NAME)).and_then(text),
            ..DeviceRecord::default()
        };
        r.identity.serial = get(1, 6);
        r.identity.imei = digits(get(3, 2), 14);
        r.identity.imsi = digits(get(3, 3), 6);
        r.identity.mac = get(3, 19).and_then(|m| mac_text(&m));
        r.uptime_s = num(1, 9).filter(|v| *v >= 0.0).map(|v| v as u64);
        r.last_boot_unix_s = r.uptime_s.map(|u| (now_unix_ms() / 1000) as i64 - u as i64);
        r.rx_mcs = num(2, 1).and_then(|v| u8::try_from(v as i64).ok());
        r.tx_mcs = num(2, 2).and_then(|v| u8::try_from(v as i64).ok());
        r.bandwidth_mhz = get(2, 5).and_then(|t| bandwidth_mhz(&t));
        let antennas: Vec<f64> = [num(2, 7), num(2, 8)].into_iter().flatten().collect();
        r.rsrp_dbm = average_nonzero(&antennas);
        for (i, v) in antennas.iter().enumerate() {
            r.metrics.push(Metric {
                name: "antenna_rsrp_dbm".into(),
                labels: vec![("antenna".into(), i.to_string())],
                value: *v,
            });
        }
        r.rsrq_db = num(2, 9);
        r.sinr_db = num(2, 10);
        if let Some(p) = num(2, 13) {
            r.metrics.push(Metric {
                name: "tx_power_dbm".into(),
                labels: Vec::new(),
                value: p,
            });
        }
        if let Some(f) = num(2, 3) {
            r.metrics.push(Metric {
                name: "downlink_frequency_khz".into(),
                labels: Vec::new(),
                value: f,
            });
        }
        r.pci = num(2, 14).and_then(|v| u16::try_from(v as i64).ok());
        let enb = num(2, 15).map(|v| v as u32);
        let cell = num(2, 16).map(|v| v as u32);
        // CellID is the whole ECI on Baicells (decimal) when larger than a local cell ID.
        let eci = match (enb, cell) {
            (_, Some(c)) if c > 255 => Some(c),
            (Some(e), Some(c)) => Some(e * 256 + c),
            _ => None,
        };
        r.eci = eci.filter(|e| *e > 0 && *e < (1 << 28));
        r.enb_id = r.eci.map(|e| e >> 8).or(enb);
        r.cell_id = r.eci.map(|e| e & 0xff).or(cell);
        if let (Some(mcc), Some(mnc)) = (get(2, 17), get(2, 18)) {
            if mcc.chars().all(|c| c.is_ascii_digit()) && mnc.chars().all(|c| c.is_ascii_digit()) {
                r.plmn = Some(format!("{mcc}{mnc}"));
            }
        }
        if let Some(t) = get(3, 5).and_then(|t| uptime_text(&t)) {
            r.metrics.push(Metric {
                name: "connection_time_s".into(),
                labels: Vec::new(),
                value: t as f64,
            });
        }
        r.connected = Some(r.rsrp_dbm.is_some());
        Step::Done(r)
    }
}

efi_plugin_api::export_plugin!(BaicellsPlugin);
