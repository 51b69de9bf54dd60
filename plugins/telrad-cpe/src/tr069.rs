//! The Telrad CPEs' TR-069 trees (devices.md 3.3 and 3.4), read from the host's TR-069 cache.
//!
//! The two models keep their LTE data in different places:
//!
//! | Model | Tree | Quirks |
//! |---|---|---|
//! | CPE12000SG | `WEB_GUI.Status.LTE_Status.LTE_System.`, `…LTE_RX/LTE_TX.`, `WEB_GUI.Status.Device_Status.Device_Status.` | `CellID` is the *local* cell ID (decimal) with `eNodeBID` apart; bandwidth in kHz (`20000`); 4 antennas `RSRP.RSRP0..3`; rates `"4.320 kbps"` |
//! | CPE12300SG/HG/XG | `WANDevice.1.WANNetConfigInfo.` | `ECI` is 7 hex characters (`000A617`) with `CellId` local and `ServingENB` apart; bandwidth `20MHz`; unused antennas `ANTX<n>.RSRP` say `0.0` |
//!
//! Both: `DeviceInfo.` (UpTime in seconds), the WAN connection's `ExternalIPAddress`, and 32-bit
//! counters (`xsd:unsignedInt`, they wrap; reported as read).

use efi_plugin_api::normalise::{
    average_nonzero, bandwidth_mhz, digits, eci, eci_from_parts, mac_text, number, rate_bps,
    text_str, uptime_text,
};
use efi_plugin_api::prelude::*;
use efi_plugin_api::{now_unix_ms, Metric};

/// What the driver asks the cache for (partial paths end in `.`).
pub const PATHS: [&str; 6] = [
    "InternetGatewayDevice.DeviceInfo.",
    "InternetGatewayDevice.WEB_GUI.Status.",
    "InternetGatewayDevice.WANDevice.1.WANNetConfigInfo.",
    "InternetGatewayDevice.WANDevice.1.WANCommonInterfaceConfig.",
    "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.MACAddress",
    "InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceConfig.1.MACAddress",
];

/// The request for [`PATHS`].
pub fn request() -> IoRequest {
    IoRequest::Tr069 {
        parameter_paths: PATHS.iter().map(|p| p.to_string()).collect(),
    }
}

/// Which Telrad the cached tree is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// `WEB_GUI.Status.` is there: a CPE12000SG.
    Cpe12000,
    /// `WANDevice.1.WANNetConfigInfo.` is there: a CPE12300.
    Cpe12300,
    /// Only `DeviceInfo.` and the WAN objects: the model comes from `ProductClass`.
    DeviceInfoOnly,
}

/// The cached parameters, by path under `InternetGatewayDevice.`.
pub struct Cached<'a> {
    params: &'a [Tr069Param],
}

impl<'a> Cached<'a> {
    /// Wraps the cache's answer.
    pub fn new(params: &'a [Tr069Param]) -> Self {
        Cached { params }
    }

    /// The trimmed, non-empty value at `path` (relative to the IGD root).
    pub fn get(&self, path: &str) -> Option<String> {
        self.params
            .iter()
            .find(|p| p.path.strip_prefix("InternetGatewayDevice.") == Some(path))
            .and_then(|p| text_str(&p.value))
    }

    fn has_under(&self, prefix: &str) -> bool {
        self.params.iter().any(|p| {
            p.path
                .strip_prefix("InternetGatewayDevice.")
                .is_some_and(|rest| rest.starts_with(prefix))
        })
    }

    /// Which model's tree this is.
    pub fn tree(&self) -> Tree {
        if self.has_under("WEB_GUI.Status.") {
            Tree::Cpe12000
        } else if self.has_under("WANDevice.1.WANNetConfigInfo.") {
            Tree::Cpe12300
        } else {
            Tree::DeviceInfoOnly
        }
    }

    fn num(&self, path: &str) -> Option<f64> {
        self.get(path).as_deref().and_then(number)
    }
}

