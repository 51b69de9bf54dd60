//! hello-driver: the smallest complete efi-poller driver.
//!
//! It reads the standard MIB-II every SNMP agent has (sysDescr, sysName, sysUpTime and the
//! ifTable) and turns it into a [`DeviceRecord`]. Copy this crate to start a vendor driver.

use efi_plugin_api::prelude::*;
use efi_plugin_api::{format_mac, now_unix_ms, InterfaceStats};
use serde::Deserialize;
use std::collections::BTreeMap;

/// sysDescr.0
const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
/// sysObjectID.0
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
/// sysUpTime.0 (TimeTicks, hundredths of a second)
const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
/// sysName.0
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";
/// ifEntry: the columns of the ifTable.
const IF_ENTRY: &str = "1.3.6.1.2.1.2.2.1";

/// The plugin: one driver, no global state.
pub struct HelloPlugin;

impl Plugin for HelloPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "hello-driver".into(),
            vendor: "efi-poller examples".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Standard MIB-II (system group and ifTable) over SNMP".into(),
            kinds: vec![PluginKind::Driver],
            models: vec!["any SNMP agent (MIB-II)".into()],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        efi_plugin_api::tracing::info!("hello-driver ready");
        Ok(HelloPlugin)
    }

    fn new_driver(&self, config: &PluginConfig) -> Result<Box<dyn Driver>, PluginError> {
        let config: HelloConfig = config.parse()?;
        Ok(Box::new(HelloDriver { config }))
    }
}

/// Per-driver settings (the `[drivers.hello-driver]` table of the host config).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HelloConfig {
    /// GETBULK max-repetitions for the ifTable walk (0 = the host's default).
    pub max_repetitions: u32,
}

/// The driver.
pub struct HelloDriver {
    config: HelloConfig,
}

impl HelloDriver {
    /// A driver with default settings (for tests and embedding).
    pub fn new() -> Self {
        HelloDriver {
            config: HelloConfig::default(),
        }
    }
}

impl Default for HelloDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver for HelloDriver {
    fn identify(&self, fingerprint: &Fingerprint) -> Confidence {
        // Any SNMP agent speaks MIB-II, so this is the fallback of last resort.
        if fingerprint.sys_descr.is_some() || fingerprint.sys_object_id.is_some() {
            5
        } else {
            0
        }
    }

    fn collect(&self, target: &Target) -> BoxTask<DeviceRecord> {
        efi_plugin_api::tracing::debug!(address = %target.address, "collecting MIB-II");
        Box::new(Collect {
            max_repetitions: self.config.max_repetitions,
        })
    }
}

/// The collection: one step asks for the scalars and the ifTable, the answer finishes it.
struct Collect {
    max_repetitions: u32,
}

impl Task for Collect {
    type Output = DeviceRecord;

    fn start(&mut self) -> Step<DeviceRecord> {
        Step::Requests(vec![
            IoRequest::SnmpGet {
                oids: [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME]
                    .iter()
                    .map(|o| oid(o))
                    .collect(),
            },
            IoRequest::SnmpWalk {
                root: oid(IF_ENTRY),
                max_repetitions: self.max_repetitions,
            },
        ])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<DeviceRecord> {
        let mut responses = responses.into_iter();
        let scalars = match responses.next() {
            Some(Ok(IoReply::Snmp(vbs))) => vbs,
            Some(Ok(other)) => {
                return Step::Failed(PluginError::protocol(format!(
                    "expected SNMP varbinds for the system group, got {other:?}"
                )))
            }
            Some(Err(e)) => return Step::Failed(PluginError::io(format!("system group: {e}"))),
            None => return Step::Failed(PluginError::protocol("no answer for the system group")),
        };
        let mut record = DeviceRecord::default();
        for vb in &scalars {
            let o = vb.oid.to_string();
            match o.as_str() {
                SYS_DESCR => record.description = vb.value.as_text(),
                SYS_NAME => record.hostname = vb.value.as_text(),
                SYS_UPTIME => {
                    if let SnmpValue::TimeTicks(t) = vb.value {
                        let uptime = u64::from(t) / 100;
                        record.uptime_s = Some(uptime);
                        record.last_boot_unix_s =
                            Some((now_unix_ms() / 1000) as i64 - uptime as i64);
                    }
                }
                _ => {}
            }
        }
        // The ifTable is optional: an agent without it still gives a useful record.
        if let Some(Ok(IoReply::Snmp(table))) = responses.next() {
            record.interfaces = interfaces(&table);
        }
        let external = record.interfaces.iter().filter(|i| !is_loopback(i));
        for iface in external {
            if record.identity.mac.is_none() {
                record.identity.mac = iface.mac.clone();
            }
            add(&mut record.octets_received, iface.in_octets);
            add(&mut record.octets_sent, iface.out_octets);
            add(&mut record.octets_failed, iface.in_errors);
        }
        Step::Done(record)
    }
}

fn add(total: &mut Option<u64>, value: Option<u64>) {
    if let Some(v) = value {
        *total = Some(total.unwrap_or(0).saturating_add(v));
    }
}

fn is_loopback(iface: &InterfaceStats) -> bool {
    iface.name == "lo" || iface.name.starts_with("loopback") || iface.name.starts_with("Loopback")
}

/// Builds interfaces from ifEntry cells (`ifEntry.<column>.<ifIndex>`).
fn interfaces(table: &[VarBind]) -> Vec<InterfaceStats> {
    let entry = oid(IF_ENTRY);
    let mut by_index: BTreeMap<u32, InterfaceStats> = BTreeMap::new();
    for vb in table {
        let Some(&[column, index]) = vb.oid.suffix_after(&entry) else {
            continue;
        };
        let iface = by_index.entry(index).or_insert_with(|| InterfaceStats {
            index,
            ..InterfaceStats::default()
        });
        match column {
            2 => iface.name = vb.value.as_text().unwrap_or_default(),
            5 => iface.speed_bps = vb.value.as_u64(),
            6 => iface.mac = vb.value.as_bytes().and_then(format_mac),
            8 => iface.up = vb.value.as_i64().map(|s| s == 1),
            10 => iface.in_octets = vb.value.as_u64(),
            14 => iface.in_errors = vb.value.as_u64(),
            16 => iface.out_octets = vb.value.as_u64(),
            20 => iface.out_errors = vb.value.as_u64(),
            _ => {}
        }
    }
    by_index.into_values().collect()
}

efi_plugin_api::export_plugin!(HelloPlugin);
