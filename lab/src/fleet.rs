//! Fleets of simulated devices at consecutive loopback addresses (127.10.0.1, ...): plain
//! MIB-II boxes, or a mix of every CPE model with a recorded walk.

use crate::snmp_agent::{AgentOptions, RequestLog, SnmpAgent};
use efi_plugin_api::snmprec::AgentData;
use std::net::{Ipv4Addr, SocketAddr};

/// An agent on `bind` answering lab device `n`'s MIB-II with `sys_descr` as its sysDescr
/// and no vendor tree: a CPE whose firmware publishes only MIB-II (a CPE12300, an Atom on
/// firmware without BAICELLS-MIB), told apart by that sysDescr.
pub async fn mib2_agent_with_descr(
    bind: SocketAddr,
    n: u32,
    sys_descr: &str,
) -> std::io::Result<SnmpAgent> {
    let mib2 = AgentData::parse(&mib2_device(n)).map_err(std::io::Error::other)?;
    let descr = efi_plugin_api::oid("1.3.6.1.2.1.1.1.0");
    let data =
        AgentData::from_varbinds(mib2.walk(&efi_plugin_api::oid("1.3.6.1")).into_iter().map(
            |mut v| {
                if v.oid == descr {
                    v.value = efi_plugin_api::SnmpValue::OctetString(sys_descr.as_bytes().to_vec());
                }
                v
            },
        ));
    SnmpAgent::start(bind, data, AgentOptions::default()).await
}

/// The snmprec text of lab device number `n` (1-based): a Linux CPE with a loopback, an
/// Ethernet and an LTE interface, distinct names, MACs and counters, an address on eth0
/// (10.a.b.1/24) and one ARP neighbour there.
pub fn mib2_device(n: u32) -> String {
    let mac = format!("02ef1a{:06x}", n);
    let lte_mac = format!("02ef1b{:06x}", n);
    // Counter32 values wrap at 2^32, as real ones do (large fleets would overflow).
    let rx = (1_000_000u64 * u64::from(n) + 12_345) % (1 << 32);
    let tx = (250_000u64 * u64::from(n) + 678) % (1 << 32);
    format!(
        "1.3.6.1.2.1.1.1.0|4|Linux efi-lab-cpe-{n} 5.4.0 armv7l\n\
         1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n\
         1.3.6.1.2.1.1.3.0|67|{uptime}\n\
         1.3.6.1.2.1.1.4.0|4|noc@lab.invalid\n\
         1.3.6.1.2.1.1.5.0|4|cpe-{n:03}\n\
         1.3.6.1.2.1.1.6.0|4|tower {n}\n\
         1.3.6.1.2.1.2.2.1.1.1|2|1\n\
         1.3.6.1.2.1.2.2.1.1.2|2|2\n\
         1.3.6.1.2.1.2.2.1.1.3|2|3\n\
         1.3.6.1.2.1.2.2.1.2.1|4|lo\n\
         1.3.6.1.2.1.2.2.1.2.2|4|eth0\n\
         1.3.6.1.2.1.2.2.1.2.3|4|lte0\n\
         1.3.6.1.2.1.2.2.1.3.1|2|24\n\
         1.3.6.1.2.1.2.2.1.3.2|2|6\n\
         1.3.6.1.2.1.2.2.1.3.3|2|6\n\
         1.3.6.1.2.1.2.2.1.5.1|66|10000000\n\
         1.3.6.1.2.1.2.2.1.5.2|66|1000000000\n\
         1.3.6.1.2.1.2.2.1.5.3|66|150000000\n\
         1.3.6.1.2.1.2.2.1.6.1|4x|\n\
         1.3.6.1.2.1.2.2.1.6.2|4x|{mac}\n\
         1.3.6.1.2.1.2.2.1.6.3|4x|{lte_mac}\n\
         1.3.6.1.2.1.2.2.1.8.1|2|1\n\
         1.3.6.1.2.1.2.2.1.8.2|2|1\n\
         1.3.6.1.2.1.2.2.1.8.3|2|{lte_status}\n\
         1.3.6.1.2.1.2.2.1.10.1|65|4242\n\
         1.3.6.1.2.1.2.2.1.10.2|65|{rx}\n\
         1.3.6.1.2.1.2.2.1.10.3|65|{lte_rx}\n\
         1.3.6.1.2.1.2.2.1.14.2|65|{n}\n\
         1.3.6.1.2.1.2.2.1.16.1|65|4242\n\
         1.3.6.1.2.1.2.2.1.16.2|65|{tx}\n\
         1.3.6.1.2.1.2.2.1.16.3|65|{lte_tx}\n\
         1.3.6.1.2.1.4.20.1.2.10.{a}.{b}.1|2|2\n\
         1.3.6.1.2.1.4.20.1.3.10.{a}.{b}.1|64|255.255.255.0\n\
         1.3.6.1.2.1.4.22.1.2.2.10.{a}.{b}.9|4x|02ef1c{n:06x}\n",
        a = (n >> 8) & 0xff,
        b = n & 0xff,
        uptime = 360_000 * u64::from(n) % (1 << 32),
        lte_status = if n % 5 == 0 { 2 } else { 1 },
        lte_rx = rx * 3 % (1 << 32),
        lte_tx = tx * 3 % (1 << 32),
    )
}

