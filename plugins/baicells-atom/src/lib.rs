//! baicells-atom: the driver for Baicells Atom LTE CPEs (OD04/OD06 family) over BAICELLS-MIB
//! (1.3.6.1.4.1.53058.2, scalars read at their `.0` instance: the column OID returns junk)
//! and over TR-069 (the `WEB_GUI.*` tree the CPE reports to its ACS, read from the host's
//! snooped cache): the OD06's SNMP depends on its firmware, TR-069 works on all of them.
//! Both ways are asked at once; SNMP wins where both answer, TR-069 fills the gaps. When
//! neither gives radio data and a credential set is configured, the HTTPS CGI pages of the
//! unit's web UI are read too, behind its login ([`web`]).
//! Quirks handled (shared/reference/devices.md 2.5, 3.2): `-` for no signal, `65535` for
//! invalid frequency/bandwidth/eNB/cell, empty IMSI, `hh:mm:ss` connection time, two
//! antennas, bandwidth in MHz or kHz by firmware, decimal ECI.

use efi_plugin_api::normalise::{
    average_nonzero, bandwidth_mhz, digits, eci_from_parts, mac_text, number, rate_bps, text,
    text_str, uptime_text,
};
use efi_plugin_api::prelude::*;
use efi_plugin_api::{now_unix_ms, Metric};
use std::collections::BTreeMap;

pub mod web;
pub use web::AtomSettings;

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

/// The TR-069 subtrees read (partial paths), under `InternetGatewayDevice.`.
const TR069_TREES: [&str; 3] = [
    "InternetGatewayDevice.DeviceInfo.",
    "InternetGatewayDevice.WEB_GUI.Network.LTE_Setting.Status.",
    "InternetGatewayDevice.WEB_GUI.Overview.",
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
            description: "Baicells Atom CPEs over BAICELLS-MIB (SNMP) and TR-069".into(),
            kinds: vec![PluginKind::Driver],
            models: vec!["Baicells Atom OD06".into(), "Baicells Atom OD04".into()],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(BaicellsPlugin)
    }

    fn new_driver(&self, config: &PluginConfig) -> Result<Box<dyn Driver>, PluginError> {
        Ok(Box::new(BaicellsDriver {
            settings: config.parse()?,
        }))
    }
}

/// The driver.
#[derive(Default)]
pub struct BaicellsDriver {
    /// Settings from `[drivers.baicells-atom]`.
    pub settings: AtomSettings,
}

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

    fn collect(&self, target: &Target) -> BoxTask<DeviceRecord> {
        Box::new(Collect {
            target: target.clone(),
            settings: self.settings.clone(),
            web: None,
            held: None,
            mib2: Fields::default(),
        })
    }
}

struct Collect {
    target: Target,
    settings: AtomSettings,
    /// Set once the web UI is being read.
    web: Option<web::WebPhase>,
    /// What SNMP and TR-069 gave, held while the web UI is read, or why they gave nothing.
    held: Option<Result<Fields, String>>,
    /// sysDescr and sysName, which MIB-II gives even when BAICELLS-MIB is silent.
    mib2: Fields,
}

/// What an Atom reports, as text, whichever way it came.
#[derive(Debug, Default)]
pub struct Fields {
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    hardware: Option<String>,
    firmware: Option<String>,
    description: Option<String>,
    hostname: Option<String>,
    uptime: Option<String>,
    dl_mcs: Option<String>,
    ul_mcs: Option<String>,
    dl_frequency_khz: Option<String>,
    bandwidth: Option<String>,
    band: Option<String>,
    earfcn: Option<String>,
    /// Per antenna.
    rsrp: Vec<String>,
    /// One value, or a per-antenna list (web UI).
    rsrq: Option<String>,
    /// One value, or a per-antenna list (web UI only).
    rssi: Option<String>,
    sinr: Option<String>,
    tx_power: Option<String>,
    pci: Option<String>,
    enb: Option<String>,
    cell: Option<String>,
    mcc: Option<String>,
    mnc: Option<String>,
    imei: Option<String>,
    imsi: Option<String>,
    connection_time: Option<String>,
    mac: Option<String>,
    /// Web UI rates (unit not documented).
    dl_rate: Option<String>,
    ul_rate: Option<String>,
}