/// The record from a Telrad's cached tree; `None` when the cache holds nothing of it.
pub fn record(params: &[Tr069Param]) -> Option<DeviceRecord> {
    let c = Cached::new(params);
    if params.is_empty() {
        return None;
    }
    let product = c.get("DeviceInfo.ProductClass");
    let mut r = DeviceRecord {
        vendor: Some("Telrad".into()),
        firmware: c.get("DeviceInfo.SoftwareVersion"),
        hardware: c.get("DeviceInfo.HardwareVersion"),
        description: c.get("DeviceInfo.Description"),
        ..DeviceRecord::default()
    };
    r.identity.serial = c.get("DeviceInfo.SerialNumber");
    r.uptime_s = c
        .num("DeviceInfo.UpTime")
        .filter(|v| *v >= 0.0)
        .map(|v| v as u64);
    let lan_mac = c.get("LANDevice.1.LANEthernetInterfaceConfig.1.MACAddress");
    let wan_mac = c.get("WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.MACAddress");
    r.identity.mac = lan_mac.or(wan_mac).as_deref().and_then(mac_text);
    let common = "WANDevice.1.WANCommonInterfaceConfig.";
    let counter = |name: &str| {
        c.num(&format!("{common}{name}"))
            .filter(|v| *v >= 0.0)
            .map(|v| v as u64)
    };
    r.octets_received = counter("TotalBytesReceived");
    r.octets_sent = counter("TotalBytesSent");
    r.packets_sent = counter("TotalPacketsSent");
    let tree = c.tree();
    match tree {
        Tree::Cpe12000 => cpe12000(&c, &mut r),
        Tree::Cpe12300 => cpe12300(&c, &mut r),
        Tree::DeviceInfoOnly => {}
    }
    r.model = match tree {
        Tree::Cpe12000 => Some("CPE12000SG".into()),
        // ModelName says which of SG/HG/XG (`CPE12300XG`); ProductClass only `CPE12300`.
        Tree::Cpe12300 => c
            .get("DeviceInfo.ModelName")
            .filter(|m| m.starts_with("CPE12300"))
            .or(product)
            .or(Some("CPE12300".into())),
        Tree::DeviceInfoOnly => product,
    };
    r.last_boot_unix_s = r.uptime_s.map(|u| (now_unix_ms() / 1000) as i64 - u as i64);
    if r.connected.is_none() {
        r.connected = Some(r.rsrp_dbm.is_some());
    }
    Some(r)
}

/// `WEB_GUI.Status.*` of a CPE12000SG (devices.md 3.3).
fn cpe12000(c: &Cached<'_>, r: &mut DeviceRecord) {
    let sys = |name: &str| c.get(&format!("WEB_GUI.Status.LTE_Status.LTE_System.{name}"));
    let sys_num = |name: &str| sys(name).as_deref().and_then(number);
    let device = |name: &str| {
        c.get(&format!(
            "WEB_GUI.Status.Device_Status.Device_Status.{name}"
        ))
    };
    let antennas = |name: &str| -> Vec<f64> {
        (0..4)
            .filter_map(|i| sys_num(&format!("{name}.{name}{i}")))
            .collect()
    };
    let rsrp = antennas("RSRP");
    r.rsrp_dbm = average_nonzero(&rsrp);
    r.rsrq_db = average_nonzero(&antennas("RSRQ"));
    r.sinr_db = average_nonzero(&antennas("SINR"));
    r.rssi_dbm = sys_num("RSSI");
    crate::push_antenna_rsrp(r, &rsrp);
    r.bandwidth_mhz = sys("Bandwidth").as_deref().and_then(bandwidth_mhz);
    r.earfcn = sys_num("DL_Earfcn").and_then(|n| u32::try_from(n as i64).ok());
    r.rx_mcs = sys_num("DL_MCS_CW0").and_then(|n| u8::try_from(n as i64).ok());
    r.tx_mcs = sys_num("UL_MCS_CW0").and_then(|n| u8::try_from(n as i64).ok());
    r.pci = sys_num("PCI").and_then(|n| u16::try_from(n as i64).ok());
    r.plmn = sys("PLMNID")
        .filter(|p| p.len() >= 5 && p.chars().all(|c| c.is_ascii_digit()))
        .or_else(|| {
            let (mcc, mnc) = (sys("MCC")?, sys("MNC")?);
            Some(format!("{mcc}{mnc}")).filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        });
    // CellID is the local cell ID with eNodeBID apart: ECI = eNB x 256 + cell.
    let local = sys_num("CellID").map(|n| n as u32);
    let enb = sys_num("eNodeBID").map(|n| n as u32);
    let from_parts = enb.zip(local).and_then(|(e, l)| eci_from_parts(e, l));
    r.set_cell(
        from_parts.or_else(|| sys("ECI").as_deref().and_then(eci)),
        enb,
        local,
    );
    let lte = |dir: &str, name: &str| c.get(&format!("WEB_GUI.Status.LTE_Status.{dir}.{name}"));
    r.rx_rate_bps = lte("LTE_RX", "DataRate").as_deref().and_then(rate_bps);
    r.tx_rate_bps = lte("LTE_TX", "DataRate").as_deref().and_then(rate_bps);
    let bytes = |v: Option<String>| v.as_deref().and_then(number).map(|n| n as u64);
    r.octets_received = r.octets_received.or(bytes(lte("LTE_RX", "RxBytes")));
    r.octets_sent = r.octets_sent.or(bytes(lte("LTE_TX", "TxBytes")));
    r.identity.imei = digits(device("IMEI"), 14);
    r.identity.imsi = digits(device("IMSI"), 6);
    r.identity.serial = r.identity.serial.take().or(device("Serial_ID"));
    r.firmware = device("Firmware_Version").or(r.firmware.take());
    r.hardware = r.hardware.take().or(device("Hardware_Version"));
    if r.uptime_s.is_none() {
        r.uptime_s = c
            .get("WEB_GUI.Status.System_Status.System_Information.Device_Up_Time")
            .as_deref()
            .and_then(uptime_text);
    }
}

