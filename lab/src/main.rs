//! `efi-lab`: the demo (a whole lab and the real efi-poller against it), and each simulator
//! on its own on loopback for manual runs, and the soak.

use clap::{Parser, Subcommand};
use efi_lab::raemis::{PushTarget, RaemisOptions, RaemisSim, Subscriber};
use efi_lab::snmp_agent::RequestLog;
use efi_lab::sonar::scenario::Scenario;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Simulated outside systems for efi-poller, on loopback addresses only.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Simulator,
}

#[derive(Subcommand)]
enum Simulator {
    /// The demo: a whole lab on loopback (SNMP and TR-069-only CPEs of every model, Raemis,
    /// Sonar, an ACS) and the real `efi-poller run` against it, with a generated
    /// configuration it prints; a table of what efi-poller polled each cycle.
    Demo(efi_lab::demo::DemoOptions),
    /// Sonar: GraphQL API (schema-validated, stateful), rate limit, poller endpoints.
    Sonar {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18080")]
        bind: SocketAddr,
        /// Scenario file (TOML or JSON) seeding accounts, models, subnets, items; default:
        /// the built-in lab scenario.
        #[arg(long)]
        scenario: Option<PathBuf>,
    },
    /// Druid Raemis EPC: REST API (Basic auth or session cookie) and event pushes.
    Raemis {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18081")]
        bind: SocketAddr,
        /// Push attach/detach events to this URL (form-encoded POSTs).
        #[arg(long)]
        push_url: Option<String>,
    },
    /// Magma orchestrator: /magma/v1 behind mutual TLS.
    Magma {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18443")]
        bind: SocketAddr,
        /// Directory to write ca.pem and client.pem (certificate + key) into.
        #[arg(long, default_value = "efi-lab-magma-certs")]
        certs_dir: PathBuf,
    },
    /// GenieACS NBI with a device of every CPE family.
    Genieacs {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:17557")]
        bind: SocketAddr,
    },
    /// SNMP agents at 127.10.0.1, 127.10.0.2, ...: MIB-II boxes, or with --mixed the
    /// demo's mix of CPE models.
    Snmp(SnmpFleet),
    /// The fault-and-load soak: Raemis churning UEs, Sonar throttling and failing, an
    /// `efi-poller run` killed and restarted at random; prints the report and exits 1 unless
    /// Sonar ends equal to the EPC.
    Soak(efi_lab::soak::SoakOptions),
    /// The full-pipeline fleet benchmark (`bench/fleet.sh` runs it): SNMP CPEs started by
    /// `efi-lab snmp --mixed`, TR-069-only CPEs, Raemis and Sonar, and `efi-poller run`
    /// polling them all for some rounds; prints its CPU per 1,000 polls, peak RSS, round
    /// times and poll lag.
    Fleet(efi_lab::fleet_bench::FleetOptions),
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    efi_lab::init_tls();
    let running: Box<dyn std::any::Any> = match Args::parse().command {
        Simulator::Demo(options) => return efi_lab::demo::run(options).await,
        Simulator::Soak(options) => {
            let report = efi_lab::soak::run(options).await?;
            print!("{report}");
            return Ok(if report.equal() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            });
        }
        Simulator::Fleet(options) => {
            efi_lab::fleet_bench::run(options).await?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Simulator::Sonar { bind, scenario } => sonar(bind, scenario).await?,
        Simulator::Raemis { bind, push_url } => raemis(bind, push_url).await?,
        Simulator::Magma { bind, certs_dir } => magma(bind, certs_dir).await?,
        Simulator::Genieacs { bind } => genieacs(bind).await?,
        Simulator::Snmp(fleet) => snmp(fleet).await?,
    };
    println!("efi-lab running; Ctrl-C stops it");
    efi_lab::shutdown_signal().await;
    drop(running);
    Ok(std::process::ExitCode::SUCCESS)
}

/// Sonar with `scenario` (the built-in lab one by default).
async fn sonar(
    bind: SocketAddr,
    scenario: Option<PathBuf>,
) -> anyhow::Result<Box<dyn std::any::Any>> {
    let scenario = match scenario {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Scenario::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Scenario::lab(),
    };
    let tokens = scenario.tokens.join(", ");
    let key = scenario
        .poller
        .as_ref()
        .map(|p| p.api_key.clone())
        .unwrap_or_default();
    let sim = efi_lab::sonar::SonarSim::start(bind, scenario).await?;
    println!(
        "sonar graphql {} (bearer tokens: {tokens})",
        sim.graphql_url()
    );
    println!(
        "sonar poller {}/api/poller (api_key: {key})",
        sim.base_url()
    );
    Ok(Box::new(sim))
}

/// Raemis with three subscribers attached at 127.10.0.1-3, pushing to `push_url`.
async fn raemis(
    bind: SocketAddr,
    push_url: Option<String>,
) -> anyhow::Result<Box<dyn std::any::Any>> {
    let sim = RaemisSim::start(bind, RaemisOptions::default()).await?;
    for (i, name) in ["Jane Doe", "Acme Farms LLC", "John Smith"]
        .iter()
        .enumerate()
    {
        let n = i + 1;
        sim.add_subscriber(Subscriber::new(
            &format!("00101000000000{n}"),
            &format!("35000000000000{n}"),
            &format!("1555000000{n}"),
            name,
        ));
    }
    if let Some(url) = push_url {
        sim.set_push_target(Some(PushTarget {
            url,
            basic: None,
            headers: vec![],
        }));
    }
    for n in 1..=3 {
        sim.attach(
            &format!("00101000000000{n}"),
            efi_lab::fleet::device_ip(n).into(),
            "internet",
        )
        .await?;
    }
    println!("raemis {} (basic auth raemis / raemis-lab)", sim.base_url());
    Ok(Box::new(sim))
}

