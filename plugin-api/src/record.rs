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
    /// TCP port of the device's web UI (80 unless the operator says otherwise):
    /// identification reads the page title there when SNMP and TR-069 say nothing, and
    /// drivers' web steps use it unless their own settings name another.
    #[serde(default = "default_web_port")]
    pub web_port: u16,
    /// The model the host believes this is, when known (from identification or config).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
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

fn default_web_port() -> u16 {
    80
}

impl Target {
    /// A target at `address` with default settings.
    pub fn new(address: IpAddr) -> Self {
        Target {
            address,
            snmp_port: default_snmp_port(),
            web_port: default_web_port(),
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// IMEI (15 digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// IMSI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imsi: Option<String>,
    /// Serial number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl Identity {
    /// True when no identifier is known.
    pub fn is_empty(&self) -> bool {
        self == &Identity::default()
    }
}

/// What identification knows about a device before a driver is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fingerprint {
    /// SNMP sysObjectID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_object_id: Option<String>,
    /// SNMP sysDescr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_descr: Option<String>,
    /// MAC address (its OUI names the maker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// IMEI (its TAC names the model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// `<title>` of the device's web page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_title: Option<String>,
    /// `Server:` header or SSH/Telnet banner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// TR-069 DeviceId: manufacturer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tr069_manufacturer: Option<String>,
    /// TR-069 DeviceId: OUI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tr069_oui: Option<String>,
    /// TR-069 DeviceId: product class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tr069_product_class: Option<String>,
}

impl Fingerprint {
    /// True when the MAC address's OUI (first three octets) is `oui`. Both sides may be
    /// written in any common form: `60:03:47`, `60-03-47`, `600347`, `6003.47…`, any case.
    pub fn mac_oui_is(&self, oui: &str) -> bool {
        let Some(mac) = &self.mac else {
            return false;
        };
        let want = hex_digits(oui);
        let have = hex_digits(mac);
        want.len() == 6 && have.len() == 12 && have.starts_with(&want)
    }

    /// True when the IMEI's type allocation code (its first eight digits) is one of `tacs`.
    pub fn imei_tac_in(&self, tacs: &[&str]) -> bool {
        let Some(imei) = &self.imei else {
            return false;
        };
        let digits: String = imei.chars().filter(char::is_ascii_digit).collect();
        digits.len() >= 14 && tacs.iter().any(|tac| digits.get(..8) == Some(*tac))
    }

    /// True when the TR-069 DeviceId OUI is `oui` (compared without regard to case).
    pub fn tr069_oui_is(&self, oui: &str) -> bool {
        self.tr069_oui
            .as_deref()
            .is_some_and(|o| o.trim().eq_ignore_ascii_case(oui))
    }

