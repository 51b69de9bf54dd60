//! The checks of one host: ICMP echo and SNMP (the template's OIDs, the system group,
//! the interface tables, and for infrastructure hosts the ARP, address and bridge tables),
//! turned into the result format Sonar's `/api/batch_poller` reads.

use super::work::{HostJob, SnmpJob};
use crate::engines::icmp::IcmpEngine;
use crate::engines::snmp::SnmpEngine;
use efi_plugin_api::{IcmpStats, IoError, Oid, SnmpValue, VarBind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// What the checks of one host found. Serialises as one entry of `results`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostResult {
    /// Ping statistics, null when the template does not ping.
    pub icmp: Option<IcmpResult>,
    /// SNMP outcome, null when the template has no SNMP.
    pub snmp: Option<SnmpResult>,
}

/// `icmp`: milliseconds; lost probes count as loss and never as a latency.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IcmpResult {
    /// Lowest round trip of the answered probes.
    pub low: Option<f64>,
    /// Highest round trip of the answered probes.
    pub high: Option<f64>,
    /// Median round trip of the answered probes.
    pub median: Option<f64>,
    /// Lost probes in percent, two decimals.
    pub loss_percentage: f64,
}

impl IcmpResult {
    /// From the engine's per-probe statistics.
    pub fn from_stats(stats: &IcmpStats) -> Self {
        let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
        IcmpResult {
            low: stats.min_ms().map(round3),
            high: stats.max_ms().map(round3),
            median: stats.median_ms().map(round3),
            loss_percentage: (stats.loss() * 10_000.0).round() / 100.0,
        }
    }
}

/// `snmp`: the device's answers, or why there are none.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnmpResult {
    /// The agent answered.
    pub up: bool,
    /// Why something is missing (timeout, refused credentials, a walk that failed).
    pub message: Option<String>,
    /// From the system group.
    pub metadata: Metadata,
    /// By ifIndex; `[]` when empty.
    #[serde(serialize_with = "map_or_empty_array")]
    pub interfaces: BTreeMap<u32, Interface>,
    /// The template's OIDs: Counter32/64 values in `counters`, the rest in `others`.
    pub results: GetResults,
}

/// `metadata` (all null when the agent did not answer).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Metadata {
    /// sysContact.
    pub contact: Option<String>,
    /// sysName.
    pub name: Option<String>,
    /// sysLocation.
    pub location: Option<String>,
    /// sysUpTime in hundredths of a second, as a string.
    pub uptime: Option<String>,
    /// sysDescr.
    pub description: Option<String>,
}

/// `results`: numeric OIDs without the leading dot, values as strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GetResults {
    /// Counter32 and Counter64 values.
    pub counters: BTreeMap<String, String>,
    /// Every other value.
    pub others: BTreeMap<String, String>,
}

impl Serialize for GetResults {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.counters.is_empty() && self.others.is_empty() {
            return Vec::<()>::new().serialize(s);
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("counters", &self.counters)?;
        m.serialize_entry("others", &self.others)?;
        m.end()
    }
}

fn map_or_empty_array<S: serde::Serializer, V: Serialize>(
    map: &BTreeMap<u32, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    if map.is_empty() {
        Vec::<()>::new().serialize(s)
    } else {
        map.serialize(s)
    }
}

