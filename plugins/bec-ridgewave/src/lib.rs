//! bec-ridgewave: the driver for BEC RidgeWave 6500, 6900 and 7000 LTE CPEs.
//!
//! Collects the enterprise 17453 scalars (signal, cell, IMEI, IMSI, bandwidth, EARFCN, MCS)
//! with MIB-II (system group; the MAC of `eth0` from the ifTable) over SNMP, and asks in the
//! same step for the `X_BEC_COM_ModuleA` TR-069 tree from the host's cache (devices.md 3.1),
//! which fills what SNMP lacks and stands in when SNMP is off. When neither gives the MAC
//! (a unit with SNMP off and no ACS), a second step reads it from the web UI's device-info
//! page ([`web`]). Quirks normalised: the
//! combined `RSRP:<v> RSRQ:<v> SINR:<v>` string, bandwidth text after the last `:`, `\r`
//! after the IMEI, a hex TR-069 CellID without leading zeros, and "no value" sentinels.

use efi_plugin_api::normalise::{bandwidth_mhz, digits, eci, mac_text, number, text, text_str};
use efi_plugin_api::prelude::*;
use efi_plugin_api::{format_mac, now_unix_ms, IoError, IoErrorKind};
use std::collections::BTreeMap;

pub mod web;

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";
const IF_ENTRY: &str = "1.3.6.1.2.1.2.2.1";
/// The BEC LTE scalars: 1.3.6.1.4.1.17453.4.1.<n>.0.
const BEC: &str = "1.3.6.1.4.1.17453.4.1";
const RSSI: u32 = 3;
const SIGNAL: u32 = 4;
const ECI: u32 = 6;
const PCI: u32 = 7;
const IMEI: u32 = 8;
const IMSI: u32 = 9;
const BANDWIDTH: u32 = 11;
const EARFCN: u32 = 17;
const RX_MCS: u32 = 20;
const SCALARS: [u32; 9] = [
    RSSI, SIGNAL, ECI, PCI, IMEI, IMSI, BANDWIDTH, EARFCN, RX_MCS,
];

/// The TR-069 trees read (partial paths) and the LAN MAC.
const TR069_PATHS: [&str; 3] = [
    "InternetGatewayDevice.DeviceInfo.",
    "InternetGatewayDevice.WANDevice.X_BEC_COM_ModuleA.",
    "InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceConfig.1.MACAddress",
];

fn bec(n: u32) -> Oid {
    oid(BEC).child(n).child(0)
}

/// The plugin.
pub struct BecPlugin;

impl Plugin for BecPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "bec-ridgewave".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "BEC RidgeWave LTE CPEs over SNMP (enterprise 17453 + MIB-II) and TR-069"
                .into(),
            kinds: vec![PluginKind::Driver],
            models: vec![
                "BEC RidgeWave 6500".into(),
                "BEC RidgeWave 6900".into(),
                "BEC RidgeWave 7000".into(),
            ],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(BecPlugin)
    }

    fn new_driver(&self, config: &PluginConfig) -> Result<Box<dyn Driver>, PluginError> {
        Ok(Box::new(BecDriver {
            settings: config.parse()?,
        }))
    }
}

/// The driver.
#[derive(Debug, Default)]
pub struct BecDriver {
    /// Settings from `[drivers.bec-ridgewave]`.
    pub settings: web::BecSettings,
}

/// The model a sysDescr names ("6500", "6900", "7000" followed by "4G/LTE"), per the
/// identification pattern of devices.md section 1.
pub fn model_from_descr(descr: &str) -> Option<&'static str> {
    let d = descr.to_lowercase();
    if !d.contains("4g/lte") {
        return None;
    }
    model_number(&d)
}

/// The model a name carries ("RidgeWave 6900", "BEC 6900-R21").
fn model_number(name: &str) -> Option<&'static str> {
    let d = name.to_lowercase();
    [
        ("6900", "RidgeWave 6900"),
        ("6500", "RidgeWave 6500"),
        ("7000", "RidgeWave 7000"),
    ]
    .into_iter()
    .find(|(n, _)| d.contains(n))
    .map(|(_, m)| m)
}

