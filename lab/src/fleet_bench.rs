//! `efi-lab fleet`: the full-pipeline fleet benchmark. A running mixed fleet of SNMP CPEs
//! (started apart, by `efi-lab snmp --mixed`), TR-069-only CPEs informing through the
//! proxy, each a UE of a simulated Raemis, a simulated Sonar, and the real `efi-poller run`
//! polling them for a number of rounds (scheduler, identification, vendor drivers through the
//! ABI, store writes, `/metrics` scraped once a second). Prints the host's CPU per 1,000
//! device polls, peak RSS, each round's wall time and the poll lag; figures, never verdicts.

use crate::cwmp::{Acs, Cpe, DataModel};
use crate::raemis::{RaemisOptions, RaemisSim, Subscriber};
use crate::scrape;
use crate::sonar::scenario::{Scenario, SubnetSeed};
use crate::sonar::SonarSim;
use anyhow::Context as _;
use futures::StreamExt as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of `efi-lab fleet`.
#[derive(clap::Args, Debug)]
pub struct FleetOptions {
    /// The SNMP CPEs, one `IP PORT` per line (as `efi-lab snmp --mixed --targets` writes
    /// them; device n at 127.10.n/256.n%256, all on one port).
    #[arg(long)]
    pub targets: PathBuf,
    /// CPEs that answer no SNMP and report only over TR-069 (through efi-poller's proxy),
    /// at 127.12.0.1, ...
    #[arg(long, default_value_t = 0)]
    pub tr069_cpes: u32,
    /// Poll rounds to measure: the first also carries the initial Sonar sync; the later
    /// ones are the steady state.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// `[poller] interval_secs`: seconds between two polls of a device.
    #[arg(long, default_value_t = 60)]
    pub interval: u64,
    /// `[poller] concurrency`: polls in flight at most.
    #[arg(long, default_value_t = 256)]
    pub concurrency: u32,
    /// The efi-poller binary (default: the one beside this efi-lab binary).
    #[arg(long)]
    pub efi_poller: Option<PathBuf>,
    /// The plugins directory (default: the efi-poller binary's directory).
    #[arg(long)]
    pub plugins: Option<PathBuf>,
    /// Also write the figures as one JSON object to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// TR-069 CPE `n` (1-based): 127.12.x.y.
fn tr069_ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 12, (n >> 8) as u8, (n & 0xff) as u8))
}

fn imsi(ue: u32) -> String {
    format!("00102{ue:010}")
}

/// UE numbers of the TR-069 CPEs start here, above any SNMP device number (at most 65,535).
const TR069_UE: u32 = 100_000;

/// The lab device number of an SNMP CPE address (127.10.x.y → x·256 + y).
fn device_number(ip: Ipv4Addr) -> Option<u32> {
    let [a, b, x, y] = ip.octets();
    (a == 127 && b == 10).then_some(u32::from(x) << 8 | u32::from(y))
}

/// The SNMP CPEs of the targets file: device numbers and their common port.
fn read_targets(path: &Path) -> anyhow::Result<(Vec<u32>, u16)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut devices = Vec::new();
    let mut port = None;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut parts = line.split_whitespace();
        let parsed = (|| {
            let ip: Ipv4Addr = parts.next()?.parse().ok()?;
            let p: u16 = parts.next()?.parse().ok()?;
            Some((device_number(ip)?, p))
        })();
        let (n, p) = parsed.with_context(|| {
            format!(
                "{} line {}: expected `127.10.x.y PORT`, found {line:?}",
                path.display(),
                i + 1
            )
        })?;
        anyhow::ensure!(
            port.is_none_or(|q| q == p),
            "{} line {}: every CPE must answer on one port",
            path.display(),
            i + 1
        );
        port = Some(p);
        devices.push(n);
    }
    let port = port.with_context(|| format!("{}: no CPEs", path.display()))?;
    Ok((devices, port))
}

/// What is read of the host at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    at: Option<Instant>,
    /// User + system CPU seconds so far.
    cpu_s: f64,
    /// Device polls finished so far (`efi_polls_total`, every result).
    polls: u64,
    /// `efi_poll_lag_seconds`.
    lag_s: f64,
    /// Resident set size now, in MB.
    rss_mb: f64,
    /// `efi_store_pending_writes`: device states polled and not yet in the store.
    pending_writes: f64,
}