    /// True when sysObjectID is `prefix` or lies below it (`1.3.6.1.4.1.17453` holds
    /// `.1.3.6.1.4.1.17453.1` but not `1.3.6.1.4.1.174530`). A leading dot is ignored.
    pub fn sys_object_id_under(&self, prefix: &str) -> bool {
        let Some(id) = &self.sys_object_id else {
            return false;
        };
        let id = id.trim().trim_start_matches('.');
        let prefix = prefix.trim_start_matches('.');
        id.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

/// The hexadecimal digits of `s`, lowercased, separators dropped.
fn hex_digits(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A driver's confidence that a device is one of its models: 0 (not mine) to 100 (certain).
/// Scores up to [`FALLBACK_CONFIDENCE`] mean "I speak a standard it answers, but do not know
/// its model" (a generic MIB-II driver): a device such a driver wins is reported as
/// unidentified.
pub type Confidence = u8;

/// The highest score of a generic fallback driver; a vendor driver that recognises a model
/// scores above it.
pub const FALLBACK_CONFIDENCE: Confidence = 9;

/// Everything known about one device after a poll: identity, connection, radio and
/// performance, units in the field names, absent never zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceRecord {
    // -- identity --
    /// Manufacturer as reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Model name as reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Firmware/software version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Hardware revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    /// SNMP sysName or configured host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// SNMP sysDescr or equivalent banner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Identifiers (MAC, IMEI, IMSI, serial).
    #[serde(skip_serializing_if = "Identity::is_empty")]
    pub identity: Identity,

    // -- connection (LTE) --
    /// E-UTRAN cell identity (28 bits, decimal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eci: Option<u32>,
    /// eNodeB ID (ECI >> 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enb_id: Option<u32>,
    /// Local cell ID (ECI & 0xFF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_id: Option<u32>,
    /// PLMN (MCC+MNC digits, e.g. `315010`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plmn: Option<String>,
    /// LTE band number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<u16>,
    /// Downlink EARFCN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earfcn: Option<u32>,
    /// Physical cell ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pci: Option<u16>,
    /// Uplink (transmit) MCS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_mcs: Option<u8>,
    /// Downlink (receive) MCS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_mcs: Option<u8>,
    /// Reference signal received power, dBm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsrp_dbm: Option<f64>,
    /// Reference signal received quality, dB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsrq_db: Option<f64>,
    /// Signal to interference and noise ratio, dB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sinr_db: Option<f64>,
    /// Received signal strength indicator, dBm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rssi_dbm: Option<f64>,
    /// Channel bandwidth, MHz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandwidth_mhz: Option<f64>,
    /// Whether the radio link is up (attached), when the device says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,

    // -- performance --
    /// Current receive (downlink) rate, bits/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_rate_bps: Option<f64>,
    /// Current transmit (uplink) rate, bits/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_rate_bps: Option<f64>,
    /// Time since boot, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    /// Boot time, seconds since the Unix epoch (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_boot_unix_s: Option<i64>,
    /// Packets sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_sent: Option<u64>,
    /// Packets that failed to send (errors + discards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_failed: Option<u64>,
    /// Octets sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub octets_sent: Option<u64>,
    /// Octets received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub octets_received: Option<u64>,
    /// Octets that failed (in errors), when the device counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub octets_failed: Option<u64>,

    /// Network interfaces (standard MIB-II or the vendor's equivalent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceStats>,
    /// Vendor metrics with no field of their own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
}

impl DeviceRecord {
    /// Sets the cell identity: `eci` when it is one (not zero, within 28 bits), with the
    /// eNB (ECI >> 8) and the local cell (ECI & 0xFF) derived from it; without a valid ECI,
    /// `enb_id` and `cell_id` as the device gave them apart.
    pub fn set_cell(&mut self, eci: Option<u32>, enb_id: Option<u32>, cell_id: Option<u32>) {
        self.eci = eci.filter(|e| *e > 0 && *e < (1 << 28));
        self.enb_id = self.eci.map(|e| e >> 8).or(enb_id);
        self.cell_id = self.eci.map(|e| e & 0xff).or(cell_id);
    }

    /// Fills every field this record lacks from `other` (a second way into the same device:
    /// SNMP first, TR-069 for the rest, say). Related fields come from one source, never
    /// two that may disagree: the cell identity (`eci`, `enb_id`, `cell_id`) is taken whole
    /// when this record has none of it, and its missing parts only when `other` agrees with
    /// the parts here; `uptime_s` and `last_boot_unix_s` are taken together. Interfaces are
    /// taken when this record has none; metrics are added unless one with the same name and
    /// labels is already here.
    pub fn fill_gaps(&mut self, other: DeviceRecord) {
        if self.eci.is_none() && self.enb_id.is_none() && self.cell_id.is_none() {
            (self.eci, self.enb_id, self.cell_id) = (other.eci, other.enb_id, other.cell_id);
        } else if self.eci.is_none()
            && self.enb_id.is_none_or(|e| other.enb_id == Some(e))
            && self.cell_id.is_none_or(|c| other.cell_id == Some(c))
        {
            self.eci = other.eci;
            self.enb_id = self.enb_id.or(other.enb_id);
            self.cell_id = self.cell_id.or(other.cell_id);
        }
        if self.uptime_s.is_none() && self.last_boot_unix_s.is_none() {
            (self.uptime_s, self.last_boot_unix_s) = (other.uptime_s, other.last_boot_unix_s);
        }
        macro_rules! fill {
            ($($field:ident),*) => { $( if self.$field.is_none() { self.$field = other.$field; } )* };
        }
        fill!(
            vendor,
            model,
            firmware,
            hardware,
            hostname,
            description,
            plmn,
            band,
            earfcn,
            pci,
            tx_mcs,
            rx_mcs,
            rsrp_dbm,
            rsrq_db,
            sinr_db,
            rssi_dbm,
            bandwidth_mhz,
            connected,
            rx_rate_bps,
            tx_rate_bps,
            packets_sent,
            packets_failed,
            octets_sent,
            octets_received,
            octets_failed
        );
        let id = other.identity;
        self.identity.mac = self.identity.mac.take().or(id.mac);
        self.identity.imei = self.identity.imei.take().or(id.imei);
        self.identity.imsi = self.identity.imsi.take().or(id.imsi);
        self.identity.serial = self.identity.serial.take().or(id.serial);
        if self.interfaces.is_empty() {
            self.interfaces = other.interfaces;
        }
        for m in other.metrics {
            if !self
                .metrics
                .iter()
                .any(|have| have.name == m.name && have.labels == m.labels)
            {
                self.metrics.push(m);
            }
        }
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// ifOperStatus == up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    /// Speed, bits/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_bps: Option<u64>,
    /// Octets received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_octets: Option<u64>,
    /// Octets sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_octets: Option<u64>,
    /// Inbound errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_errors: Option<u64>,
    /// Outbound errors.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    fn fill_gaps_keeps_what_is_there_and_takes_the_rest() {
        let metric = |name: &str, value| Metric {
            name: name.into(),
            labels: vec![],
            value,
        };
        let mut snmp = DeviceRecord {
            rsrp_dbm: Some(-90.0),
            identity: Identity {
                imei: Some("1".into()),
                ..Identity::default()
            },
            metrics: vec![metric("tx_power_dbm", 20.0)],
            ..DeviceRecord::default()
        };
        snmp.fill_gaps(DeviceRecord {
            rsrp_dbm: Some(-100.0),
            band: Some(48),
            identity: Identity {
                imei: Some("2".into()),
                mac: Some("60:03:47:00:00:01".into()),
                ..Identity::default()
            },
            metrics: vec![metric("tx_power_dbm", 1.0), metric("temperature_c", 40.0)],
            ..DeviceRecord::default()
        });
        assert_eq!((snmp.rsrp_dbm, snmp.band), (Some(-90.0), Some(48)));
        assert_eq!(snmp.identity.imei.as_deref(), Some("1"));
        assert_eq!(snmp.identity.mac.as_deref(), Some("60:03:47:00:00:01"));
        assert_eq!(
            snmp.metrics,
            [metric("tx_power_dbm", 20.0), metric("temperature_c", 40.0)]
        );
    }

    #[test]
    fn fill_gaps_never_assembles_a_cell_or_a_boot_time_from_two_sources() {
        let cell = |eci: Option<u32>, enb: Option<u32>, cell: Option<u32>| DeviceRecord {
            eci,
            enb_id: enb,
            cell_id: cell,
            ..DeviceRecord::default()
        };
        let parts = |r: &DeviceRecord| (r.eci, r.enb_id, r.cell_id);
        let tr069 = cell(Some(166 * 256 + 42), Some(166), Some(42));
        // Nothing here: all of it from the other way in.
        let mut r = DeviceRecord::default();
        r.fill_gaps(tr069.clone());
        assert_eq!(parts(&r), (Some(42538), Some(166), Some(42)));
        // The eNB here, the cell missing, the other agrees on the eNB: completed.
        let mut r = cell(None, Some(166), None);
        r.fill_gaps(tr069.clone());
        assert_eq!(parts(&r), (Some(42538), Some(166), Some(42)));
        // The other says another cell: nothing of it is taken.
        let mut r = cell(None, Some(166), Some(33));
        r.fill_gaps(tr069.clone());
        assert_eq!(parts(&r), (None, Some(166), Some(33)));
        let mut r = cell(None, Some(170), None);
        r.fill_gaps(tr069);
        assert_eq!(parts(&r), (None, Some(170), None));

        let boot = |up: Option<u64>, at: Option<i64>| DeviceRecord {
            uptime_s: up,
            last_boot_unix_s: at,
            ..DeviceRecord::default()
        };
        let mut r = boot(Some(60), None);
        r.fill_gaps(boot(Some(86_400), Some(1_700_000_000)));
        assert_eq!((r.uptime_s, r.last_boot_unix_s), (Some(60), None));
        let mut r = boot(None, None);
        r.fill_gaps(boot(Some(86_400), Some(1_700_000_000)));
        assert_eq!(
            (r.uptime_s, r.last_boot_unix_s),
            (Some(86_400), Some(1_700_000_000))
        );
    }

    #[test]
    fn set_cell_derives_from_a_valid_eci_and_keeps_parts_without_one() {
        let mut r = DeviceRecord::default();
        r.set_cell(Some(0xA621), Some(1), Some(2));
        assert_eq!(
            (r.eci, r.enb_id, r.cell_id),
            (Some(0xA621), Some(166), Some(33))
        );
        for invalid in [Some(0), Some(1 << 28), None] {
            r.set_cell(invalid, Some(166), Some(42));
            assert_eq!((r.eci, r.enb_id, r.cell_id), (None, Some(166), Some(42)));
        }
        assert_eq!(crate::normalise::eci_from_parts(166, 33), Some(0xA621));
        assert_eq!(crate::normalise::eci_from_parts(166, 256), None);
        assert_eq!(crate::normalise::eci_from_parts(u32::MAX, 1), None);
    }

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
    fn fingerprint_matches_mac_oui_in_any_notation() {
        let fp = |mac: &str| Fingerprint {
            mac: Some(mac.into()),
            ..Fingerprint::default()
        };
        for mac in [
            "60:03:47:aa:bb:cc",
            "60-03-47-AA-BB-CC",
            "6003.47aa.bbcc",
            "600347AABBCC",
        ] {
            assert!(fp(mac).mac_oui_is("60:03:47"), "{mac}");
            assert!(fp(mac).mac_oui_is("600347"), "{mac}");
        }
        assert!(!fp("60:03:48:aa:bb:cc").mac_oui_is("60:03:47"));
        assert!(
            !fp("60:03:47").mac_oui_is("60:03:47"),
            "a bare OUI is not a MAC"
        );
        assert!(!Fingerprint::default().mac_oui_is("60:03:47"));
    }

    #[test]
    fn fingerprint_matches_imei_tac_only_on_whole_imeis() {
        let fp = |imei: &str| Fingerprint {
            imei: Some(imei.into()),
            ..Fingerprint::default()
        };
        assert!(fp(" 867945041234567 ").imei_tac_in(&["86628803", "86794504"]));
        assert!(fp("35-749810-123456-7").imei_tac_in(&["35749810"]));
        assert!(!fp("867945041234567").imei_tac_in(&["86628803"]));
        assert!(!fp("86794504").imei_tac_in(&["86794504"]), "a TAC alone");
    }

    #[test]
    fn fingerprint_matches_oui_and_object_id_on_boundaries() {
        let fp = Fingerprint {
            tr069_oui: Some("20107a".into()),
            sys_object_id: Some(".1.3.6.1.4.1.17453.1.2".into()),
            ..Fingerprint::default()
        };
        assert!(fp.tr069_oui_is("20107A"));
        assert!(!fp.tr069_oui_is("48BF74"));
        assert!(fp.sys_object_id_under("1.3.6.1.4.1.17453"));
        assert!(fp.sys_object_id_under(".1.3.6.1.4.1.17453.1.2"));
        assert!(!fp.sys_object_id_under("1.3.6.1.4.1.1745"));
        assert!(!fp.sys_object_id_under("1.3.6.1.4.1.17453.1.2.3"));
    }

    #[test]
    fn missing_fields_decode_as_absent() {
        let rec: DeviceRecord = serde_json::from_str(r#"{"rsrp_dbm": -95.5}"#).unwrap();
        assert_eq!(rec.rsrp_dbm, Some(-95.5));
        assert_eq!(rec.sinr_db, None);
        assert!(rec.interfaces.is_empty());
    }
}