/// The address of lab device `n` (1-based): 127.10.x.y.
pub fn device_ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 10, (n >> 8) as u8, (n & 0xff) as u8)
}

/// The CPE models of the mixed fleet, as recorded walks shipped with their drivers' tests.
pub const MODELS: [(&str, &str); 3] = [
    (
        "BEC RidgeWave 6900",
        include_str!("../../plugins/bec-ridgewave/tests/data/ridgewave-6900.snmprec"),
    ),
    (
        "Baicells Atom OD04",
        include_str!("../../plugins/baicells-atom/tests/data/atom-od04.snmprec"),
    ),
    (
        "Telrad CPE12000SG",
        include_str!("../../plugins/telrad-cpe/tests/data/cpe12000sg.snmprec"),
    ),
];

/// What lab device `n` of the mixed fleet is: a plain MIB-II box, then each CPE model in
/// turn.
pub fn mixed_kind(n: u32) -> &'static str {
    match n % 4 {
        1 => "MIB-II Linux CPE",
        k => MODELS[(k as usize + 2) % 4].0,
    }
}

/// Starts `count` agents at 127.10.0.1..: device `n` is [`mixed_kind`]`(n)`.
pub async fn start_mixed_fleet(count: u32) -> std::io::Result<Vec<SnmpAgent>> {
    start_mixed_fleet_from(1, count, None, &AgentOptions::default()).await
}

/// Like [`start_mixed_fleet`], but every agent listens on one port (as real CPEs all answer
/// on 161): the first one's ephemeral port.
pub async fn start_mixed_fleet_on_one_port(count: u32) -> std::io::Result<Vec<SnmpAgent>> {
    start_mixed_fleet_on_one_port_with(count, &AgentOptions::default()).await
}

/// [`start_mixed_fleet_on_one_port`] with other agent options (e.g. another community).
pub async fn start_mixed_fleet_on_one_port_with(
    count: u32,
    options: &AgentOptions,
) -> std::io::Result<Vec<SnmpAgent>> {
    let mut agents = start_mixed_fleet_from(1, 1, None, options).await?;
    let port = agents[0].addr().port();
    agents.extend(start_mixed_fleet_from(2, count, Some(port), options).await?);
    Ok(agents)
}

/// Starts lab device `n` of the mixed fleet ([`mixed_kind`]) at `bind` instead of its own
/// address: the same CPE after it moved to another address.
pub async fn start_mixed_device_at(
    n: u32,
    bind: SocketAddr,
    options: &AgentOptions,
) -> std::io::Result<SnmpAgent> {
    let data = AgentData::parse(&mixed_device(n))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    SnmpAgent::start(bind, data, options.clone()).await
}

/// The `.snmprec` data of lab device `n` of the mixed fleet: a vendor model's recorded walk
/// with its IMEI and MAC replaced by the device's own ([`device_imei`], [`device_mac`]), so
/// no two lab CPEs share an identifier and the EPC can report the same ones.
fn mixed_device(n: u32) -> String {
    match n % 4 {
        1 => mib2_device(n),
        k => {
            let model = (k as usize + 2) % 4;
            let (imei, mac) = (device_imei(n), device_mac(n));
            let recorded = RECORDED_IDENTITIES[model];
            let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();
            MODELS[model]
                .1
                .replace(
                    &hex(&format!("{}\r", recorded.0)),
                    &hex(&format!("{imei}\r")),
                )
                .replace(recorded.0, &imei)
                .replace(&recorded.1.replace(':', ""), &mac.replace(':', ""))
                .replace(&recorded.1.to_uppercase(), &mac.to_uppercase())
        }
    }
}

/// The IMEI and MAC (lower case) of each model's recorded walk in [`MODELS`].
const RECORDED_IDENTITIES: [(&str, &str); 3] = [
    ("869910040000001", "60:03:47:a1:b2:c3"),
    ("867945040000002", "48:bf:74:00:00:02"),
    ("357498100000003", "80:02:9c:11:22:33"),
];

/// The type allocation code (the IMEI's first 8 digits) of each model in [`MODELS`], as its
/// driver identifies it; MIB-II boxes get a code no driver claims.
const TACS: [&str; 3] = ["86991004", "86794504", "35749810"];