/// CPU seconds (user + system) of process `pid` so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from the closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf with a valid name has no memory effects.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / per_second)
}

/// Peak resident set size of process `pid`, in MB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmHWM:")
}

/// Resident set size of process `pid` now, in MB.
fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

/// A `kB` line of `/proc/<pid>/status`, in MB.
fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds the efi-poller process has used so far.
fn host_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    cpu_seconds(pid).context("efi-poller's /proc entry is gone")
}

/// The text of a `/metrics` page.
async fn scrape_page(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    Ok(client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("scraping {url}"))?
        .text()
        .await?)
}

/// A full scrape, every device's gauges rendered.
async fn full_scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let page = scrape_page(client, url).await?;
    anyhow::ensure!(
        page.contains("efi_device_up"),
        "{url} has no per-device gauges"
    );
    Ok(())
}

async fn sample(client: &reqwest::Client, url: &str, pid: u32) -> anyhow::Result<Sample> {
    let page = scrape_page(client, url).await?;
    Ok(Sample {
        at: Some(Instant::now()),
        cpu_s: host_cpu_seconds(pid)?,
        polls: scrape::sum(&page, "efi_polls_total") as u64,
        lag_s: scrape::sum(&page, "efi_poll_lag_seconds"),
        rss_mb: rss_mb(pid).unwrap_or(0.0),
        pending_writes: scrape::sum(&page, "efi_store_pending_writes"),
    })
}

/// One measured round.
#[derive(Debug, serde::Serialize)]
struct Round {
    round: u32,
    polls: u64,
    wall_s: f64,
    cpu_s: f64,
    cpu_ms_per_1000_polls: f64,
    max_lag_s: f64,
    /// Resident set size at the round's end, in MB.
    rss_mb: f64,
    /// Device states not yet written to the store at the round's end.
    pending_writes: f64,
}

/// The benchmark's result.
#[derive(Debug, serde::Serialize)]
struct Figures {
    snmp_cpes: usize,
    tr069_cpes: u32,
    interval_s: u64,
    concurrency: u32,
    rounds: Vec<Round>,
    /// Over the steady rounds (all rounds when there is only one).
    steady_cpu_ms_per_1000_polls: f64,
    peak_rss_mb: f64,
    polls_failed: u64,
    polls_by_result: std::collections::BTreeMap<String, u64>,
    /// Mean wall time of one poll, by driver, in ms.
    mean_poll_ms: std::collections::BTreeMap<String, f64>,
    /// CPU the host spends on one full `/metrics` scrape, in ms.
    full_scrape_cpu_ms: f64,
    /// Seconds from SIGTERM to exit (systemd waits 90 s by default).
    stop_s: f64,
}