/// Magma with one network and one attached subscriber; its certificates in `certs_dir`.
async fn magma(bind: SocketAddr, certs_dir: PathBuf) -> anyhow::Result<Box<dyn std::any::Any>> {
    let sim = efi_lab::magma::MagmaSim::start(bind).await?;
    sim.add_network("lab");
    sim.add_subscriber("lab", "001010000000001", "Jane Doe", "15550000001");
    sim.attach(
        "lab",
        "001010000000001",
        "internet",
        efi_lab::fleet::device_ip(1).into(),
        1_700_000_000,
    );
    std::fs::create_dir_all(&certs_dir)?;
    std::fs::write(certs_dir.join("ca.pem"), &sim.pki().ca_pem)?;
    std::fs::write(
        certs_dir.join("client.pem"),
        sim.pki().client("admin_operator").bundle_pem(),
    )?;
    println!(
        "magma {} (mTLS: trust {0}/ca.pem, present {0}/client.pem)",
        certs_dir.display()
    );
    println!("magma api {}", sim.api_url());
    Ok(Box::new(sim))
}

/// GenieACS with a device of every CPE family at 127.10.0.1-5.
async fn genieacs(bind: SocketAddr) -> anyhow::Result<Box<dyn std::any::Any>> {
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let fleet = efi_lab::genieacs::model_fleet(
        [
            "127.10.0.1",
            "127.10.0.2",
            "127.10.0.3",
            "127.10.0.4",
            "127.10.0.5",
        ],
        &now,
    );
    let sim = efi_lab::genieacs::GenieAcsSim::start(bind, fleet).await?;
    println!("genieacs nbi {}/devices/", sim.base_url());
    Ok(Box::new(sim))
}

/// `devices` MIB-II agents from device number `first`, all on `port`.
/// What `efi-lab snmp` starts.
#[derive(clap::Args)]
struct SnmpFleet {
    /// How many devices.
    #[arg(long, default_value_t = 4)]
    devices: u32,
    /// UDP port every device answers on (default: an ephemeral port each).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Number of the first device (device n is at 127.10.n/256.n%256): split a fleet
    /// larger than the open-files limit across processes.
    #[arg(long, default_value_t = 1)]
    first: u32,
    /// Write the devices' addresses to this file, one `IP PORT` per line.
    #[arg(long)]
    targets: Option<std::path::PathBuf>,
    /// The mixed fleet instead of MIB-II boxes: device n is a MIB-II box or one of the
    /// vendor CPE models (BEC, Baicells, Telrad) in turn, as in the demo.
    #[arg(long)]
    mixed: bool,
    /// With --mixed: at exit (Ctrl-C or SIGTERM), write what managers asked each kind of
    /// device for to this JSON file (GET OIDs, walked subtrees, objects returned, with
    /// their snmp_exporter types): `bench/fleet.sh` builds snmp_exporter's module from it.
    #[arg(long, requires = "mixed")]
    requests: Option<std::path::PathBuf>,
}

/// Running agents; writes their request log (when asked to) when dropped at exit.
struct RunningFleet {
    agents: Vec<efi_lab::snmp_agent::SnmpAgent>,
    log: Option<(PathBuf, BTreeMap<&'static str, Arc<RequestLog>>)>,
}

impl Drop for RunningFleet {
    fn drop(&mut self) {
        if let Some((path, logs)) = &self.log {
            // Each kind's log, and the agents of that kind (`IP:PORT`).
            let mut seen: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
            for (kind, log) in logs {
                let agents: Vec<String> = self
                    .agents
                    .iter()
                    .filter(|a| {
                        let std::net::IpAddr::V4(ip) = a.addr().ip() else {
                            return false;
                        };
                        let [_, _, x, y] = ip.octets();
                        efi_lab::fleet::mixed_kind(u32::from(x) << 8 | u32::from(y)) == *kind
                    })
                    .map(|a| a.addr().to_string())
                    .collect();
                let mut value = serde_json::to_value(log.seen()).unwrap_or_default();
                value["agents"] = agents.into();
                seen.insert(kind, value);
            }
            let text = serde_json::to_string_pretty(&seen).unwrap_or_default();
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("{}: {e}", path.display());
            }
        }
        self.agents.clear();
    }
}

async fn snmp(fleet: SnmpFleet) -> anyhow::Result<Box<dyn std::any::Any>> {
    let SnmpFleet {
        devices,
        port,
        first,
        targets,
        mixed,
        requests,
    } = fleet;
    let logs: BTreeMap<&'static str, Arc<RequestLog>> = (first..first + devices.min(4))
        .map(|n| {
            (
                efi_lab::fleet::mixed_kind(n),
                Arc::new(RequestLog::default()),
            )
        })
        .collect();
    let agents = if mixed {
        efi_lab::fleet::start_mixed_fleet_range(
            first,
            devices,
            port,
            requests.is_some().then_some(&logs),
        )
        .await?
    } else {
        efi_lab::fleet::start_mib2_fleet_range(first, devices, port).await?
    };
    let list: String = agents
        .iter()
        .map(|a| format!("{} {}\n", a.addr().ip(), a.addr().port()))
        .collect();
    if let Some(path) = targets {
        std::fs::write(&path, &list).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if devices <= 20 {
        for agent in &agents {
            println!("snmp v2c community=public {}", agent.addr());
        }
    } else {
        println!(
            "snmp v2c community=public: {devices} devices from {}",
            agents[0].addr()
        );
    }
    Ok(Box::new(RunningFleet {
        agents,
        log: requests.map(|path| (path, logs)),
    }))
}
