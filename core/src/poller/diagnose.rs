//! Why a device gave no SNMP answer, for a person at `efi-poller poll`: a wrong community
//! and a dead device both look like silence to SNMP, so two more questions are asked.
//!
//! 1. One SNMP request over a *connected* UDP socket: the kernel reports an ICMP port
//!    unreachable on it, which says "nothing listens there" (SNMP off, or another port).
//! 2. A ping: a device that answers ping but not SNMP is up, and refuses or ignores this
//!    host's community or user (or an ACL on the device drops this host).

use crate::engines::Engines;
use efi_plugin_api::Target;
use std::net::SocketAddr;
use std::time::Duration;

/// A GET of sysDescr.0 as v2c `public`: any well-formed request draws the port-unreachable
/// of a closed port; the community does not matter.
fn probe() -> Vec<u8> {
    use crate::engines::snmp_mux::{encode_request, GET};
    encode_request(
        1,
        b"public",
        GET,
        0x1efe_5a11,
        (0, 0),
        &[&[1, 3, 6, 1, 2, 1, 1, 1, 0]],
    )
}

/// One sentence on why `target` gave no SNMP answer.
pub async fn no_snmp_answer(engines: &Engines, target: &Target) -> String {
    let agent = SocketAddr::new(target.address, target.snmp_port);
    match port_unreachable(agent).await {
        Ok(true) => {
            return format!(
                "nothing listens for SNMP at {agent} (the device answered ICMP port unreachable): SNMP is off, or on another port (--port)"
            )
        }
        Ok(false) => {}
        Err(e) => return format!("cannot reach {agent}: {e}"),
    }
    match engines.icmp().probe(target.address, 2).await {
        Ok(stats) if stats.received() > 0 => format!(
            "{} answers ping but not SNMP: its community or SNMPv3 user is not one tried (set the group's [[poller.groups.snmp]], or try --community), or an ACL on it drops this host",
            target.address
        ),
        Ok(_) => format!(
            "{} answers neither SNMP nor ping: it is down, or unreachable from this host",
            target.address
        ),
        Err(e) => format!("{} answers no SNMP, and ping could not be tried: {}", target.address, e.message),
    }
}

/// True when `agent` answers a request with ICMP port unreachable.
async fn port_unreachable(agent: SocketAddr) -> std::io::Result<bool> {
    let local: SocketAddr = if agent.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(agent).await?;
    let mut buf = [0u8; 1500];
    for _ in 0..2 {
        match socket.send(&probe()).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(true),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        match tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(true),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::HostUnreachable => return Err(e),
            // An answer (whatever the community), or silence.
            Ok(_) => return Ok(false),
            Err(_) => {}
        }
    }
    Ok(false)
}