impl Fields {
    /// BAICELLS-MIB values, or `None` when the MIB does not answer (no product class, no
    /// IMEI).
    fn from_snmp(values: &BTreeMap<Oid, SnmpValue>) -> Option<Fields> {
        let get = |g: u32, o: u32| values.get(&obj(g, o)).and_then(text);
        if get(1, 5).is_none() && get(3, 2).is_none() {
            return None;
        }
        Some(Fields {
            manufacturer: get(1, 3),
            model: get(1, 5),
            serial: get(1, 6),
            hardware: get(1, 7),
            firmware: get(1, 8),
            description: values.get(&oid(SYS_DESCR)).and_then(text),
            hostname: values.get(&oid(SYS_NAME)).and_then(text),
            uptime: get(1, 9),
            dl_mcs: get(2, 1),
            ul_mcs: get(2, 2),
            dl_frequency_khz: get(2, 3),
            bandwidth: get(2, 5),
            rsrp: [get(2, 7), get(2, 8)].into_iter().flatten().collect(),
            rsrq: get(2, 9),
            sinr: get(2, 10),
            tx_power: get(2, 13),
            pci: get(2, 14),
            enb: get(2, 15),
            cell: get(2, 16),
            mcc: get(2, 17),
            mnc: get(2, 18),
            imei: get(3, 2),
            imsi: get(3, 3),
            connection_time: get(3, 5),
            mac: get(3, 19),
            ..Fields::default()
        })
    }

    /// TR-069 values (devices.md 3.2), or `None` when the cache holds none of them.
    fn from_tr069(params: &[Tr069Param]) -> Option<Fields> {
        if params.is_empty() {
            return None;
        }
        let get = |path: &str| {
            params
                .iter()
                .find(|p| p.path.strip_prefix("InternetGatewayDevice.") == Some(path))
                .and_then(|p| text_str(&p.value))
        };
        let status = |name: &str| get(&format!("WEB_GUI.Network.LTE_Setting.Status.{name}"));
        Some(Fields {
            manufacturer: get("DeviceInfo.Manufacturer"),
            model: get("DeviceInfo.ModelName").or_else(|| get("DeviceInfo.ProductClass")),
            serial: get("DeviceInfo.SerialNumber"),
            hardware: get("DeviceInfo.HardwareVersion"),
            firmware: get("DeviceInfo.SoftwareVersion"),
            description: get("DeviceInfo.Description"),
            uptime: get("DeviceInfo.UpTime"),
            dl_mcs: status("DL_Mcs"),
            ul_mcs: status("UL_Mcs"),
            dl_frequency_khz: status("DL_Frequency"),
            bandwidth: status("Bandwidth"),
            band: status("Band"),
            earfcn: status("EARFCN"),
            rsrp: [status("RSRP0"), status("RSRP1")]
                .into_iter()
                .flatten()
                .collect(),
            rsrq: status("RSRQ"),
            sinr: status("SINR"),
            tx_power: status("TX_Power"),
            pci: status("PCI"),
            enb: status("eNB_ID"),
            cell: status("Cell_ID"),
            mcc: status("MCC"),
            mnc: status("MNC"),
            imei: get("WEB_GUI.Overview.DeviceInfo.IMEI"),
            imsi: get("WEB_GUI.Overview.DeviceInfo.IMSI"),
            connection_time: get("WEB_GUI.Overview.SystemInfo.ConnectionTime"),
            mac: get("WEB_GUI.Overview.LANStatus.MacAddress"),
            ..Fields::default()
        })
    }

    /// Every field this set lacks, taken from `other`.
    fn or(self, other: Fields) -> Fields {
        Fields {
            manufacturer: self.manufacturer.or(other.manufacturer),
            model: self.model.or(other.model),
            serial: self.serial.or(other.serial),
            hardware: self.hardware.or(other.hardware),
            firmware: self.firmware.or(other.firmware),
            description: self.description.or(other.description),
            hostname: self.hostname.or(other.hostname),
            uptime: self.uptime.or(other.uptime),
            dl_mcs: self.dl_mcs.or(other.dl_mcs),
            ul_mcs: self.ul_mcs.or(other.ul_mcs),
            dl_frequency_khz: self.dl_frequency_khz.or(other.dl_frequency_khz),
            bandwidth: self.bandwidth.or(other.bandwidth),
            band: self.band.or(other.band),
            earfcn: self.earfcn.or(other.earfcn),
            rsrp: if self.rsrp.is_empty() {
                other.rsrp
            } else {
                self.rsrp
            },
            rsrq: self.rsrq.or(other.rsrq),
            rssi: self.rssi.or(other.rssi),
            sinr: self.sinr.or(other.sinr),
            tx_power: self.tx_power.or(other.tx_power),
            pci: self.pci.or(other.pci),
            enb: self.enb.or(other.enb),
            cell: self.cell.or(other.cell),
            mcc: self.mcc.or(other.mcc),
            mnc: self.mnc.or(other.mnc),
            imei: self.imei.or(other.imei),
            imsi: self.imsi.or(other.imsi),
            connection_time: self.connection_time.or(other.connection_time),
            mac: self.mac.or(other.mac),
            dl_rate: self.dl_rate.or(other.dl_rate),
            ul_rate: self.ul_rate.or(other.ul_rate),
        }
    }

