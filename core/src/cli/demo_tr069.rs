//! The TR-069 half of `efi-poller demo`: CPEs that answer no SNMP (a Baicells ODU, a Telrad
//! CPE12300XG, ...: efi-lab's CWMP CPEs with the data models of its GenieACS documents)
//! informing a simulated ACS through this host's snooping proxy, so the drivers poll them
//! from the TR-069 cache the way they would on a network where only the ACS hears them.

use crate::config::Tr069Config;
use crate::host::Host;
use crate::tr069::proxy::Proxy;
use efi_lab::cwmp::{Acs, Cpe, DataModel};
use efi_plugin_api::Target;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The models, in the order CPEs are added: (index in efi-lab's `model_fleet`, name, the
/// driver that reads it).
const MODELS: [(usize, &str, &str); 5] = [
    (1, "Baicells ODU", "baicells-atom"),
    (4, "Telrad CPE12300XG", "telrad-cpe"),
    (3, "Telrad CPE12000SG", "telrad-cpe"),
    (0, "BEC RidgeWave 6900", "bec-ridgewave"),
    (2, "Baicells IDU", "baicells-atom"),
];

/// The address of TR-069 CPE `n` (1-based): 127.10.2.n, apart from the SNMP fleet
/// (127.10.0.x) and the IPAM lab's moved UEs (127.10.1.x).
pub fn address(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 10, 2, n as u8))
}

/// The running TR-069 lab.
pub struct Tr069Lab {
    _acs: Acs,
    proxy: Proxy,
    cpes: Vec<Cpe>,
    informed: bool,
}

/// Starts `count` CPEs (at most 250), the ACS and the proxy; `Ok(Err(why))` when the lab
/// makes no sense here (no driver that reads TR-069 is installed, or `count` is 0).
pub async fn start(host: &Host, count: u32) -> anyhow::Result<Result<Tr069Lab, String>> {
    if count == 0 {
        return Ok(Err("demo.tr069_cpes = 0".into()));
    }
    let drivers: Vec<String> = host
        .registry
        .active_drivers()
        .iter()
        .map(|p| p.name().to_owned())
        .collect();
    let models: Vec<(usize, &str)> = MODELS
        .iter()
        .filter(|(_, _, driver)| drivers.iter().any(|d| d == driver))
        .map(|(i, name, _)| (*i, *name))
        .collect();
    if models.is_empty() {
        return Ok(Err(
            "none of baicells-atom, telrad-cpe, bec-ridgewave is installed".into(),
        ));
    }
    // Every parameter, as a GenieACS provision declaring the whole tree would ask.
    let acs = Acs::start(
        "127.0.0.1:0".parse()?,
        vec!["InternetGatewayDevice.".into()],
        None,
    )
    .await?;
    let proxy = Proxy::start(
        &Tr069Config {
            listen: Some("127.0.0.1:0".parse()?),
            acs: Some(acs.addr().to_string()),
            ..Tr069Config::default()
        },
        host.runner.engines().tr069().clone(),
    )
    .await?;
    let cpes = (1..=count.min(250))
        .map(|n| {
            let (index, _) = models[(n as usize - 1) % models.len()];
            let ip = address(n).to_string();
            let fleet = efi_lab::genieacs::model_fleet([ip.as_str(); 5], "2026-01-01T00:00:00Z");
            Cpe::new(DataModel::from_genieacs(&fleet[index]), address(n))
        })
        .collect();
    let names: Vec<&str> = models
        .iter()
        .take(count as usize)
        .map(|(_, name)| *name)
        .collect();
    println!(
        "TR-069 lab: {count} CPEs without SNMP at {} .. ({}) inform an ACS at {} through the snooping proxy at {}",
        address(1),
        names.join(", "),
        acs.addr(),
        proxy.addr()
    );
    Ok(Ok(Tr069Lab {
        _acs: acs,
        proxy,
        cpes,
        informed: false,
    }))
}

impl Tr069Lab {
    /// One session per CPE (`1 BOOT` the first time, then `2 PERIODIC`); a line for each
    /// that failed.
    pub async fn inform(&mut self) -> Vec<String> {
        let events: &[&str] = if self.informed {
            &["2 PERIODIC"]
        } else {
            &["1 BOOT"]
        };
        self.informed = true;
        let proxy: SocketAddr = self.proxy.addr();
        let sessions = self.cpes.iter().map(|cpe| async move {
            cpe.session(proxy, events)
                .await
                .err()
                .map(|e| format!("TR-069 CPE {}: its session failed: {e:#}", cpe.address))
        });
        futures::future::join_all(sessions)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The CPEs to poll.
    pub fn targets(&self) -> Vec<Target> {
        self.cpes.iter().map(|c| Target::new(c.address)).collect()
    }
}
