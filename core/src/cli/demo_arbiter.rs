//! The IPAM half of `efi-poller demo`: a simulated Raemis and Sonar on loopback, the raemis and
//! sonar plugins, and a scripted churn of UEs (attach, detach, move) delivered by push and
//! reconciled by pull, with what the arbiter does printed as it happens.

use crate::arbiter::{Arbiter, CycleReport};
use crate::config::{
    ArbiterConfig, Config, CredentialConfig, Secret, SinkConfig, SourceConfig, WebhookConfig,
};
use crate::host::Host;
use efi_lab::raemis::{PushTarget, RaemisOptions, RaemisSim, Subscriber};
use efi_lab::sonar::scenario::{AccountSeed, AddressSeed, Scenario};
use efi_lab::sonar::SonarSim;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// Names the demo's subscribers carry in Raemis: some match one Sonar account, one matches
/// none, one is marked "do not link".
const NAMES: [&str; 6] = [
    "Jane Doe",
    "Acme Farms LLC",
    "John Smith",
    "Lab Spare",
    "_bench unit",
    "Ridge Cafe",
];

/// The running IPAM lab.
pub struct ArbiterLab {
    /// The simulated Sonar.
    pub sonar: SonarSim,
    /// The simulated Raemis.
    pub raemis: RaemisSim,
    /// The arbiter.
    pub arbiter: Arc<Arbiter>,
    devices: u32,
    attached: Vec<bool>,
    moved: Vec<bool>,
    _server: tokio::task::JoinHandle<()>,
    _state: tempfile::TempDir,
}

fn imsi(n: u32) -> String {
    format!("0010100000000{n:02}")
}

fn home_ip(n: u32) -> IpAddr {
    IpAddr::V4(efi_lab::fleet::device_ip(n))
}

fn moved_ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 10, 1, n as u8))
}

