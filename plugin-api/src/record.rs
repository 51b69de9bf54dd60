//! What a driver collects: [`DeviceRecord`] and the inputs of a poll ([`Target`], [`Fingerprint`]).
//!
//! Every field is optional: "absent" means the device did not say, never zero. Units are in
//! the field names and normalised by drivers (dBm, dB, bits/s, seconds, MHz, decimal IDs).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The device a driver is asked to poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The address the EPC assigned to the UE (or the management address).
    pub address: IpAddr,
    /// UDP port of the SNMP agent (161 unless the operator says otherwise).
    #[serde(default = "default_snmp_port")]
    pub snmp_port: u16,
    /// The model the host believes this is, when known (from identification or config).
    #[serde(default)]
    pub model: Option<String>,
    /// Identifiers already known from the EPC or Sonar (IMEI, IMSI, MAC...).
    #[serde(default)]
    pub known: Identity,
    /// Free-form per-device settings from the operator's config (web port, scheme...).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

fn default_snmp_port() -> u16 {
    161
}

impl Target {
    /// A target at `address` with default settings.
    pub fn new(address: IpAddr) -> Self {
        Target {
            address,
            snmp_port: default_snmp_port(),
            model: None,
            known: Identity::default(),
            params: BTreeMap::new(),
        }
    }
}

/// Identifiers of a UE/CPE. Strings, because leading zeros are significant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    /// LAN/WAN MAC address, lower-case `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    /// IMEI (15 digits).
    pub imei: Option<String>,
    /// IMSI.
    pub imsi: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
}

/// What identification knows about a device before a driver is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fingerprint {
    /// SNMP sysObjectID.
    pub sys_object_id: Option<String>,
    /// SNMP sysDescr.
    pub sys_descr: Option<String>,
    /// MAC address (its OUI names the maker).
    pub mac: Option<String>,
    /// IMEI (its TAC names the model).
    pub imei: Option<String>,
    /// `<title>` of the device's web page.
    pub http_title: Option<String>,
    /// `Server:` header or SSH/Telnet banner.
    pub banner: Option<String>,
    /// TR-069 DeviceId: manufacturer.
    pub tr069_manufacturer: Option<String>,
    /// TR-069 DeviceId: OUI.
    pub tr069_oui: Option<String>,
    /// TR-069 DeviceId: product class.
    pub tr069_product_class: Option<String>,
}

/// A driver's confidence that a device is one of its models: 0 (not mine) to 100 (certain).
pub type Confidence = u8;

/// Everything known about one device after a poll. See DESIGN section 5.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceRecord {
    // -- identity --
    /// Manufacturer as reported.
    pub vendor: Option<String>,
    /// Model name as reported.
    pub model: Option<String>,
    /// Firmware/software version.
    pub firmware: Option<String>,
    /// Hardware revision.
    pub hardware: Option<String>,
    /// SNMP sysName or configured host name.
    pub hostname: Option<String>,
    /// SNMP sysDescr or equivalent banner.
    pub description: Option<String>,
    /// Identifiers (MAC, IMEI, IMSI, serial).
    pub identity: Identity,

    // -- connection (LTE) --
    /// E-UTRAN cell identity (28 bits, decimal).
    pub eci: Option<u32>,
    /// eNodeB ID (ECI >> 8).
    pub enb_id: Option<u32>,
    /// Local cell ID (ECI & 0xFF).
    pub cell_id: Option<u32>,
    /// PLMN (MCC+MNC digits, e.g. `315010`).
    pub plmn: Option<String>,
    /// LTE band number.
    pub band: Option<u16>,
    /// Downlink EARFCN.
    pub earfcn: Option<u32>,
    /// Physical cell ID.
    pub pci: Option<u16>,
    /// Uplink (transmit) MCS.
    pub tx_mcs: Option<u8>,
    /// Downlink (receive) MCS.
    pub rx_mcs: Option<u8>,
    /// Reference signal received power, dBm.
    pub rsrp_dbm: Option<f64>,
    /// Reference signal received quality, dB.
    pub rsrq_db: Option<f64>,
    /// Signal to interference and noise ratio, dB.
    pub sinr_db: Option<f64>,
    /// Received signal strength indicator, dBm.
    pub rssi_dbm: Option<f64>,
    /// Channel bandwidth, MHz.
    pub bandwidth_mhz: Option<f64>,
    /// Whether the radio link is up (attached), when the device says.
    pub connected: Option<bool>,

    // -- performance --
    /// Current receive (downlink) rate, bits/s.
    pub rx_rate_bps: Option<f64>,
    /// Current transmit (uplink) rate, bits/s.
    pub tx_rate_bps: Option<f64>,
    /// Time since boot, seconds.
    pub uptime_s: Option<u64>,
    /// Boot time, seconds since the Unix epoch (UTC).
    pub last_boot_unix_s: Option<i64>,
    /// Packets sent.
    pub packets_sent: Option<u64>,
    /// Packets that failed to send (errors + discards).
    pub packets_failed: Option<u64>,
    /// Octets sent.
    pub octets_sent: Option<u64>,
    /// Octets received.
    pub octets_received: Option<u64>,
    /// Octets that failed (in errors), when the device counts them.
    pub octets_failed: Option<u64>,

    /// Network interfaces (standard MIB-II or the vendor's equivalent).
    pub interfaces: Vec<InterfaceStats>,
    /// Vendor metrics with no field of their own.
    pub metrics: Vec<Metric>,
}

/// Counters and state of one network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceStats {
    /// ifIndex.
    pub index: u32,
    /// ifDescr / ifName.
    pub name: String,
    /// MAC address, lower-case colon form.
    pub mac: Option<String>,
    /// ifOperStatus == up.
    pub up: Option<bool>,
    /// Speed, bits/s.
    pub speed_bps: Option<u64>,
    /// Octets received.
    pub in_octets: Option<u64>,
    /// Octets sent.
    pub out_octets: Option<u64>,
    /// Inbound errors.
    pub in_errors: Option<u64>,
    /// Outbound errors.
    pub out_errors: Option<u64>,
}

/// A free-form numeric metric: a stable snake_case name, labels, and a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Name, e.g. `antenna_rsrp_dbm`.
    pub name: String,
    /// Labels, e.g. `[("antenna", "1")]`.
    #[serde(default)]
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// Formats six bytes as a lower-case colon-separated MAC; `None` for any other length or all zeros.
pub fn format_mac(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 6 || bytes.iter().all(|b| *b == 0) {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_formatting() {
        assert_eq!(
            format_mac(&[0x00, 0x1a, 0x2b, 0xc2, 0xc3, 0xff]).as_deref(),
            Some("00:1a:2b:c2:c3:ff")
        );
        assert_eq!(format_mac(&[0; 6]), None);
        assert_eq!(format_mac(&[1, 2, 3]), None);
    }

    #[test]
    fn missing_fields_decode_as_absent() {
        let rec: DeviceRecord = serde_json::from_str(r#"{"rsrp_dbm": -95.5}"#).unwrap();
        assert_eq!(rec.rsrp_dbm, Some(-95.5));
        assert_eq!(rec.sinr_db, None);
        assert!(rec.interfaces.is_empty());
    }
}