    /// True when the set holds any radio measurement.
    fn has_radio(&self) -> bool {
        !self.rsrp.is_empty() || self.rsrq.is_some() || self.sinr.is_some()
    }

    /// The record, normalised.
    fn record(self) -> DeviceRecord {
        let num = |t: &Option<String>| t.as_deref().and_then(number);
        let mut r = DeviceRecord {
            vendor: self.manufacturer.clone().or(Some("Baicells".into())),
            model: self.model.clone(),
            hardware: self.hardware.clone(),
            firmware: self.firmware.clone(),
            description: self.description.clone(),
            hostname: self.hostname.clone(),
            ..DeviceRecord::default()
        };
        r.identity.serial = self.serial.clone();
        r.identity.imei = digits(self.imei.clone(), 14);
        r.identity.imsi = digits(self.imsi.clone(), 6);
        r.identity.mac = self.mac.as_deref().and_then(mac_text);
        r.uptime_s = num(&self.uptime).filter(|v| *v >= 0.0).map(|v| v as u64);
        r.last_boot_unix_s = r.uptime_s.map(|u| (now_unix_ms() / 1000) as i64 - u as i64);
        r.rx_mcs = num(&self.dl_mcs).and_then(|v| u8::try_from(v as i64).ok());
        r.tx_mcs = num(&self.ul_mcs).and_then(|v| u8::try_from(v as i64).ok());
        r.bandwidth_mhz = self.bandwidth.as_deref().and_then(bandwidth_mhz);
        r.band = num(&self.band).and_then(|v| u16::try_from(v as i64).ok());
        r.earfcn = num(&self.earfcn).and_then(|v| u32::try_from(v as i64).ok());
        let antennas: Vec<f64> = self.rsrp.iter().filter_map(|v| number(v)).collect();
        r.rsrp_dbm = average_nonzero(&antennas);
        for (i, v) in antennas.iter().enumerate() {
            r.metrics.push(Metric {
                name: "antenna_rsrp_dbm".into(),
                labels: vec![("antenna".into(), i.to_string())],
                value: *v,
            });
        }
        let per_antenna = |t: &Option<String>| -> Vec<f64> {
            t.as_deref()
                .map(web::antennas)
                .unwrap_or_default()
                .iter()
                .filter_map(|v| number(v))
                .collect()
        };
        r.rsrq_db = average_nonzero(&per_antenna(&self.rsrq));
        r.rssi_dbm = average_nonzero(&per_antenna(&self.rssi));
        r.sinr_db = num(&self.sinr);
        if let Some(p) = num(&self.tx_power) {
            r.metrics.push(Metric {
                name: "tx_power_dbm".into(),
                labels: Vec::new(),
                value: p,
            });
        }
        if let Some(f) = num(&self.dl_frequency_khz) {
            r.metrics.push(Metric {
                name: "downlink_frequency_khz".into(),
                labels: Vec::new(),
                value: f,
            });
        }
        r.pci = num(&self.pci).and_then(|v| u16::try_from(v as i64).ok());
        let enb = num(&self.enb).map(|v| v as u32);
        let cell = num(&self.cell).map(|v| v as u32);
        // CellID is the whole ECI on Baicells (decimal) when larger than a local cell ID.
        let eci = match (enb, cell) {
            (_, Some(c)) if c > 255 => Some(c),
            (Some(e), Some(c)) => eci_from_parts(e, c),
            _ => None,
        };
        r.set_cell(eci, enb, cell);
        if let (Some(mcc), Some(mnc)) = (&self.mcc, &self.mnc) {
            if mcc.chars().all(|c| c.is_ascii_digit()) && mnc.chars().all(|c| c.is_ascii_digit()) {
                r.plmn = Some(format!("{mcc}{mnc}"));
            }
        }
        if let Some(t) = self.connection_time.as_deref().and_then(uptime_text) {
            r.metrics.push(Metric {
                name: "connection_time_s".into(),
                labels: Vec::new(),
                value: t as f64,
            });
        }
        // The web UI's rates: a value with a unit is converted; a bare number is kept as
        // given, under a name that says its unit is unknown (devices.md: NOT FOUND).
        for (value, field, raw_metric) in [
            (
                &self.dl_rate,
                &mut r.rx_rate_bps,
                "web_dl_rate_unknown_unit",
            ),
            (
                &self.ul_rate,
                &mut r.tx_rate_bps,
                "web_ul_rate_unknown_unit",
            ),
        ] {
            let Some(text) = value.as_deref() else {
                continue;
            };
            if text.chars().any(|c| c.is_ascii_alphabetic()) {
                *field = rate_bps(text);
            } else if let Some(v) = number(text) {
                r.metrics.push(Metric {
                    name: raw_metric.into(),
                    labels: Vec::new(),
                    value: v,
                });
            }
        }
        r.connected = Some(r.rsrp_dbm.is_some());
        r
    }
}