impl Driver for BecDriver {
    fn identify(&self, fp: &Fingerprint) -> Confidence {
        let mut score = 0;
        if fp.sys_descr.as_deref().and_then(model_from_descr).is_some() {
            score = score.max(95);
        }
        if fp.sys_object_id_under("1.3.6.1.4.1.17453") {
            score = score.max(85);
        }
        if fp.tr069_oui_is("600347") {
            score = score.max(90);
        }
        if fp.mac_oui_is("60:03:47") {
            score = score.max(70);
        }
        if fp.imei_tac_in(&["86991004"]) {
            score = score.max(60);
        }
        // The web UI's title ("BEC RidgeWave 7000 Outdoor LTE Router") or Basic realm.
        if fp
            .http_title
            .as_deref()
            .is_some_and(|t| t.to_lowercase().contains("ridgewave"))
        {
            score = score.max(80);
        }
        score
    }

    fn collect(&self, target: &Target) -> BoxTask<DeviceRecord> {
        Box::new(Collect {
            target: target.clone(),
            settings: self.settings.clone(),
            first: None,
        })
    }
}

struct Collect {
    target: Target,
    settings: web::BecSettings,
    /// What SNMP and TR-069 gave, held while the web page is read.
    first: Option<Result<DeviceRecord, String>>,
}

impl Task for Collect {
    type Output = DeviceRecord;