/// `WANDevice.1.WANNetConfigInfo.*` of a CPE12300 (devices.md 3.4).
fn cpe12300(c: &Cached<'_>, r: &mut DeviceRecord) {
    let info = |name: &str| c.get(&format!("WANDevice.1.WANNetConfigInfo.{name}"));
    let num = |name: &str| info(name).as_deref().and_then(number);
    let antennas = |name: &str| -> Vec<f64> {
        (0..4)
            .filter_map(|i| num(&format!("ANTX{i}.{name}")))
            .collect()
    };
    let rsrp = antennas("RSRP");
    // The scalar is the CPE's own summary; the antennas (0.0 = unused) stand in without it.
    r.rsrp_dbm = num("RSRP").filter(|v| *v != 0.0).or(average_nonzero(&rsrp));
    r.rsrq_db = num("RSRQ")
        .filter(|v| *v != 0.0)
        .or(average_nonzero(&antennas("RSRQ")));
    r.sinr_db = num("SINR").or(average_nonzero(&antennas("SINR")));
    r.rssi_dbm = num("RSSI")
        .filter(|v| *v != 0.0)
        .or(average_nonzero(&antennas("RSSI")));
    crate::push_antenna_rsrp(r, &rsrp);
    r.bandwidth_mhz = info("Bandwidth").as_deref().and_then(bandwidth_mhz);
    r.earfcn = num("Earfcn").and_then(|n| u32::try_from(n as i64).ok());
    r.band = num("ConnectedBand").and_then(|n| u16::try_from(n as i64).ok());
    r.rx_mcs = num("DownlinkMcs").and_then(|n| u8::try_from(n as i64).ok());
    r.tx_mcs = num("UplinkMcs").and_then(|n| u8::try_from(n as i64).ok());
    r.pci = num("PCI").and_then(|n| u16::try_from(n as i64).ok());
    r.plmn = info("PLMN").filter(|p| p.len() >= 5 && p.chars().all(|c| c.is_ascii_digit()));
    // ECI is always 7 hex characters here, even when all of them are digits.
    let local = num("CellId").map(|n| n as u32);
    let enb = num("ServingENB").map(|n| n as u32);
    let hex = info("ECI").and_then(|e| u32::from_str_radix(e.trim_start_matches("0x"), 16).ok());
    r.set_cell(
        hex.or_else(|| enb.zip(local).and_then(|(e, l)| eci_from_parts(e, l))),
        enb,
        local,
    );
    // Unit not documented; taken as kbps like the unit's web pages (see `web`).
    r.rx_rate_bps = info("RxDataRate").as_deref().and_then(rate_bps);
    r.tx_rate_bps = info("TxDataRate").as_deref().and_then(rate_bps);
    r.identity.imei = digits(info("IMEI"), 14);
    r.identity.imsi = digits(info("IMSI"), 6);
    if let Some(p) = num("TxPower") {
        r.metrics.push(Metric {
            name: "tx_power_dbm".into(),
            labels: Vec::new(),
            value: p,
        });
    }
    r.connected = info("ServiceStatus")
        .map(|s| s.eq_ignore_ascii_case("connected"))
        .or(Some(r.rsrp_dbm.is_some()));
}