/// One interface, with the field names Sonar's parser expects.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Interface {
    /// ifIndex.
    pub id: u32,
    /// ifDescr.
    pub description: String,
    /// ifOperStatus is up(1).
    pub up: bool,
    /// Wireless or PON clients (no driver of this host reports them yet).
    pub connected_l1: Vec<String>,
    /// MACs in the bridge forwarding table on this interface (infrastructure hosts).
    pub connected_l2: Vec<String>,
    /// MACs in the ARP table on this interface (infrastructure hosts).
    pub connected_l3: Vec<String>,
    /// IPv4 and IPv6 addresses with prefix length (infrastructure hosts).
    pub ip_addresses: Vec<String>,
    /// The same list under the key Sonar's own poller actually sends (with a trailing
    /// space, a bug its server-side parser may depend on); dropped when
    /// `legacy_ip_addresses_key = false`.
    #[serde(rename = "ip_addresses ", skip_serializing_if = "Option::is_none")]
    pub ip_addresses_legacy: Option<Vec<String>>,
    /// ifPhysAddress as `AA:BB:CC:DD:EE:FF`.
    pub mac_address: Option<String>,
    /// Speed in Mbit/s (ifHighSpeed when ifSpeed is saturated), rounded up.
    pub speed_mbps_in: u64,
    /// Same as `speed_mbps_in` (one speed per interface in IF-MIB).
    pub speed_mbps_out: u64,
    /// ifType, as a string.
    #[serde(rename = "type")]
    pub if_type: String,
    /// Received unicast packets (a counter, not a rate).
    pub pps_in: u64,
    /// Sent unicast packets (a counter, not a rate).
    pub pps_out: u64,
    /// Received octets (64-bit counter when the agent has ifXTable).
    pub octets_in: u64,
    /// Sent octets.
    pub octets_out: u64,
    /// ifInErrors.
    pub errors_in: u64,
    /// ifOutErrors.
    pub errors_out: u64,
    /// ifInDiscards.
    pub discards_in: u64,
    /// ifOutDiscards.
    pub discards_out: u64,
}

/// How a host's checks run.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// Echo requests per host.
    pub icmp_count: u32,
    /// SNMP port of the agents.
    pub snmp_port: u16,
    /// ifTypes reported (others are dropped, as Sonar's own poller does).
    pub interface_types: Vec<u32>,
    /// GETBULK max-repetitions of the walks.
    pub max_repetitions: u32,
    /// Also send `"ip_addresses "` (see [`Interface::ip_addresses_legacy`]).
    pub legacy_ip_addresses_key: bool,
}

const SYSTEM: &str = "1.3.6.1.2.1.1";
const IF_TABLE: &str = "1.3.6.1.2.1.2.2.1";
const IFX_TABLE: &str = "1.3.6.1.2.1.31.1.1.1";
const ARP_PHYS: &str = "1.3.6.1.2.1.4.22.1.2";
const IP_ADDR_IFINDEX: &str = "1.3.6.1.2.1.4.20.1.2";
const IP_ADDR_MASK: &str = "1.3.6.1.2.1.4.20.1.3";
const IPV6_ADDR_PFXLEN: &str = "1.3.6.1.2.1.55.1.8.1.2";
const BRIDGE_PORT_IFINDEX: &str = "1.3.6.1.2.1.17.1.4.1.2";
const FDB_PORT: &str = "1.3.6.1.2.1.17.4.3.1.2";

fn oid(s: &str) -> Oid {
    s.parse().expect("constant OID")
}

/// Pings a host as its job says.
pub async fn ping(
    icmp: &IcmpEngine,
    job: &HostJob,
    settings: &CheckSettings,
) -> Option<IcmpResult> {
    if !job.icmp {
        return None;
    }
    match icmp.probe(job.ip, settings.icmp_count).await {
        Ok(stats) => Some(IcmpResult::from_stats(&stats)),
        Err(e) => {
            // Only a socket that cannot be opened gets here: that is the host's fault, not
            // the device's, so no ICMP result is claimed.
            tracing::warn!(host = %job.id, ip = %job.ip, "ICMP check not run: {e}");
            None
        }
    }
}