    fn start(&mut self) -> Step<DeviceRecord> {
        let mut oids: Vec<Oid> = [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME]
            .iter()
            .map(|o| oid(o))
            .collect();
        oids.extend(SCALARS.iter().map(|n| bec(*n)));
        Step::Requests(vec![
            IoRequest::SnmpGet { oids },
            IoRequest::SnmpWalk {
                root: oid(IF_ENTRY),
                max_repetitions: 0,
            },
            IoRequest::Tr069 {
                parameter_paths: TR069_PATHS.iter().map(|p| p.to_string()).collect(),
            },
        ])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<DeviceRecord> {
        if let Some(first) = self.first.take() {
            let page = responses
                .into_iter()
                .next()
                .unwrap_or_else(|| Err(IoError::new(IoErrorKind::Other, "no answer")));
            return with_web_page(first, web::read(page), &self.target);
        }
        match first_record(responses) {
            Ok(r) if r.identity.mac.is_some() => Step::Done(r),
            // No MAC from SNMP or TR-069 (or neither answered): the web UI has it.
            first => {
                self.first = Some(first);
                Step::Requests(vec![web::request(&self.target, &self.settings)])
            }
        }
    }
}

/// The record once the web page is read: it fills the MAC (and firmware) of the first
/// step's record, or stands in for it.
fn with_web_page(
    first: Result<DeviceRecord, String>,
    page: Result<web::DeviceInfo, String>,
    target: &Target,
) -> Step<DeviceRecord> {
    match (first, page) {
        (Ok(mut r), Ok(info)) => {
            r.identity.mac = r.identity.mac.or(info.mac);
            r.firmware = r.firmware.or(info.firmware);
            Step::Done(r)
        }
        (Ok(r), Err(why)) => {
            efi_plugin_api::tracing::debug!(device = %target.address, "no MAC from the web UI either: {why}");
            Step::Done(r)
        }
        (Err(_), Ok(info)) => {
            let mut r = DeviceRecord {
                vendor: Some("BEC".into()),
                firmware: info.firmware,
                ..DeviceRecord::default()
            };
            r.identity.mac = info.mac;
            Step::Done(r)
        }
        (Err(first), Err(why)) => Step::Failed(PluginError::io(format!("{first}; web: {why}"))),
    }
}

/// The record from SNMP, filled from (or replaced by) the TR-069 cache's.
fn first_record(responses: Vec<IoResponse>) -> Result<DeviceRecord, String> {
    {
        let mut it = responses.into_iter();
        let (scalars, table, tr069) = (it.next(), it.next(), it.next());
        let from_tr069 = match tr069 {
            Some(Ok(IoReply::Tr069(params))) if !params.is_empty() => Ok(tr069_record(&params)),
            Some(Ok(_)) => {
                Err("TR-069: the cache holds none of the RidgeWave's parameters".to_owned())
            }
            Some(Err(e)) => Err(format!("TR-069: {e}")),
            None => Err("TR-069: no answer".to_owned()),
        };
        let values: BTreeMap<Oid, SnmpValue> = match scalars {
            Some(Ok(IoReply::Snmp(vbs))) => vbs.into_iter().map(|v| (v.oid, v.value)).collect(),
            other => {
                let snmp = match other {
                    Some(Err(e)) => format!("BEC scalars: {e}"),
                    _ => "BEC scalars: no SNMP answer".to_owned(),
                };
                return match from_tr069 {
                    Ok(r) => Ok(r),
                    Err(tr069) => Err(format!("{snmp}; {tr069}")),
                };
            }
        };
        let get = |o: &Oid| values.get(o).and_then(text);
        let mut r = DeviceRecord {
            vendor: Some("BEC".into()),
            ..DeviceRecord::default()
        };
        r.description = get(&oid(SYS_DESCR));
        r.hostname = get(&oid(SYS_NAME));
        r.model = r
            .description
            .as_deref()
            .and_then(model_from_descr)
            .map(str::to_owned);
        if let Some(SnmpValue::TimeTicks(t)) = values.get(&oid(SYS_UPTIME)) {
            let up = u64::from(*t) / 100;
            r.uptime_s = Some(up);
            r.last_boot_unix_s = Some((now_unix_ms() / 1000) as i64 - up as i64);
        }
        r.rssi_dbm = get(&bec(RSSI)).and_then(|v| number(&v));
        if let Some(s) = get(&bec(SIGNAL)) {
            let (rsrp, rsrq, sinr) = signal_triplet(&s);
            r.rsrp_dbm = rsrp;
            r.rsrq_db = rsrq;
            r.sinr_db = sinr;
        }
        r.set_cell(get(&bec(ECI)).and_then(|v| eci(&v)), None, None);
        r.pci = get(&bec(PCI))
            .and_then(|v| number(&v))
            .and_then(|n| u16::try_from(n as i64).ok());
        r.identity.imei = digits(get(&bec(IMEI)), 14);
        r.identity.imsi = digits(get(&bec(IMSI)), 6);
        r.bandwidth_mhz = get(&bec(BANDWIDTH)).and_then(|v| bandwidth_mhz(&v));
        r.earfcn = get(&bec(EARFCN))
            .and_then(|v| number(&v))
            .and_then(|n| u32::try_from(n as i64).ok());
        r.rx_mcs = get(&bec(RX_MCS))
            .and_then(|v| number(&v))
            .and_then(|n| u8::try_from(n as i64).ok());
        r.connected = Some(r.rsrp_dbm.is_some());

        // The MAC of eth0 (ifDescr → ifPhysAddress of the same index).
        if let Some(Ok(IoReply::Snmp(table))) = table {
            let entry = oid(IF_ENTRY);
            let mut names: BTreeMap<u32, String> = BTreeMap::new();
            let mut macs: BTreeMap<u32, String> = BTreeMap::new();
            for vb in &table {
                match vb.oid.suffix_after(&entry) {
                    Some(&[2, idx]) => {
                        if let Some(n) = text(&vb.value) {
                            names.insert(idx, n);
                        }
                    }
                    Some(&[6, idx]) => {
                        if let Some(m) = vb.value.as_bytes().and_then(format_mac) {
                            macs.insert(idx, m);
                        }
                    }
                    _ => {}
                }
            }
            r.identity.mac = names
                .iter()
                .find(|(_, n)| n.as_str() == "eth0")
                .and_then(|(i, _)| macs.get(i).cloned());
        }
        if let Ok(cached) = from_tr069 {
            r.fill_gaps(cached);
            r.connected = Some(r.rsrp_dbm.is_some());
        }
        Ok(r)
    }
}

/// A record from the TR-069 tree (devices.md 3.1): `DeviceInfo`, the LTE module's
/// `X_BEC_COM_ModuleA` (note: not under `WANDevice.1.`) and the LAN MAC.
fn tr069_record(params: &[Tr069Param]) -> DeviceRecord {
    let get = |path: &str| {
        params
            .iter()
            .find(|p| p.path.strip_prefix("InternetGatewayDevice.") == Some(path))
            .and_then(|p| text_str(&p.value))
    };
    let module = |name: &str| get(&format!("WANDevice.X_BEC_COM_ModuleA.{name}"));
    let num = |v: Option<String>| v.as_deref().and_then(number);
    let product = get("DeviceInfo.ProductClass");
    let mut r = DeviceRecord {
        vendor: get("DeviceInfo.Manufacturer").or(Some("BEC".into())),
        model: product
            .as_deref()
            .and_then(model_number)
            .map(str::to_owned)
            .or(product),
        firmware: get("DeviceInfo.SoftwareVersion"),
        hardware: get("DeviceInfo.HardwareVersion"),
        description: get("DeviceInfo.ModelName"),
        ..DeviceRecord::default()
    };
    r.identity.serial = get("DeviceInfo.SerialNumber");
    r.identity.imei = digits(module("IMEI"), 14);
    r.identity.imsi = digits(module("IMSI"), 6);
    r.identity.mac = get("LANDevice.1.LANEthernetInterfaceConfig.1.MACAddress")
        .as_deref()
        .and_then(mac_text);
    r.uptime_s = num(get("DeviceInfo.UpTime"))
        .filter(|v| *v >= 0.0)
        .map(|v| v as u64);
    r.last_boot_unix_s = r.uptime_s.map(|u| (now_unix_ms() / 1000) as i64 - u as i64);
    r.rsrp_dbm = num(module("MainRSRP"));
    r.rsrq_db = num(module("MainRSRQ"));
    r.sinr_db = num(module("MainSINR"));
    r.rssi_dbm = num(module("MainRSSI"));
    // CellID is the ECI in hex without leading zeros ("A621"), even when all digits.
    r.set_cell(
        module("CellID").and_then(|c| u32::from_str_radix(c.trim_start_matches("0x"), 16).ok()),
        None,
        None,
    );
    r.pci = num(module("PhyCellID")).and_then(|n| u16::try_from(n as i64).ok());
    r.plmn = module("PLMN").filter(|p| p.chars().all(|c| c.is_ascii_digit()));
    r.bandwidth_mhz = module("BandWidth").as_deref().and_then(bandwidth_mhz);
    r.band = num(module("CurrentBand")).and_then(|n| u16::try_from(n as i64).ok());
    r.rx_mcs = num(module("DLMCS")).and_then(|n| u8::try_from(n as i64).ok());
    r.tx_mcs = num(module("ULMCS")).and_then(|n| u8::try_from(n as i64).ok());
    r.connected = Some(r.rsrp_dbm.is_some());
    r
}

/// `RSRP:-95 RSRQ:-10 SINR:12.4` (BEC's combined signal object) → (rsrp, rsrq, sinr);
/// missing or `-` parts are `None`.
pub fn signal_triplet(s: &str) -> (Option<f64>, Option<f64>, Option<f64>) {
    let mut out = (None, None, None);
    for part in s.split_whitespace() {
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let v = if value == "-" { None } else { number(value) };
        match key.to_uppercase().as_str() {
            "RSRP" => out.0 = v,
            "RSRQ" => out.1 = v,
            "SINR" => out.2 = v,
            _ => {}
        }
    }
    out
}

efi_plugin_api::export_plugin!(BecPlugin);

#[cfg(test)]
mod tests {
    #[test]
    fn signal_strings() {
        use super::signal_triplet;
        assert_eq!(
            signal_triplet("RSRP:-95 RSRQ:-10 SINR:12.4"),
            (Some(-95.0), Some(-10.0), Some(12.4))
        );
        assert_eq!(signal_triplet("RSRP:- RSRQ:- SINR:-"), (None, None, None));
        assert_eq!(signal_triplet("sinr:3"), (None, None, Some(3.0)));
    }
}