/// The IMEI of lab device `n`: its model's type allocation code, `n` as the serial, and the
/// Luhn check digit.
pub fn device_imei(n: u32) -> String {
    let tac = match n % 4 {
        1 => "35000001",
        k => TACS[(k as usize + 2) % 4],
    };
    imei(tac, n)
}

/// An IMEI: the 8-digit type allocation code `tac`, `serial` (6 digits) and the Luhn check
/// digit.
pub fn imei(tac: &str, serial: u32) -> String {
    let body = format!("{tac}{:06}", serial % 1_000_000);
    format!("{body}{}", luhn_digit(&body))
}

/// The MAC of lab device `n`: its model's vendor prefix (the recorded walk's) and `n`.
/// MIB-II boxes keep the locally administered `02:ef:1a:..` of [`mib2_device`].
pub fn device_mac(n: u32) -> String {
    let oui = match n % 4 {
        1 => "02:ef:1a",
        k => &RECORDED_IDENTITIES[(k as usize + 2) % 4].1[..8],
    };
    format!(
        "{oui}:{:02x}:{:02x}:{:02x}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

/// The check digit that makes `digits` + it pass the Luhn check (as IMEIs do).
fn luhn_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

async fn start_mixed_fleet_from(
    first: u32,
    last: u32,
    port: Option<u16>,
    options: &AgentOptions,
) -> std::io::Result<Vec<SnmpAgent>> {
    let mut agents = Vec::new();
    for n in first..=last {
        let bind = SocketAddr::from((device_ip(n), port.unwrap_or(0)));
        agents.push(start_mixed_device_at(n, bind, options).await?);
    }
    Ok(agents)
}

/// Starts mixed-fleet devices number `first..first + count` ([`mixed_kind`]) on `port`
/// (0: an ephemeral port each). With `log`, every agent notes what it is asked in the log
/// of its kind (keyed by [`mixed_kind`]).
pub async fn start_mixed_fleet_range(
    first: u32,
    count: u32,
    port: u16,
    log: Option<&std::collections::BTreeMap<&'static str, std::sync::Arc<RequestLog>>>,
) -> std::io::Result<Vec<SnmpAgent>> {
    let mut agents = Vec::with_capacity(count as usize);
    for n in first..first + count {
        let options = AgentOptions {
            request_log: log.and_then(|l| l.get(mixed_kind(n)).cloned()),
            ..AgentOptions::default()
        };
        let bind = SocketAddr::from((device_ip(n), port));
        agents.push(start_mixed_device_at(n, bind, &options).await?);
    }
    Ok(agents)
}

/// Starts `count` MIB-II agents at 127.10.0.1.. on ephemeral ports.
pub async fn start_mib2_fleet(count: u32) -> std::io::Result<Vec<SnmpAgent>> {
    start_mib2_fleet_on(count, 0).await
}

/// Starts `count` MIB-II agents at 127.10.0.1.., all on `port` (0: an ephemeral port each).
pub async fn start_mib2_fleet_on(count: u32, port: u16) -> std::io::Result<Vec<SnmpAgent>> {
    start_mib2_fleet_range(1, count, port).await
}

/// Starts MIB-II agents number `first..first + count` (see [`device_ip`]) on `port`.
pub async fn start_mib2_fleet_range(
    first: u32,
    count: u32,
    port: u16,
) -> std::io::Result<Vec<SnmpAgent>> {
    let mut agents = Vec::with_capacity(count as usize);
    for n in first..first + count {
        let data = AgentData::parse(&mib2_device(n))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let bind = SocketAddr::from((device_ip(n), port));
        agents.push(SnmpAgent::start(bind, data, AgentOptions::default()).await?);
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_digit_is_the_luhn_digit_of_a_known_imei() {
        // The IMEI example of 3GPP TS 23.003 annex B.
        assert_eq!(luhn_digit("49015420323751"), 8);
    }

    #[test]
    fn every_model_device_carries_its_own_imei_and_mac() {
        let mut seen = std::collections::HashSet::new();
        // Every model twice (MIB-II boxes carry no IMEI).
        for n in (2..=8).filter(|n| n % 4 != 1) {
            let walk = mixed_device(n);
            let (imei, mac) = (device_imei(n), device_mac(n));
            assert!(seen.insert(imei.clone()), "IMEI {imei} twice");
            let hex_imei: String = format!("{imei}\r")
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(
                walk.contains(&imei) || walk.contains(&hex_imei),
                "device {n} ({}) lacks its IMEI {imei}",
                mixed_kind(n)
            );
            assert!(
                walk.contains(&mac.replace(':', "")) || walk.contains(&mac.to_uppercase()),
                "device {n} ({}) lacks its MAC {mac}",
                mixed_kind(n)
            );
            for (recorded_imei, _) in RECORDED_IDENTITIES {
                assert!(
                    !walk.contains(recorded_imei),
                    "device {n} kept {recorded_imei}"
                );
            }
        }
    }
}