/// Polls a host over SNMP as its job says.
pub async fn poll_snmp(
    snmp: &SnmpEngine,
    ip: IpAddr,
    network_site: bool,
    job: &SnmpJob,
    settings: &CheckSettings,
) -> SnmpResult {
    let mut session = snmp.session(
        SocketAddr::new(ip, settings.snmp_port),
        job.credentials.clone(),
    );
    // One GET: the template's OIDs and the five system scalars of `metadata`.
    let metadata_oids: Vec<Oid> = [1u32, 3, 4, 5, 6]
        .iter()
        .map(|c| oid(&format!("{SYSTEM}.{c}.0")))
        .collect();
    let mut asked = job.oids.clone();
    asked.extend(metadata_oids.iter().cloned());
    let answers = match session.get(&asked).await {
        Ok(vbs) => vbs,
        // v1 fails the whole PDU for one missing OID: ask one by one and keep what exists.
        Err(e) if e.message.contains("error status 2") => {
            let mut kept = Vec::new();
            for o in &asked {
                match session.get(std::slice::from_ref(o)).await {
                    Ok(vbs) => kept.extend(vbs),
                    Err(e) if e.message.contains("error status") => {}
                    Err(e) => return down(e),
                }
            }
            kept
        }
        Err(e) => return down(e),
    };
    let mut result = SnmpResult {
        up: true,
        message: None,
        metadata: Metadata::default(),
        interfaces: BTreeMap::new(),
        results: GetResults::default(),
    };
    for vb in &answers {
        if let Some(c) = vb.oid.arcs().strip_prefix(&[1, 3, 6, 1, 2, 1, 1][..]) {
            let text = || value_text(&vb.value).map(|(_, t)| t);
            match c {
                [1, 0] => result.metadata.description = text(),
                [3, 0] => result.metadata.uptime = text(),
                [4, 0] => result.metadata.contact = text(),
                [5, 0] => result.metadata.name = text(),
                [6, 0] => result.metadata.location = text(),
                _ => {}
            }
        }
        if !job.oids.contains(&vb.oid) {
            continue;
        }
        if let Some((counter, text)) = value_text(&vb.value) {
            let map = if counter {
                &mut result.results.counters
            } else {
                &mut result.results.others
            };
            map.insert(vb.oid.to_string(), text);
        }
    }
    if !job.interfaces {
        return result;
    }
    let mut problems = Vec::new();
    let mut walk = async |root: &str, problems: &mut Vec<String>| -> Vec<VarBind> {
        match session.walk(&oid(root), settings.max_repetitions).await {
            Ok(vbs) => vbs,
            Err(e) => {
                problems.push(format!("walk of {root}: {}", e.message));
                Vec::new()
            }
        }
    };
    let if_table = walk(IF_TABLE, &mut problems).await;
    let ifx_table = walk(IFX_TABLE, &mut problems).await;
    let mut interfaces = interfaces_from(&if_table, &ifx_table, &settings.interface_types);
    if network_site && !interfaces.is_empty() {
        let arp = walk(ARP_PHYS, &mut problems).await;
        let ip_ifindex = walk(IP_ADDR_IFINDEX, &mut problems).await;
        let ip_mask = walk(IP_ADDR_MASK, &mut problems).await;
        let ipv6 = walk(IPV6_ADDR_PFXLEN, &mut problems).await;
        let bridge_ports = walk(BRIDGE_PORT_IFINDEX, &mut problems).await;
        let fdb = walk(FDB_PORT, &mut problems).await;
        add_topology(
            &mut interfaces,
            &arp,
            &ip_ifindex,
            &ip_mask,
            &ipv6,
            &bridge_ports,
            &fdb,
        );
    }
    if settings.legacy_ip_addresses_key {
        for i in interfaces.values_mut() {
            i.ip_addresses_legacy = Some(i.ip_addresses.clone());
        }
    }
    result.interfaces = interfaces;
    if !problems.is_empty() {
        result.message = Some(problems.join("; "));
    }
    result
}

/// The agent did not answer (or refused the credentials): Sonar's error form.
fn down(e: IoError) -> SnmpResult {
    SnmpResult {
        up: false,
        message: Some(e.message),
        metadata: Metadata::default(),
        interfaces: BTreeMap::new(),
        results: GetResults::default(),
    }
}

