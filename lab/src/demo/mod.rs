//! `efi-lab demo`: a whole lab on loopback — SNMP CPEs of every model, CPEs known only over
//! TR-069, Raemis, Sonar and an ACS — and the real `efi-poller run` against it, configured by
//! a `config.toml` this module writes and prints. Each cycle a UE attaches, moves or detaches
//! (Raemis pushes the event to efi-poller's webhook), the TR-069 CPEs inform their ACS through
//! efi-poller's snooping proxy, and a table shows what efi-poller polled (read from its REST
//! API) and whether Sonar matches the EPC.
//!
//! The demo drives the product only the way an operator's network would: through its
//! configuration file, its webhook, its proxy and its API. Nothing of efi-poller is linked in.

mod config;
mod report;
pub(crate) mod service;
pub(crate) mod ues;

use crate::sonar::scenario::{AccountSeed, AddressSeed, Scenario};
use crate::sonar::SonarSim;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Options of `efi-lab demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoOptions {
    /// Simulated SNMP CPEs at 127.10.0.1, 127.10.0.2, ... (MIB-II boxes, BEC RidgeWave,
    /// Baicells Atom, Telrad CPE12000SG in turn), each a UE of the simulated Raemis.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=250))]
    pub devices: u32,
    /// CPEs that answer no SNMP and report only to their ACS over TR-069, at 127.10.2.1, ...
    /// (a Baicells ODU, a Telrad CPE12300XG, ...). 0: none.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=250))]
    pub tr069_cpes: u32,
    /// Seconds between cycles; efi-poller polls every device this often.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Stop after this many cycles (default: run until Ctrl-C).
    #[arg(long)]
    pub cycles: Option<u64>,
    /// The efi-poller binary (default: the one beside this efi-lab binary).
    #[arg(long)]
    pub efi_poller: Option<PathBuf>,
    /// The plugins directory efi-poller loads (default: the efi-poller binary's directory,
    /// where `cargo build` puts the plugins).
    #[arg(long)]
    pub plugins: Option<PathBuf>,
    /// Where efi-poller serves the dashboard, REST API and webhooks; a free port is used
    /// when this one is taken.
    #[arg(long, default_value = "127.0.0.1:9630")]
    pub listen: SocketAddr,
    /// efi-poller's log filter (`[log] level`): `info` or `debug` show more of its work.
    #[arg(long, default_value = "warn")]
    pub log_level: String,
    /// Require this bearer token file on efi-poller's API and dashboard
    /// (`[server] api_token_file`).
    #[arg(long)]
    pub api_token_file: Option<PathBuf>,
    /// The SNMP community of the CPEs (`[snmp] community`).
    #[arg(long, default_value = "public")]
    pub community: String,
    /// Directory for the generated configuration and efi-poller's state (default: a
    /// temporary directory removed at the end).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// The driver plugin that reads each TR-069 CPE model, in the order CPEs are added: (index
/// in [`crate::genieacs::model_fleet`], model, driver).
pub(crate) const TR069_MODELS: [(usize, &str, &str); 5] = [
    (1, "Baicells ODU", "baicells-atom"),
    (4, "Telrad CPE12300XG", "telrad-cpe"),
    (3, "Telrad CPE12000SG", "telrad-cpe"),
    (0, "BEC RidgeWave 6900", "bec-ridgewave"),
    (2, "Baicells IDU", "baicells-atom"),
];

/// Runs the demo until `--cycles` or Ctrl-C. Fails when a device could not be polled, when
/// Sonar did not end in step with the EPC, or when efi-poller did not stop cleanly.
pub async fn run(options: DemoOptions) -> anyhow::Result<ExitCode> {
    crate::init_tls();
    let binary = match &options.efi_poller {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("efi-poller"),
    };
    anyhow::ensure!(
        binary.is_file(),
        "no efi-poller binary at {}: build it first (`cargo build --release`) or pass --efi-poller",
        binary.display()
    );
    let plugins_dir = match &options.plugins {
        Some(d) => d.clone(),
        None => binary.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let installed = service::installed_plugins(&binary, &plugins_dir)?;
    let tr069_models: Vec<(usize, &str)> = TR069_MODELS
        .iter()
        .filter(|(_, _, driver)| installed.drivers.iter().any(|d| d == driver))
        .map(|(index, model, _)| (*index, *model))
        .collect();
    let tr069_cpes = if tr069_models.is_empty() {
        if options.tr069_cpes > 0 {
            println!("TR-069 CPEs skipped: none of baicells-atom, telrad-cpe, bec-ridgewave is installed");
        }
        0
    } else {
        options.tr069_cpes
    };

    let state = match &options.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            State::Kept(dir.clone())
        }
        None => State::Temporary(tempfile::tempdir()?),
    };
    let mut lab = ues::Lab::start(&options, tr069_cpes, &tr069_models).await?;
    let listen = service::free_or_any(options.listen)?;
    let settings = config::Settings {
        plugins_dir: plugins_dir.clone(),
        state_dir: state.path().to_path_buf(),
        listen,
        tr069_listen: service::free_or_any("127.0.0.1:0".parse()?)?,
        acs: lab.acs_addr(),
        raemis_url: lab.raemis.base_url(),
        sonar_url: lab.sonar.base_url(),
        snmp_port: lab.snmp_port(),
        community: options.community.clone(),
        webhook_secret: format!("{:032x}", rand::random::<u128>()),
        interval_secs: options.interval,
        log_level: options.log_level.clone(),
        api_token_file: options.api_token_file.clone(),
    };
    let config_file = settings.write()?;
    println!(
        "efi-lab demo: {} SNMP CPEs at 127.10.0.1 .. {} and {tr069_cpes} TR-069-only CPEs at 127.10.2.x, each a UE of a simulated Raemis ({}); Sonar at {}",
        options.devices,
        crate::fleet::device_ip(options.devices),
        lab.raemis.base_url(),
        lab.sonar.graphql_url(),
    );
    println!(
        "efi-poller runs with this configuration ({}; secrets shown as ***):\n",
        config_file.display()
    );
    for line in settings.render(true).lines() {
        println!("    {line}");
    }
    println!();
    service::config_check(&binary, &config_file)?;

    let mut poller = service::Service::start(&binary, &config_file).await?;
    let api = poller.wait_ready(Duration::from_secs(60)).await?;
    lab.push_events_to(
        &format!("http://{api}/webhooks/raemis"),
        &settings.webhook_secret,
    );
    // TR-069 CPEs tell their ACS who they are before they are polled, as a CPE does when it
    // boots; only then do they attach.
    for line in lab.inform(settings.tr069_listen).await {
        println!("{line}");
    }
    for line in lab.attach_tr069_cpes().await? {
        println!("{line}");
    }
    println!(
        "dashboard: http://{api}/dashboard/ (REST API at http://{api}/api/v1/devices); Ctrl-C stops\n"
    );

    let client = report::Client::new(api, options.api_token_file.as_deref())?;
    let mut failed_total = 0usize;
    let mut cycle = 0u64;
    let mut last_verdict = String::new();
    let stopped_early = loop {
        cycle += 1;
        if cycle > 1 {
            for line in lab.churn(cycle).await? {
                println!("{line}");
            }
            for line in lab.inform(settings.tr069_listen).await {
                println!("{line}");
            }
        }
        let wait: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> =
            if cycle == 1 {
                // The first cycle waits for every CPE's first poll (identification included).
                Box::pin(client.first_polls(lab.in_use(), Duration::from_secs(120)))
            } else {
                Box::pin(tokio::time::sleep(Duration::from_secs(options.interval)))
            };
        tokio::select! {
            _ = wait => {}
            _ = crate::shutdown_signal() => break true,
            status = poller.exited() => anyhow::bail!("efi-poller stopped on its own ({status})"),
        }
        let devices = client.devices().await?;
        let table = report::Table::new(&lab.in_use(), &devices);
        failed_total += table.down;
        println!("{}", table.summary(cycle));
        print!("{}", table.render());
        last_verdict = lab.sonar_verdict();
        println!("{last_verdict}\n");
        if options.cycles.is_some_and(|n| cycle >= n) {
            break false;
        }
    };
    let in_step = if stopped_early {
        println!("stopping");
        true
    } else {
        // Pushed events of the last cycle may still be on their way into Sonar.
        let verdict = lab.wait_in_step(Duration::from_secs(30)).await;
        if verdict != last_verdict {
            println!("{verdict}");
        }
        verdict.starts_with("sonar: in step")
    };
    let status = poller.stop(Duration::from_secs(30)).await?;
    println!("efi-poller stopped ({status})");
    drop(state);
    Ok(
        if failed_total == 0 && in_step && (stopped_early || status.success()) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// The demo's state directory: the operator's, or a temporary one removed at the end.
enum State {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl State {
    fn path(&self) -> &Path {
        match self {
            State::Kept(p) => p,
            State::Temporary(t) => t.path(),
        }
    }
}

/// The demo's Sonar: the lab instance with the CPEs' subnet, and one more account so that
/// several subscriber names find their account.
fn sonar_scenario() -> Scenario {
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
    scenario
}

async fn start_sonar() -> anyhow::Result<SonarSim> {
    Ok(SonarSim::start("127.0.0.1:0".parse()?, sonar_scenario()).await?)
}
