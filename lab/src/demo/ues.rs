//! The demo's network: the SNMP CPEs and the TR-069-only CPEs, each a UE of the simulated
//! Raemis with a subscriber name (some match one Sonar account, one matches none, one is
//! marked "do not link"), the ACS the TR-069 CPEs inform, and the script of attaches, moves
//! and detaches one cycle after another.

use super::DemoOptions;
use crate::cwmp::{Acs, Cpe, DataModel};
use crate::raemis::{PushTarget, RaemisOptions, RaemisSim, Subscriber};
use crate::snmp_agent::{AgentOptions, SnmpAgent};
use crate::sonar::SonarSim;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Subscriber names, in turn.
const NAMES: [&str; 6] = [
    "Jane Doe",
    "Acme Farms LLC",
    "John Smith",
    "Lab Spare",
    "_bench unit",
    "Ridge Cafe",
];

/// UE numbers of the TR-069 CPEs start here, apart from the SNMP CPEs' 1..=250.
const TR069_UE: u32 = 1000;

fn imsi(ue: u32) -> String {
    format!("00101{ue:010}")
}

/// The IMEI the EPC reports for SNMP CPE `ue`: the lab device's own (it answers with the
/// same one).
fn imei(ue: u32) -> String {
    crate::fleet::device_imei(ue)
}

/// TR-069 CPE `n`'s data model with an IMEI and serial number of its own (its model's type
/// allocation code kept), and that IMEI, which the EPC reports too.
pub(crate) fn personalise(mut model: DataModel, n: u32) -> (DataModel, String) {
    let mut own = None;
    for p in model
        .params
        .iter_mut()
        .filter(|p| p.path.ends_with(".IMEI"))
    {
        let recorded = p.value.trim_end_matches('\r');
        let Some(tac) = recorded.get(..8) else {
            continue;
        };
        let imei = crate::fleet::imei(tac, 900_000 + n);
        p.value = p.value.replace(recorded, &imei);
        own = Some(imei);
    }
    model.serial = format!("{}-{n}", model.serial);
    let imei = own.unwrap_or_else(|| crate::fleet::imei("35000002", 900_000 + n));
    (model, imei)
}

/// Where SNMP CPE `n` attaches first: its own address, 127.10.0.n.
fn home_ip(n: u32) -> IpAddr {
    IpAddr::V4(crate::fleet::device_ip(n))
}

/// Where SNMP CPE `n` moves to: 127.10.1.n.
fn moved_ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 10, 1, n as u8))
}

/// TR-069 CPE `n` (1-based): 127.10.2.n.
fn tr069_ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 10, 2, n as u8))
}

/// The running network.
pub struct Lab {
    pub sonar: SonarSim,
    pub raemis: RaemisSim,
    agents: Vec<SnmpAgent>,
    agent_options: AgentOptions,
    /// SNMP CPE `n` → its address while attached.
    attached: BTreeMap<u32, IpAddr>,
    /// The agents of CPEs that moved, at their new address.
    moved: BTreeMap<u32, SnmpAgent>,
    acs: Option<Acs>,
    cpes: Vec<Cpe>,
    /// The IMEI of each TR-069 CPE, as it and the EPC report it.
    tr069_imeis: Vec<String>,
    informed: bool,
    devices: u32,
}

impl Lab {
    /// Starts Sonar, Raemis (every CPE a subscriber; every SNMP CPE attached), the SNMP
    /// CPEs on one port, and the ACS and TR-069 CPEs when `tr069_cpes` > 0.
    pub async fn start(
        options: &DemoOptions,
        tr069_cpes: u32,
        tr069_models: &[(usize, &str)],
    ) -> anyhow::Result<Lab> {
        let sonar = super::start_sonar().await?;
        let raemis = RaemisSim::start("127.0.0.1:0".parse()?, RaemisOptions::default()).await?;
        let agent_options = AgentOptions {
            community: options.community.clone(),
            ..AgentOptions::default()
        };
        let agents =
            crate::fleet::start_mixed_fleet_on_one_port_with(options.devices, &agent_options)
                .await?;
        let (acs, cpes) = if tr069_cpes > 0 {
            // Every parameter, as a GenieACS provision declaring the whole tree would ask.
            let acs = Acs::start(
                "127.0.0.1:0".parse()?,
                vec!["InternetGatewayDevice.".into()],
                None,
            )
            .await?;
            let cpes = (1..=tr069_cpes)
                .map(|n| {
                    let (index, _) = tr069_models[(n as usize - 1) % tr069_models.len()];
                    let ip = tr069_ip(n).to_string();
                    let fleet =
                        crate::genieacs::model_fleet([ip.as_str(); 5], "2026-01-01T00:00:00Z");
                    let (model, imei) = personalise(DataModel::from_genieacs(&fleet[index]), n);
                    (Cpe::new(model, tr069_ip(n)), imei)
                })
                .collect();
            (Some(acs), cpes)
        } else {
            (None, Vec::new())
        };
        let (cpes, tr069_imeis): (Vec<Cpe>, Vec<String>) = cpes.into_iter().unzip();
        let ues = (1..=options.devices).map(|n| (n, imei(n))).chain(
            (1..=tr069_cpes)
                .zip(tr069_imeis.iter().cloned())
                .map(|(n, imei)| (TR069_UE + n, imei)),
        );
        for (i, (ue, imei)) in ues.enumerate() {
            raemis.add_subscriber(Subscriber::new(
                &imsi(ue),
                &imei,
                &format!("1555{ue:07}"),
                NAMES[i % NAMES.len()],
            ));
        }
        let mut attached = BTreeMap::new();
        for n in 1..=options.devices {
            raemis.attach(&imsi(n), home_ip(n), "internet").await?;
            attached.insert(n, home_ip(n));
        }
        Ok(Lab {
            sonar,
            raemis,
            agents,
            agent_options,
            attached,
            moved: BTreeMap::new(),
            acs,
            cpes,
            tr069_imeis,
            informed: false,
            devices: options.devices,
        })
    }