/// A value as Sonar's poller reports it (net-snmp `-On -Ot -Oe` without quotes): whether it
/// is a counter, and its text. The "no such" answers have none.
pub fn value_text(v: &SnmpValue) -> Option<(bool, String)> {
    Some(match v {
        SnmpValue::Counter32(c) => (true, c.to_string()),
        SnmpValue::Counter64(c) => (true, c.to_string()),
        SnmpValue::Integer(i) => (false, i.to_string()),
        SnmpValue::Gauge32(g) => (false, g.to_string()),
        SnmpValue::TimeTicks(t) => (false, t.to_string()),
        SnmpValue::IpAddress(a) => (false, std::net::Ipv4Addr::from(*a).to_string()),
        SnmpValue::ObjectId(o) => (false, o.to_string()),
        SnmpValue::OctetString(b) | SnmpValue::Opaque(b) => (false, octets_text(b)),
        SnmpValue::Null
        | SnmpValue::NoSuchObject
        | SnmpValue::NoSuchInstance
        | SnmpValue::EndOfMibView => return None,
        // SnmpValue is non-exhaustive: a type a future plugin API adds is not reported.
        _ => return None,
    })
}

/// Printable text as is (a trailing NUL, CR or LF dropped); binary as net-snmp's Hex-STRING
/// (`80 00 1F 88`).
fn octets_text(b: &[u8]) -> String {
    let trimmed = b.strip_suffix(b"\0").unwrap_or(b).trim_ascii_end();
    match std::str::from_utf8(trimmed) {
        Ok(s) if s.chars().all(|c| !c.is_control() || c == '\t') => s.to_string(),
        _ => b
            .iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `AA:BB:CC:DD:EE:FF` from six octets.
fn mac(b: &[u8]) -> Option<String> {
    (b.len() == 6).then(|| {
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

fn number(v: &SnmpValue) -> Option<u64> {
    match v {
        SnmpValue::Integer(i) => u64::try_from(*i).ok(),
        SnmpValue::Counter32(c) | SnmpValue::Gauge32(c) | SnmpValue::TimeTicks(c) => {
            Some(u64::from(*c))
        }
        SnmpValue::Counter64(c) => Some(*c),
        _ => None,
    }
}

/// Column → (ifIndex → value) of a table walk whose index is a single ifIndex.
fn columns(vbs: &[VarBind], table: &str) -> BTreeMap<u32, BTreeMap<u32, SnmpValue>> {
    let prefix = oid(table);
    let mut out: BTreeMap<u32, BTreeMap<u32, SnmpValue>> = BTreeMap::new();
    for vb in vbs {
        if let Some([column, index]) = vb.oid.arcs().strip_prefix(prefix.arcs()) {
            out.entry(*column)
                .or_default()
                .insert(*index, vb.value.clone());
        }
    }
    out
}

fn interfaces_from(
    if_table: &[VarBind],
    ifx_table: &[VarBind],
    types: &[u32],
) -> BTreeMap<u32, Interface> {
    let t = columns(if_table, IF_TABLE);
    let x = columns(ifx_table, IFX_TABLE);
    let get = |m: &BTreeMap<u32, BTreeMap<u32, SnmpValue>>, col: u32, idx: u32| {
        m.get(&col).and_then(|c| c.get(&idx)).and_then(number)
    };
    let mut out = BTreeMap::new();
    let Some(indexes) = t.get(&1).map(|c| c.keys().copied().collect::<Vec<_>>()) else {
        return out;
    };
    for idx in indexes {
        let if_type = get(&t, 3, idx).unwrap_or(0);
        if !types.is_empty() && !types.contains(&(if_type as u32)) {
            continue;
        }
        let speed = match (get(&t, 5, idx), get(&x, 15, idx)) {
            (Some(bps), Some(high)) if bps >= u64::from(u32::MAX) => high,
            (Some(bps), _) => bps.div_ceil(1_000_000),
            (None, Some(high)) => high,
            (None, None) => 0,
        };
        let either =
            |hc: u32, low: u32| get(&x, hc, idx).or_else(|| get(&t, low, idx)).unwrap_or(0);
        out.insert(
            idx,
            Interface {
                id: idx,
                description: t
                    .get(&2)
                    .and_then(|c| c.get(&idx))
                    .and_then(|v| value_text(v).map(|(_, s)| s))
                    .unwrap_or_default(),
                up: get(&t, 8, idx) == Some(1),
                mac_address: match t.get(&6).and_then(|c| c.get(&idx)) {
                    Some(SnmpValue::OctetString(b)) => mac(b),
                    _ => None,
                },
                speed_mbps_in: speed,
                speed_mbps_out: speed,
                if_type: if_type.to_string(),
                octets_in: either(6, 10),
                octets_out: either(10, 16),
                pps_in: either(7, 11),
                pps_out: either(11, 17),
                discards_in: get(&t, 13, idx).unwrap_or(0),
                errors_in: get(&t, 14, idx).unwrap_or(0),
                discards_out: get(&t, 19, idx).unwrap_or(0),
                errors_out: get(&t, 20, idx).unwrap_or(0),
                ..Interface::default()
            },
        );
    }
    out
}

fn add_topology(
    interfaces: &mut BTreeMap<u32, Interface>,
    arp: &[VarBind],
    ip_ifindex: &[VarBind],
    ip_mask: &[VarBind],
    ipv6: &[VarBind],
    bridge_ports: &[VarBind],
    fdb: &[VarBind],
) {
    // ARP: index ifIndex.a.b.c.d.
    let arp_root = oid(ARP_PHYS);
    for vb in arp {
        let Some(index) = vb.oid.arcs().strip_prefix(arp_root.arcs()) else {
            continue;
        };
        if let ([if_index, ..], SnmpValue::OctetString(b)) = (index, &vb.value) {
            if let (Some(i), Some(m)) = (interfaces.get_mut(if_index), mac(b)) {
                if !i.connected_l3.contains(&m) {
                    i.connected_l3.push(m);
                }
            }
        }
    }
    // ipAddrTable: index a.b.c.d; ifIndex and mask columns.
    let (mask_root, ifindex_root) = (oid(IP_ADDR_MASK), oid(IP_ADDR_IFINDEX));
    let (ipv6_root, port_root, fdb_root) = (
        oid(IPV6_ADDR_PFXLEN),
        oid(BRIDGE_PORT_IFINDEX),
        oid(FDB_PORT),
    );
    let masks: BTreeMap<Vec<u32>, u32> = ip_mask
        .iter()
        .filter_map(|vb| {
            let index = vb.oid.arcs().strip_prefix(mask_root.arcs())?;
            match &vb.value {
                SnmpValue::IpAddress(m) => {
                    Some((index.to_vec(), u32::from_be_bytes(*m).count_ones()))
                }
                _ => None,
            }
        })
        .collect();
    for vb in ip_ifindex {
        let Some(index) = vb.oid.arcs().strip_prefix(ifindex_root.arcs()) else {
            continue;
        };
        let (Some(if_index), [a, b, c, d]) = (number(&vb.value), index) else {
            continue;
        };
        if let Some(i) = interfaces.get_mut(&(if_index as u32)) {
            let prefix = masks.get(index).copied().unwrap_or(32);
            i.ip_addresses.push(format!("{a}.{b}.{c}.{d}/{prefix}"));
        }
    }
    // ipv6AddrTable: index ifIndex.<16 octets>; the value is the prefix length. (Sonar's
    // own poller collects these and then drops them.)
    for vb in ipv6 {
        let Some(index) = vb.oid.arcs().strip_prefix(ipv6_root.arcs()) else {
            continue;
        };
        let Some((if_index, octets)) = index.split_first() else {
            continue;
        };
        let Ok(bytes) = octets
            .iter()
            .map(|o| u8::try_from(*o))
            .collect::<Result<Vec<u8>, _>>()
        else {
            continue;
        };
        let (Ok(bytes), Some(prefix)) = (<[u8; 16]>::try_from(bytes), number(&vb.value)) else {
            continue;
        };
        if let Some(i) = interfaces.get_mut(if_index) {
            i.ip_addresses
                .push(format!("{}/{prefix}", std::net::Ipv6Addr::from(bytes)));
        }
    }
    // Bridge FDB: index = MAC; value = bridge port, mapped to ifIndex by dot1dBasePortTable.
    let port_to_if: BTreeMap<u32, u64> = bridge_ports
        .iter()
        .filter_map(|vb| {
            let index = vb.oid.arcs().strip_prefix(port_root.arcs())?;
            Some((*index.first()?, number(&vb.value)?))
        })
        .collect();
    for vb in fdb {
        let Some(index) = vb.oid.arcs().strip_prefix(fdb_root.arcs()) else {
            continue;
        };
        let Ok(bytes) = index
            .iter()
            .map(|o| u8::try_from(*o))
            .collect::<Result<Vec<u8>, _>>()
        else {
            continue;
        };
        let (Some(m), Some(port)) = (mac(&bytes), number(&vb.value)) else {
            continue;
        };
        let Some(if_index) = port_to_if.get(&(port as u32)) else {
            continue;
        };
        if let Some(i) = interfaces.get_mut(&(*if_index as u32)) {
            if !i.connected_l2.contains(&m) {
                i.connected_l2.push(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vb(o: &str, v: SnmpValue) -> VarBind {
        VarBind {
            oid: oid(o),
            value: v,
        }
    }

    #[test]
    fn icmp_loss_never_becomes_a_latency() {
        let r = IcmpResult::from_stats(&IcmpStats {
            rtts_ms: vec![
                None,
                Some(2.0),
                None,
                Some(1.0),
                Some(4.0),
                None,
                None,
                None,
                None,
                None,
            ],
        });
        assert_eq!(r.low, Some(1.0));
        assert_eq!(r.median, Some(2.0));
        assert_eq!(r.high, Some(4.0));
        assert_eq!(r.loss_percentage, 70.0);
        let all_lost = IcmpResult::from_stats(&IcmpStats {
            rtts_ms: vec![None; 3],
        });
        assert_eq!((all_lost.low, all_lost.loss_percentage), (None, 100.0));
        let third = IcmpResult::from_stats(&IcmpStats {
            rtts_ms: vec![None, Some(1.0), Some(1.0)],
        });
        assert_eq!(third.loss_percentage, 33.33);
    }

    #[test]
    fn values_are_split_into_counters_and_others_like_net_snmp_prints_them() {
        assert_eq!(
            value_text(&SnmpValue::Counter64(5)),
            Some((true, "5".into()))
        );
        assert_eq!(
            value_text(&SnmpValue::TimeTicks(123456)),
            Some((false, "123456".into()))
        );
        assert_eq!(
            value_text(&SnmpValue::ObjectId(oid("1.3.6.1.4.1.14988.1"))),
            Some((false, "1.3.6.1.4.1.14988.1".into()))
        );
        assert_eq!(
            value_text(&SnmpValue::OctetString(b"RouterOS\r\n".to_vec()))
                .unwrap()
                .1,
            "RouterOS"
        );
        assert_eq!(
            value_text(&SnmpValue::OctetString(vec![0x80, 0, 0x1f]))
                .unwrap()
                .1,
            "80 00 1F"
        );
        assert_eq!(value_text(&SnmpValue::NoSuchObject), None);
    }

    #[test]
    fn interfaces_prefer_64_bit_counters_filter_types_and_learn_topology() {
        let t = IF_TABLE;
        let x = IFX_TABLE;
        let if_table = vec![
            vb(&format!("{t}.1.1"), SnmpValue::Integer(1)),
            vb(&format!("{t}.1.2"), SnmpValue::Integer(2)),
            vb(&format!("{t}.2.1"), SnmpValue::OctetString(b"lo".to_vec())),
            vb(
                &format!("{t}.2.2"),
                SnmpValue::OctetString(b"eth0".to_vec()),
            ),
            vb(&format!("{t}.3.1"), SnmpValue::Integer(24)),
            vb(&format!("{t}.3.2"), SnmpValue::Integer(6)),
            vb(&format!("{t}.5.2"), SnmpValue::Gauge32(u32::MAX)),
            vb(
                &format!("{t}.6.2"),
                SnmpValue::OctetString(vec![0, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]),
            ),
            vb(&format!("{t}.8.2"), SnmpValue::Integer(1)),
            vb(&format!("{t}.10.2"), SnmpValue::Counter32(10)),
            vb(&format!("{t}.11.2"), SnmpValue::Counter32(3)),
            vb(&format!("{t}.14.2"), SnmpValue::Counter32(7)),
            vb(&format!("{t}.16.2"), SnmpValue::Counter32(20)),
        ];
        let ifx = vec![
            vb(&format!("{x}.6.2"), SnmpValue::Counter64(10_000_000_000)),
            vb(&format!("{x}.15.2"), SnmpValue::Gauge32(10_000)),
        ];
        let mut ifs = interfaces_from(&if_table, &ifx, &[6, 71, 157, 250]);
        assert_eq!(
            ifs.keys().copied().collect::<Vec<_>>(),
            [2],
            "loopback (24) is dropped"
        );
        let eth = &ifs[&2];
        assert_eq!(eth.octets_in, 10_000_000_000, "ifHCInOctets wins");
        assert_eq!(eth.octets_out, 20, "falls back to ifOutOctets");
        assert_eq!(
            eth.speed_mbps_in, 10_000,
            "ifHighSpeed when ifSpeed is saturated"
        );
        assert_eq!(eth.mac_address.as_deref(), Some("00:1B:2C:3D:4E:5F"));
        assert!(eth.up);
        assert_eq!((eth.pps_in, eth.errors_in), (3, 7));

        add_topology(
            &mut ifs,
            &[vb(
                &format!("{ARP_PHYS}.2.10.0.0.9"),
                SnmpValue::OctetString(vec![0xaa; 6]),
            )],
            &[vb(
                &format!("{IP_ADDR_IFINDEX}.10.0.0.1"),
                SnmpValue::Integer(2),
            )],
            &[vb(
                &format!("{IP_ADDR_MASK}.10.0.0.1"),
                SnmpValue::IpAddress([255, 255, 255, 0]),
            )],
            &[vb(
                &format!("{IPV6_ADDR_PFXLEN}.2.32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1"),
                SnmpValue::Integer(64),
            )],
            &[vb(
                &format!("{BRIDGE_PORT_IFINDEX}.1"),
                SnmpValue::Integer(2),
            )],
            &[vb(
                &format!("{FDB_PORT}.187.187.187.187.187.187"),
                SnmpValue::Integer(1),
            )],
        );
        let eth = &ifs[&2];
        assert_eq!(eth.connected_l3, ["AA:AA:AA:AA:AA:AA"]);
        assert_eq!(eth.connected_l2, ["BB:BB:BB:BB:BB:BB"]);
        assert_eq!(eth.ip_addresses, ["10.0.0.1/24", "2001:db8::1/64"]);
    }

    #[test]
    fn empty_maps_serialise_as_php_empty_arrays() {
        let r = down(IoError::new(
            efi_plugin_api::IoErrorKind::Timeout,
            "no answer",
        ));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["interfaces"], serde_json::json!([]));
        assert_eq!(v["results"], serde_json::json!([]));
        assert_eq!(v["up"], false);
        assert_eq!(v["metadata"]["name"], serde_json::Value::Null);
    }
}