fn table(entries: &[(&str, toml::Value)]) -> toml::Table {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Starts the IPAM lab, or says why it cannot (the raemis or sonar plugin is missing).
pub async fn start(config: &Config, devices: u32) -> anyhow::Result<Result<ArbiterLab, String>> {
    let mut scenario = Scenario::lab_on_loopback();
    scenario.accounts.push(AccountSeed {
        id: 1005,
        name: "Ridge Cafe".into(),
        archived: false,
        addresses: vec![AddressSeed {
            id: 2005,
            line1: "3 Main Street".into(),
            city: "Springfield".into(),
            zip: "12347".into(),
            serviceable: true,
        }],
    });
    let sonar = SonarSim::start("127.0.0.1:0".parse()?, scenario).await?;
    let raemis = RaemisSim::start("127.0.0.1:0".parse()?, RaemisOptions::default()).await?;
    for n in 1..=devices {
        let name = NAMES[(n as usize - 1) % NAMES.len()];
        raemis.add_subscriber(Subscriber::new(
            &imsi(n),
            &format!("3500000000{n:05}"),
            &format!("1555000{n:04}"),
            name,
        ));
    }
    let state = tempfile::tempdir()?;
    let secret = format!("{:032x}", rand_u128());
    let mut cfg = config.clone();
    cfg.credentials.insert(
        "lab-raemis".into(),
        CredentialConfig {
            username: Some("raemis".into()),
            password: Some(Secret::new("raemis-lab")),
            ..CredentialConfig::default()
        },
    );
    cfg.credentials.insert(
        "lab-sonar".into(),
        CredentialConfig {
            bearer: Some(Secret::new("lab-token")),
            ..CredentialConfig::default()
        },
    );
    cfg.sources = vec![SourceConfig {
        name: "raemis-lab".into(),
        plugin: "raemis".into(),
        settings: table(&[
            ("url", toml::Value::String(raemis.base_url())),
            ("credentials", toml::Value::String("lab-raemis".into())),
        ]),
        webhook: Some(WebhookConfig {
            secret_header: Some("x-efi-secret".into()),
            secret: Some(Secret::new(secret.clone())),
            allow_from: vec!["127.0.0.1".parse()?],
            ..WebhookConfig::default()
        }),
    }];
    cfg.sink = Some(SinkConfig {
        plugin: "sonar".into(),
        settings: table(&[
            ("url", toml::Value::String(sonar.base_url())),
            ("credentials", toml::Value::String("lab-sonar".into())),
            (
                "default_model",
                toml::Value::String("RidgeWave 6900".into()),
            ),
        ]),
    });
    cfg.arbiter = ArbiterConfig {
        managed_subnets: vec!["127.10.0.0/16".into()],
        ..ArbiterConfig::default()
    };
    // The outbox and the push journal, in a store of the lab's own (the demo's device store
    // is opened later, once the lab's fleet is known).
    let store = crate::store::Store::open(&crate::config::StoreConfig {
        url: Secret::new(state.path().join("ipam.db").display().to_string()),
        ..Default::default()
    })
    .await?;
    let shared = Arc::new(cfg.clone());
    let host = Arc::new(tokio::task::spawn_blocking(move || Host::new(cfg)).await?);
    let arbiter = match Arbiter::new(host, &store) {
        Ok(a) => Arc::new(a),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let (addr, server) = crate::server::serve(
        crate::server::router(arbiter.clone(), shared, Default::default()),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    // Half the UEs are attached before the first pull; later changes are pushed.
    let mut attached = vec![false; devices as usize + 1];
    for n in 1..=devices.div_ceil(2) {
        raemis.attach(&imsi(n), home_ip(n), "internet").await?;
        attached[n as usize] = true;
    }
    raemis.set_push_target(Some(PushTarget {
        url: format!("http://{addr}/webhooks/raemis-lab"),
        basic: None,
        headers: vec![("x-efi-secret".into(), secret)],
    }));
    println!(
        "IPAM lab: Raemis {} pushing to http://{addr}/webhooks/raemis-lab, Sonar {} (managed subnet 127.10.0.0/16)",
        raemis.base_url(),
        sonar.graphql_url()
    );
    Ok(Ok(ArbiterLab {
        sonar,
        raemis,
        arbiter,
        devices,
        attached,
        moved: vec![false; devices as usize + 1],
        _server: server,
        _state: state,
    }))
}

impl ArbiterLab {
    /// One demo cycle: a UE event (pushed), then the arbiter (a full pull every third cycle).
    /// Returns the lines to print.
    pub async fn step(&mut self, cycle: u64) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        if cycle > 1 {
            let n = ((cycle as u32 - 2) % self.devices) + 1;
            let i = n as usize;
            let line = match (self.attached[i], self.moved[i], cycle % 3) {
                (false, _, _) => {
                    self.raemis.attach(&imsi(n), home_ip(n), "internet").await?;
                    self.attached[i] = true;
                    format!("raemis: UE {} attached at {} (pushed)", imsi(n), home_ip(n))
                }
                (true, false, 0) => {
                    self.raemis
                        .attach(&imsi(n), moved_ip(n), "internet")
                        .await?;
                    self.moved[i] = true;
                    format!("raemis: UE {} moved to {} (pushed)", imsi(n), moved_ip(n))
                }
                (true, _, _) => {
                    self.raemis.detach(&imsi(n)).await?;
                    self.attached[i] = false;
                    self.moved[i] = false;
                    format!("raemis: UE {} detached (pushed)", imsi(n))
                }
            };
            lines.push(line);
        }
        let full = cycle == 1 || cycle % 3 == 0;
        let result = if full {
            self.arbiter.cycle().await
        } else {
            self.arbiter.event_cycle().await
        };
        match result {
            Ok(report) => lines.extend(self.describe(&report, full)),
            Err(e) => lines.push(format!("arbiter: cycle failed: {e}")),
        }
        Ok(lines)
    }

    fn describe(&self, report: &CycleReport, full: bool) -> Vec<String> {
        let s = &report.plan.stats;
        let soft = self
            .sonar
            .entities("IpAssignment")
            .into_iter()
            .filter(|a| a["soft"] == true)
            .count();
        let mut lines = vec![format!(
            "sonar: {} ({}): +{} assignments, -{} assignments ({} moves), +{} items, {} links, {} kept; applied {}, failed {}; {soft} soft assignments now",
            if full { "full pull" } else { "pushed events" },
            report.plan.changes.plan_id,
            s.assignments_created,
            s.assignments_deleted,
            s.moves,
            s.items_created,
            s.items_linked,
            s.kept,
            report.applied,
            report.failed.len()
        )];
        for w in &report.plan.warnings {
            lines.push(format!("  note: {w}"));
        }
        for (id, e) in &report.failed {
            lines.push(format!("  failed {id}: {e}"));
        }
        lines
    }
}

fn rand_u128() -> u128 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    t ^ (u128::from(std::process::id()) << 64)
}