    /// The port every SNMP CPE answers on.
    pub fn snmp_port(&self) -> u16 {
        self.agents[0].addr().port()
    }

    /// The ACS, when there are TR-069 CPEs.
    pub fn acs_addr(&self) -> Option<SocketAddr> {
        self.acs.as_ref().map(Acs::addr)
    }

    /// From now on Raemis pushes every event to `url` with the webhook's shared secret.
    pub fn push_events_to(&self, url: &str, secret: &str) {
        self.raemis.set_push_target(Some(PushTarget {
            url: url.to_owned(),
            basic: None,
            headers: vec![("x-efi-secret".into(), secret.to_owned())],
        }));
    }

    /// One CWMP session per TR-069 CPE through the proxy at `proxy` (`1 BOOT` the first
    /// time, then `2 PERIODIC`); a line for each that failed.
    pub async fn inform(&mut self, proxy: SocketAddr) -> Vec<String> {
        let events: &[&str] = if self.informed {
            &["2 PERIODIC"]
        } else {
            &["1 BOOT"]
        };
        self.informed = true;
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

    /// Attaches the TR-069 CPEs' UEs (pushed to efi-poller).
    pub async fn attach_tr069_cpes(&mut self) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        for n in 1..=self.cpes.len() as u32 {
            self.raemis
                .attach(&imsi(TR069_UE + n), tr069_ip(n), "internet")
                .await?;
            lines.push(format!(
                "raemis: UE {} (a CPE known only over TR-069) attached at {} (pushed)",
                imsi(TR069_UE + n),
                tr069_ip(n)
            ));
        }
        Ok(lines)
    }

    /// Every address the EPC has in use.
    pub fn in_use(&self) -> Vec<IpAddr> {
        self.raemis
            .sessions()
            .iter()
            .filter_map(|s| s.ip.parse().ok())
            .collect::<BTreeSet<IpAddr>>()
            .into_iter()
            .collect()
    }

    /// The event of `cycle` (from 2 on), one SNMP CPE after another: a detached UE
    /// attaches at its own address; an attached one moves (every third cycle, once) or
    /// detaches. A CPE that moves answers SNMP at its new address.
    pub async fn churn(&mut self, cycle: u64) -> anyhow::Result<Vec<String>> {
        let n = ((cycle - 2) % u64::from(self.devices)) as u32 + 1;
        let line = match self.attached.get(&n).copied() {
            None => {
                self.raemis.attach(&imsi(n), home_ip(n), "internet").await?;
                self.attached.insert(n, home_ip(n));
                format!("raemis: UE {} attached at {} (pushed)", imsi(n), home_ip(n))
            }
            Some(ip) if ip == home_ip(n) && cycle % 3 == 0 => {
                let bind = SocketAddr::new(moved_ip(n), self.snmp_port());
                let agent =
                    crate::fleet::start_mixed_device_at(n, bind, &self.agent_options).await?;
                self.moved.insert(n, agent);
                self.raemis
                    .attach(&imsi(n), moved_ip(n), "internet")
                    .await?;
                self.attached.insert(n, moved_ip(n));
                format!("raemis: UE {} moved to {} (pushed)", imsi(n), moved_ip(n))
            }
            Some(_) => {
                self.raemis.detach(&imsi(n)).await?;
                self.attached.remove(&n);
                self.moved.remove(&n);
                format!("raemis: UE {} detached (pushed)", imsi(n))
            }
        };
        Ok(vec![line])
    }

    fn imei_of_imsi(&self) -> BTreeMap<String, String> {
        (1..=self.devices)
            .map(|ue| (imsi(ue), imei(ue)))
            .chain(
                (1..=self.cpes.len() as u32)
                    .zip(&self.tr069_imeis)
                    .map(|(n, imei)| (imsi(TR069_UE + n), imei.clone())),
            )
            .collect()
    }

    /// Whether Sonar holds exactly the EPC's sessions, each on its own CPE's item.
    pub fn sonar_verdict(&self) -> String {
        let epc = crate::compare::epc_truth(&self.raemis, &self.imei_of_imsi());
        let sonar = crate::compare::sonar_truth(&self.sonar, "127.10.");
        let differences = crate::compare::differences(&epc, &sonar);
        if differences.is_empty() {
            format!(
                "sonar: in step with the EPC: {} soft assignments, each on its own CPE's inventory item",
                sonar.len()
            )
        } else {
            format!(
                "sonar: not yet in step with the EPC ({} differences): {}",
                differences.len(),
                differences.join("; ")
            )
        }
    }

    /// Waits (up to `within`) until Sonar matches the EPC; the last verdict.
    pub async fn wait_in_step(&self, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let verdict = self.sonar_verdict();
            if verdict.starts_with("sonar: in step") || tokio::time::Instant::now() >= deadline {
                return verdict;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