impl Task for Collect {
    type Output = DeviceRecord;

    fn start(&mut self) -> Step<DeviceRecord> {
        let mut oids: Vec<Oid> = OBJECTS.iter().map(|(g, o)| obj(*g, *o)).collect();
        oids.push(oid(SYS_DESCR));
        oids.push(oid(SYS_NAME));
        Step::Requests(vec![
            IoRequest::SnmpGet { oids },
            IoRequest::Tr069 {
                parameter_paths: TR069_TREES.iter().map(|p| p.to_string()).collect(),
            },
        ])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<DeviceRecord> {
        if let Some(web) = self.web.as_mut() {
            return match web.resume(responses) {
                web::WebStep::Requests(r) => Step::Requests(r),
                web::WebStep::Done(pages) => self.finish_web(pages),
            };
        }
        let mut responses = responses.into_iter();
        let (snmp, tr069) = (responses.next(), responses.next());
        // sysDescr and sysName, kept even when BAICELLS-MIB is silent (MIB-II answers).
        let mut mib2 = Fields::default();
        let (snmp, snmp_why) = match snmp {
            Some(Ok(IoReply::Snmp(vbs))) => {
                let values: BTreeMap<Oid, SnmpValue> =
                    vbs.into_iter().map(|v| (v.oid, v.value)).collect();
                mib2.description = values.get(&oid(SYS_DESCR)).and_then(text);
                mib2.hostname = values.get(&oid(SYS_NAME)).and_then(text);
                (
                    Fields::from_snmp(&values),
                    "BAICELLS-MIB does not answer (SNMP support depends on the firmware)"
                        .to_owned(),
                )
            }
            Some(Err(e)) => (None, format!("BAICELLS-MIB: {e}")),
            _ => (None, "BAICELLS-MIB: no SNMP answer".to_owned()),
        };
        let (tr069, tr069_why) = match tr069 {
            Some(Ok(IoReply::Tr069(params))) => (
                Fields::from_tr069(&params),
                "TR-069: the cache holds none of the Atom's parameters".to_owned(),
            ),
            Some(Err(e)) => (None, format!("TR-069: {e}")),
            _ => (None, "TR-069: no answer".to_owned()),
        };
        let held = match (snmp, tr069) {
            (Some(s), Some(t)) => Ok(s.or(t)),
            (Some(f), None) | (None, Some(f)) => Ok(f),
            (None, None) => Err(format!("{snmp_why}; {tr069_why}")),
        };
        if held.as_ref().is_ok_and(Fields::has_radio) {
            return Step::Done(held.map(Fields::record).unwrap_or_default());
        }
        match web::WebPhase::new(&self.target, &self.settings) {
            Some(mut phase) => {
                let requests = phase.start();
                self.web = Some(phase);
                self.held = Some(held);
                self.mib2 = mib2;
                Step::Requests(requests)
            }
            None => match held {
                Ok(f) => Step::Done(f.record()),
                Err(why) => Step::Failed(PluginError::unsupported(format!(
                    "{why}; web UI: not used (no [drivers.baicells-atom] web_credentials)"
                ))),
            },
        }
    }
}

impl Collect {
    /// The record once the web UI was read: its fields fill what SNMP and TR-069 left.
    fn finish_web(
        &mut self,
        pages: Result<Box<(Fields, Vec<String>)>, String>,
    ) -> Step<DeviceRecord> {
        let held = self
            .held
            .take()
            .unwrap_or_else(|| Err("SNMP and TR-069: not asked".into()));
        let address = self.target.address;
        match (held, pages) {
            (held, Ok(pages)) => {
                let (web, problems) = *pages;
                if !problems.is_empty() {
                    efi_plugin_api::tracing::warn!(
                        device = %address,
                        "Atom web UI record is partial: {}",
                        problems.join("; ")
                    );
                }
                let fields = match held {
                    Ok(f) => f.or(web),
                    Err(_) => web,
                };
                Step::Done(fields.or(std::mem::take(&mut self.mib2)).record())
            }
            (Ok(f), Err(why)) => {
                // The web UI was the extra; SNMP or TR-069 still gave a record.
                efi_plugin_api::tracing::warn!(
                    device = %address,
                    "Atom web UI unreadable, record without radio data: {why}"
                );
                Step::Done(f.record())
            }
            (Err(held_why), Err(why)) => Step::Failed(PluginError::io(format!(
                "Atom at {address}: {held_why}; web UI: {why}"
            ))),
        }
    }
}

efi_plugin_api::export_plugin!(BaicellsPlugin);