/// Runs the benchmark; prints the table (and writes `--json`).
pub async fn run(options: FleetOptions) -> anyhow::Result<()> {
    crate::init_tls();
    let binary = match &options.efi_poller {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("efi-poller"),
    };
    let plugins_dir = match &options.plugins {
        Some(d) => d.clone(),
        None => binary.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let (devices, snmp_port) = read_targets(&options.targets)?;
    let total = devices.len() as u64 + u64::from(options.tr069_cpes);

    let mut scenario = Scenario::lab_on_loopback();
    scenario.rate_limit_per_minute = Some(1_000_000);
    scenario.subnets.push(SubnetSeed {
        id: 412,
        subnet: "127.12.0.0/16".into(),
        name: "LTE UEs (TR-069 fleet)".into(),
        subnet_type: "ACCOUNT".into(),
    });
    let sonar = SonarSim::start("127.0.0.1:0".parse()?, scenario).await?;
    let raemis = RaemisSim::start("127.0.0.1:0".parse()?, RaemisOptions::default()).await?;
    for &n in &devices {
        raemis.add_subscriber(Subscriber::new(
            &imsi(n),
            &crate::fleet::device_imei(n),
            "",
            "Jane Doe",
        ));
        raemis
            .attach(&imsi(n), crate::fleet::device_ip(n).into(), "internet")
            .await?;
    }
    let (acs, cpes) = tr069_fleet(options.tr069_cpes, &raemis).await?;

    let state = tempfile::tempdir()?;
    let listen = crate::demo::service::free_or_any("127.0.0.1:0".parse()?)?;
    let proxy = crate::demo::service::free_or_any("127.0.0.1:0".parse()?)?;
    let config = state.path().join("config.toml");
    std::fs::write(
        &config,
        render_config(&ConfigInputs {
            options: &options,
            plugins_dir: &plugins_dir,
            state: state.path(),
            listen,
            proxy,
            acs: acs.as_ref().map(Acs::addr),
            snmp_port,
            raemis: &raemis,
            sonar: &sonar,
        }),
    )?;
    println!(
        "fleet: {} SNMP CPEs (port {snmp_port}), {} TR-069-only CPEs, {} rounds of {} s, {} polls in flight",
        devices.len(),
        options.tr069_cpes,
        options.rounds,
        options.interval,
        options.concurrency
    );
    let mut host = crate::demo::service::Service::start(&binary, &config).await?;
    let api = host.wait_ready(Duration::from_secs(120)).await?;
    let pid = host.pid().context("efi-poller has no pid")?;
    // The TR-069 CPEs tell the proxy who they are now and then once a round, as periodic
    // Informs do.
    let informs = tokio::spawn(inform_every(cpes, proxy, options.interval));

    let client = crate::http_client();
    let url = format!("http://{api}/metrics");
    // Progress is read every second from the page without the per-device gauges; the full
    // page is scraped once a round, as Prometheus would at the poll interval.
    let progress = format!("{url}?per_device=false");
    let ready = sample(&client, &progress, pid).await?;
    let mut last = ready;
    let mut boundaries = vec![ready];
    let mut round_lag = 0f64;
    let mut lags = Vec::new();
    let mut round_started: Option<Sample> = None;
    let mut starts = Vec::new();
    let deadline = Instant::now()
        + Duration::from_secs(options.interval * u64::from(options.rounds + 2) + 600);
    while boundaries.len() <= options.rounds as usize {
        tokio::time::sleep(Duration::from_secs(1)).await;
        anyhow::ensure!(
            Instant::now() < deadline,
            "round {} did not finish: {} of {} polls after {:.0} s",
            boundaries.len(),
            last.polls,
            total * boundaries.len() as u64,
            ready.at.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0)
        );
        let now = sample(&client, &progress, pid).await?;
        let done_before = total * (boundaries.len() as u64 - 1);
        if round_started.is_none() && now.polls > done_before {
            // The round began between the last two samples.
            round_started = Some(if boundaries.len() == 1 { ready } else { last });
        }
        round_lag = round_lag.max(now.lag_s);
        if now.polls >= total * boundaries.len() as u64 {
            // The round's full scrape, every device's gauges.
            full_scrape(&client, &url).await?;
            boundaries.push(now);
            starts.push(round_started.take().unwrap_or(last));
            lags.push(round_lag);
            round_lag = 0.0;
        }
        last = now;
    }
    informs.abort();
    let page = client.get(&url).send().await?.text().await?;
    let peak = peak_rss_mb(pid).unwrap_or(0.0);
    // What one full scrape (every device's gauges) costs the host, measured between rounds
    // while the poller waits for the next one.
    const SCRAPES: u32 = 5;
    let before = host_cpu_seconds(pid)?;
    for _ in 0..SCRAPES {
        full_scrape(&client, &url).await?;
    }
    let full_scrape_cpu_ms = 1000.0 * (host_cpu_seconds(pid)? - before) / f64::from(SCRAPES);

    let mut rounds = Vec::new();
    for r in 0..options.rounds as usize {
        let (start, end) = (starts[r], boundaries[r + 1]);
        let polls = end.polls - boundaries[r].polls;
        let cpu_s = end.cpu_s - boundaries[r].cpu_s;
        rounds.push(Round {
            round: r as u32 + 1,
            polls,
            wall_s: end
                .at
                .zip(start.at)
                .map(|(e, s)| e.duration_since(s).as_secs_f64())
                .unwrap_or(0.0),
            cpu_s,
            cpu_ms_per_1000_polls: 1e6 * cpu_s / polls.max(1) as f64,
            max_lag_s: lags[r],
            rss_mb: end.rss_mb,
            pending_writes: end.pending_writes,
        });
    }
    let steady: Vec<&Round> = rounds.iter().skip(usize::from(rounds.len() > 1)).collect();
    let steady_polls: u64 = steady.iter().map(|r| r.polls).sum();
    let steady_cpu: f64 = steady.iter().map(|r| r.cpu_s).sum();
    let polls_by_result: std::collections::BTreeMap<String, u64> =
        scrape::sum_by(&page, "efi_polls_total", "result")
            .into_iter()
            .map(|(result, n)| (result, n as u64))
            .collect();
    let counts = scrape::sum_by(&page, "efi_poll_duration_seconds_count", "driver");
    let mean_poll_ms = scrape::sum_by(&page, "efi_poll_duration_seconds_sum", "driver")
        .into_iter()
        .filter_map(|(driver, sum)| {
            let count = counts.get(&driver).copied().filter(|c| *c > 0.0)?;
            Some((driver, (1000.0 * sum / count).round()))
        })
        .collect();
    let figures = Figures {
        mean_poll_ms,
        snmp_cpes: devices.len(),
        tr069_cpes: options.tr069_cpes,
        interval_s: options.interval,
        concurrency: options.concurrency,
        steady_cpu_ms_per_1000_polls: 1e6 * steady_cpu / steady_polls.max(1) as f64,
        peak_rss_mb: peak,
        polls_failed: polls_by_result.get("failed").copied().unwrap_or(0),
        polls_by_result,
        rounds,
        full_scrape_cpu_ms,
        stop_s: 0.0,
    };
    println!(
        "\n| round | polls | wall s | CPU s | CPU ms / 1,000 polls | max poll lag s | RSS at the end MB | store writes pending |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!("| ready | | | | | | {:.1} | |", ready.rss_mb);
    for r in &figures.rounds {
        println!(
            "| {} | {} | {:.1} | {:.2} | {:.0} | {:.1} | {:.1} | {:.0} |",
            r.round,
            r.polls,
            r.wall_s,
            r.cpu_s,
            r.cpu_ms_per_1000_polls,
            r.max_lag_s,
            r.rss_mb,
            r.pending_writes
        );
    }
    println!(
        "\nefi-poller: {:.0} ms CPU per 1,000 device polls in the steady rounds, peak RSS {:.1} MB; polls by result: {:?}; mean poll ms by driver: {:?}; one full /metrics scrape: {:.0} ms CPU",
        figures.steady_cpu_ms_per_1000_polls,
        figures.peak_rss_mb,
        figures.polls_by_result,
        figures.mean_poll_ms,
        figures.full_scrape_cpu_ms
    );
    // The figures are out before the host is stopped: a slow stop is a finding, not a
    // reason to lose them.
    let mut figures = figures;
    let stopping = Instant::now();
    let status = host.stop(Duration::from_secs(90)).await?;
    figures.stop_s = stopping.elapsed().as_secs_f64();
    println!(
        "efi-poller stopped {:.1} s after SIGTERM ({status})",
        figures.stop_s
    );
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string(&figures)?)
            .with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

/// The TR-069-only CPEs (each model of the demo in turn), their ACS, each a UE of `raemis`
/// attached at its own address.
async fn tr069_fleet(count: u32, raemis: &RaemisSim) -> anyhow::Result<(Option<Acs>, Vec<Cpe>)> {
    if count == 0 {
        return Ok((None, Vec::new()));
    }
    let acs = Acs::start(
        "127.0.0.1:0".parse()?,
        vec!["InternetGatewayDevice.".into()],
        None,
    )
    .await?;
    let models = crate::demo::TR069_MODELS;
    let mut cpes = Vec::new();
    for n in 1..=count {
        let (index, _, _) = models[(n as usize - 1) % models.len()];
        let ip = tr069_ip(n).to_string();
        let fleet = crate::genieacs::model_fleet([ip.as_str(); 5], "2026-01-01T00:00:00Z");
        let (model, imei) =
            crate::demo::ues::personalise(DataModel::from_genieacs(&fleet[index]), n);
        raemis.add_subscriber(Subscriber::new(&imsi(TR069_UE + n), &imei, "", "Jane Doe"));
        raemis
            .attach(&imsi(TR069_UE + n), tr069_ip(n), "internet")
            .await?;
        cpes.push(Cpe::new(model, tr069_ip(n)));
    }
    Ok((Some(acs), cpes))
}

/// One CWMP session per CPE through `proxy` (64 at once): `1 BOOT` first, then
/// `2 PERIODIC` every `interval` seconds.
async fn inform_every(cpes: Vec<Cpe>, proxy: SocketAddr, interval: u64) {
    let cpes = std::sync::Arc::new(cpes);
    let mut events: &'static [&'static str] = &["1 BOOT"];
    loop {
        let failed = futures::stream::iter(0..cpes.len())
            .map(|i| {
                let cpes = cpes.clone();
                async move { cpes[i].session(proxy, events).await }
            })
            .buffer_unordered(64)
            .filter(|r| std::future::ready(r.is_err()))
            .count()
            .await;
        if failed > 0 {
            println!("{failed} TR-069 sessions failed");
        }
        events = &["2 PERIODIC"];
        tokio::time::sleep(Duration::from_secs(interval)).await;
    }
}

/// What the generated configuration is made of.
struct ConfigInputs<'a> {
    options: &'a FleetOptions,
    plugins_dir: &'a Path,
    state: &'a Path,
    listen: SocketAddr,
    proxy: SocketAddr,
    acs: Option<SocketAddr>,
    snmp_port: u16,
    raemis: &'a RaemisSim,
    sonar: &'a SonarSim,
}

/// An operator's configuration for a fleet this size: the poller on, the lab's Raemis
/// (pulled every 30 s) and Sonar (no pacing: the lab Sonar is set not to limit).
fn render_config(c: &ConfigInputs<'_>) -> String {
    let tr069 = match c.acs {
        Some(acs) => format!("[tr069]\nlisten = \"{}\"\nacs = \"{acs}\"\n", c.proxy),
        None => String::new(),
    };
    format!(
        r#"# Written by `efi-lab fleet`.
[log]
level = "warn"
[plugins]
dir = {plugins:?}
[http.rate_limits.sonar]
per_minute = 1000000
[server]
listen = "{listen}"
[poller]
enabled = true
interval_secs = {interval}
# No jitter: each round starts its polls as the first did, so a round's wall time is how
# long the poller takes for the fleet, not how widely the schedule spreads it.
jitter = 0.0
concurrency = {concurrency}
snmp_port = {snmp_port}
[arbiter]
managed_subnets = ["127.10.0.0/16", "127.12.0.0/16"]
interval_secs = 30
[store]
url = {store:?}
{tr069}{lab}"#,
        plugins = c.plugins_dir,
        listen = c.listen,
        interval = c.options.interval,
        concurrency = c.options.concurrency,
        snmp_port = c.snmp_port,
        store = c.state.join("state.db"),
        lab =
            crate::lab_source_and_sink(&c.raemis.base_url(), &c.sonar.base_url(), "raemis", "", ""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_lab_devices_on_one_port() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "127.10.0.1 1161\n127.10.1.4 1161\n").unwrap();
        assert_eq!(read_targets(&file).unwrap(), (vec![1, 260], 1161));
        std::fs::write(&file, "127.10.0.1 1161\n127.10.0.2 1162\n").unwrap();
        let e = read_targets(&file).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("one port"), "{e}");
        std::fs::write(&file, "10.0.0.1 161\n").unwrap();
        let e = read_targets(&file).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("127.10.x.y"), "{e}");
    }

    #[test]
    fn the_configuration_is_one_efi_poller_reads() {
        let options = FleetOptions {
            targets: "t".into(),
            tr069_cpes: 1,
            rounds: 2,
            interval: 30,
            concurrency: 128,
            efi_poller: None,
            plugins: None,
            json: None,
        };
        let text = render_config_text(&options, Some("127.0.0.1:7".parse().unwrap()));
        let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(table["poller"]["concurrency"].as_integer(), Some(128));
        assert_eq!(table["tr069"]["acs"].as_str(), Some("127.0.0.1:7"));
    }

    /// [`render_config`] with stand-ins for the running simulators' addresses.
    fn render_config_text(options: &FleetOptions, acs: Option<SocketAddr>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
                .await
                .unwrap();
            let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), Scenario::lab())
                .await
                .unwrap();
            render_config(&ConfigInputs {
                options,
                plugins_dir: Path::new("/p"),
                state: Path::new("/s"),
                listen: "127.0.0.1:1".parse().unwrap(),
                proxy: "127.0.0.1:2".parse().unwrap(),
                acs,
                snmp_port: 1161,
                raemis: &raemis,
                sonar: &sonar,
            })
        })
    }
}
