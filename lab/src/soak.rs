//! The fault-and-load soak: a simulated Raemis with many UEs churning (attach, detach, move;
//! pushed to the host's webhook and there for its pulls), a simulated Sonar that throttles
//! and fails at random, and an `efi-poller run` process killed with SIGKILL and restarted at
//! random points, while it polls every address in use (none answers: timeouts). When the
//! churn stops and the faults clear, Sonar must equal the EPC
//! exactly. Used by `efi-lab soak` (bench/soak.sh) at full size and by an integration test
//! at a small one.

use crate::raemis::{PushTarget, RaemisOptions, RaemisSim, Subscriber};
use crate::sim::Fault;
use crate::sonar::scenario::{Scenario, SubnetSeed};
use crate::sonar::SonarSim;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The size and shape of a soak run (also the arguments of `efi-lab soak`).
#[derive(Debug, Clone, clap::Args)]
pub struct SoakOptions {
    /// UEs known to the EPC (attached or not); at most 65,000 (one /16 of loopback).
    #[arg(long, default_value_t = 50_000)]
    pub ues: u32,
    /// Seconds of churn, faults and kills.
    #[arg(long, default_value_t = 120)]
    pub seconds: u64,
    /// Attach/detach/move events per second.
    #[arg(long, default_value_t = 200)]
    pub events_per_sec: u32,
    /// Times the host is killed with SIGKILL and restarted during the churn.
    #[arg(long, default_value_t = 4)]
    pub kills: u32,
    /// Share of seconds in which Sonar is made to throttle or fail (0..=1).
    #[arg(long, default_value_t = 0.2)]
    pub fault_rate: f64,
    /// Seconds allowed for Sonar to equal the EPC after the churn stops.
    #[arg(long, default_value_t = 300)]
    pub settle_seconds: u64,
    /// Seed of the random choices (the same seed, the same events).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The `efi-poller` binary.
    #[arg(long, default_value = "target/release/efi-poller")]
    pub host_binary: PathBuf,
    /// A directory holding the raemis and sonar plugins.
    #[arg(long, default_value = "target/release")]
    pub plugins_dir: PathBuf,
}

/// What happened, printed at the end.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    /// UEs in the EPC.
    pub ues: u32,
    /// Attach events.
    pub attaches: u64,
    /// Detach events.
    pub detaches: u64,
    /// Moves (a UE re-attached at another address).
    pub moves: u64,
    /// Seconds of churn, and the events per second asked for (each event waits for its
    /// push to be answered, so a busy host slows the churn down).
    pub churn_s: f64,
    /// Events per second asked for.
    pub asked_events_per_sec: u32,
    /// Pushes the webhook accepted / did not (host down, refused).
    pub pushes_ok: u64,
    /// Pushes that did not reach the host.
    pub pushes_failed: u64,
    /// Faults injected into Sonar (throttling, 5xx, dropped connections).
    pub faults_injected: u64,
    /// Of which a request of the host's met (the rest expired unused when the churn ended).
    pub faults_hit: u64,
    /// GraphQL requests Sonar answered normally (faulted ones are not among them).
    pub sonar_requests: u64,
    /// Of which answered 4xx/5xx (validation, its own rate limit).
    pub sonar_errors: u64,
    /// Host restarts after a SIGKILL.
    pub restarts: u32,
    /// Device polls the last host process made, and how many failed (timed out).
    pub device_polls: u64,
    /// Of which failed.
    pub device_polls_failed: u64,
    /// Seconds from the end of the churn until Sonar equalled the EPC.
    pub settle_s: f64,
    /// Sessions in the EPC at the end.
    pub epc_sessions: usize,
    /// Soft assignments in Sonar at the end (managed subnet).
    pub sonar_assignments: usize,
    /// Addresses where Sonar and the EPC differ at the end (missing, extra, or a duplicate).
    pub differences: Vec<String>,
}

impl SoakReport {
    /// True when Sonar equals the EPC exactly.
    pub fn equal(&self) -> bool {
        self.differences.is_empty()
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "soak report")?;
        writeln!(f, "  UEs in the EPC           {}", self.ues)?;
        let events = self.attaches + self.detaches + self.moves;
        writeln!(
            f,
            "  events                   {} attach, {} detach, {} move: {:.0}/s over {:.0} s ({}/s asked; each waits for its push's answer)",
            self.attaches,
            self.detaches,
            self.moves,
            events as f64 / self.churn_s.max(1e-9),
            self.churn_s,
            self.asked_events_per_sec
        )?;
        writeln!(
            f,
            "  pushes                   {} delivered, {} lost (host down or refusing)",
            self.pushes_ok, self.pushes_failed
        )?;
        writeln!(
            f,
            "  Sonar faults             {} injected, {} met by the host's requests (throttled, 5xx, dropped)",
            self.faults_injected, self.faults_hit
        )?;
        writeln!(
            f,
            "  Sonar requests           {} answered, {} of them with an error status",
            self.sonar_requests, self.sonar_errors
        )?;
        writeln!(
            f,
            "  host restarts            {} (after SIGKILL)",
            self.restarts
        )?;
        writeln!(
            f,
            "  device polls             {} by the last host process, {} timed out (nothing answers on 127.64/16)",
            self.device_polls, self.device_polls_failed
        )?;
        writeln!(
            f,
            "  settled in               {:.1} s after the churn stopped",
            self.settle_s
        )?;
        writeln!(
            f,
            "  final                    {} EPC sessions, {} Sonar soft assignments: {}",
            self.epc_sessions,
            self.sonar_assignments,
            if self.equal() {
                "IDENTICAL".to_owned()
            } else {
                format!("{} DIFFERENCES", self.differences.len())
            }
        )?;
        for d in self.differences.iter().take(20) {
            writeln!(f, "    {d}")?;
        }
        Ok(())
    }
}

fn ue_ip(slot: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        64,
        (slot >> 8) as u8,
        (slot & 0xff) as u8,
    ))
}

fn imsi(n: u32) -> String {
    format!("00103{n:010}")
}

fn imei(n: u32) -> String {
    format!("35{n:013}")
}

/// The host process, killed when dropped.
struct Host(Option<Child>);

impl Host {
    fn start(binary: &Path, config: &Path) -> std::io::Result<Host> {
        Command::new(binary)
            .args(["--config", &config.display().to_string(), "run"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|c| Host(Some(c)))
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the soak.
pub async fn run(options: SoakOptions) -> anyhow::Result<SoakReport> {
    anyhow::ensure!(options.ues <= 65_000, "at most 65,000 UEs (one /16)");
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut scenario = Scenario::lab();
    scenario.rate_limit_per_minute = Some(1_000_000);
    scenario.subnets.push(SubnetSeed {
        id: 364,
        subnet: "127.64.0.0/16".into(),
        name: "LTE UEs (soak)".into(),
        subnet_type: "ACCOUNT".into(),
    });
    let sonar = SonarSim::start("127.0.0.1:0".parse()?, scenario).await?;
    let raemis = RaemisSim::start("127.0.0.1:0".parse()?, RaemisOptions::default()).await?;
    let mut ues = Ues::attach_most(&raemis, options.ues).await?;

    let dir = tempfile::tempdir()?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let secret = format!("soak-{}", rng.random::<u64>());
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        &options,
        dir.path(),
        listen,
        &raemis,
        &sonar,
        &secret,
    )?;
    raemis.set_push_target(Some(PushTarget {
        url: format!("http://{listen}/webhooks/raemis"),
        basic: None,
        headers: vec![("x-efi-secret".into(), secret.clone())],
    }));

    let mut report = SoakReport {
        ues: options.ues,
        asked_events_per_sec: options.events_per_sec,
        ..Default::default()
    };
    let mut host = Host::start(&options.host_binary, &config)?;
    let started = Instant::now();
    let churn = Duration::from_secs(options.seconds);
    // The kills land at random points of the churn.
    let mut kill_at: Vec<Duration> = (0..options.kills)
        .map(|_| churn.mul_f64(rng.random_range(0.05..0.95)))
        .collect();
    kill_at.sort();
    let mut next_kill = kill_at.into_iter().peekable();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let per_tick = (options.events_per_sec / 10).max(1);
    let mut second = 0u64;
    while started.elapsed() < churn {
        tick.tick().await;
        for _ in 0..per_tick {
            ues.event(&raemis, &mut rng, &mut report).await?;
        }
        let now_second = started.elapsed().as_secs();
        if now_second != second {
            second = now_second;
            if rng.random_bool(options.fault_rate.clamp(0.0, 1.0)) {
                report.faults_injected += inject_fault(&sonar, &mut rng);
            }
        }
        if next_kill.peek().is_some_and(|at| started.elapsed() >= *at) {
            next_kill.next();
            host.kill();
            // Events keep coming while it is down: their pushes are lost, pulls recover them.
            host = Host::start(&options.host_binary, &config)?;
            report.restarts += 1;
        }
    }
    report.churn_s = started.elapsed().as_secs_f64();
    settle(&options, &sonar, &raemis, &ues, &mut report).await;
    count_polls(listen, &mut report).await;
    host.kill();
    report_traffic(&sonar, &raemis, &mut report);
    Ok(report)
}

/// The UEs of the soak and the addresses (slots of 127.64.0.0/16) they hold.
struct Ues {
    count: u32,
    imei_of_imsi: BTreeMap<String, String>,
    free_slots: Vec<u32>,
    /// UE → slot.
    attached: BTreeMap<u32, u32>,
}

impl Ues {
    /// Every UE known to the EPC; three in four attached at the start, each on its own slot.
    async fn attach_most(raemis: &RaemisSim, count: u32) -> anyhow::Result<Ues> {
        let mut ues = Ues {
            count,
            imei_of_imsi: BTreeMap::new(),
            free_slots: Vec::new(),
            attached: BTreeMap::new(),
        };
        for n in 0..count {
            raemis.add_subscriber(Subscriber::new(&imsi(n), &imei(n), "", "_soak"));
            ues.imei_of_imsi.insert(imsi(n), imei(n));
        }
        for slot in 0..count {
            if slot % 4 == 3 {
                ues.free_slots.push(slot + 1);
            } else {
                raemis
                    .attach(&imsi(slot), ue_ip(slot + 1), "internet")
                    .await?;
                ues.attached.insert(slot, slot + 1);
            }
        }
        Ok(ues)
    }

    /// One event for a random UE: an attached one detaches (70 %) or moves, a detached one
    /// attaches; either way a UE that stays takes a free address.
    async fn event(
        &mut self,
        raemis: &RaemisSim,
        rng: &mut StdRng,
        report: &mut SoakReport,
    ) -> anyhow::Result<()> {
        let n = rng.random_range(0..self.count);
        match self.attached.get(&n).copied() {
            Some(slot) if rng.random_bool(0.7) => {
                raemis.detach(&imsi(n)).await?;
                self.attached.remove(&n);
                self.free_slots.push(slot);
                report.detaches += 1;
            }
            held => {
                if self.free_slots.is_empty() {
                    return Ok(());
                }
                let i = rng.random_range(0..self.free_slots.len());
                let to = self.free_slots.swap_remove(i);
                raemis.attach(&imsi(n), ue_ip(to), "internet").await?;
                self.attached.insert(n, to);
                match held {
                    Some(old) => {
                        self.free_slots.push(old);
                        report.moves += 1;
                    }
                    None => report.attaches += 1,
                }
            }
        }
        Ok(())
    }
}

/// One to five Sonar faults of one kind (limit answers, 5xx, dropped connections) on its
/// GraphQL or mutation endpoint; returns how many.
fn inject_fault(sonar: &SonarSim, rng: &mut StdRng) -> u64 {
    let times = rng.random_range(1..6);
    let (endpoint, fault) = match rng.random_range(0..4) {
        0 => ("mutation", Fault::RateLimited),
        1 => ("graphql", Fault::Status(503)),
        2 => ("graphql", Fault::Drop),
        _ => ("mutation", Fault::Status(502)),
    };
    sonar.faults().inject(endpoint, fault, times);
    times as u64
}

/// The host's configuration: the lab's Raemis (pushing with `secret`) and Sonar, the managed
/// subnet of the UEs, polling on (nothing answers there, so every poll times out).
fn write_config(
    file: &Path,
    options: &SoakOptions,
    state: &Path,
    listen: std::net::SocketAddr,
    raemis: &RaemisSim,
    sonar: &SonarSim,
    secret: &str,
) -> std::io::Result<()> {
    std::fs::write(
        file,
        format!(
            r#"[log]
level = "warn"
[plugins]
dir = {plugins:?}
rescan_secs = 0
step_budget_ms = 10000
[http]
max_retries = 2
retry_base_ms = 50
[http.rate_limits.sonar]
per_minute = 1000000
[server]
listen = "{listen}"
max_body_bytes = 65536
[snmp]
timeout_ms = 200
retries = 0
[poller]
# Every address in use is polled; nothing answers on 127.64.0.0/16, so every poll times out.
enabled = true
interval_secs = 60
concurrency = 256
deadline_secs = 5
[arbiter]
managed_subnets = ["127.64.0.0/16"]
interval_secs = 5
[store]
url = {state:?}
{lab}"#,
            plugins = options.plugins_dir,
            state = state.join("state.db"),
            lab = crate::lab_source_and_sink(
                &raemis.base_url(),
                &sonar.base_url(),
                "raemis",
                &format!(
                    "[sources.webhook]\nsecret_header = \"x-efi-secret\"\nsecret = \"{secret}\""
                ),
                "",
            ),
        ),
    )
}

/// The churn has stopped: faults clear, and Sonar must come to equal the EPC within
/// `settle_seconds`.
async fn settle(
    options: &SoakOptions,
    sonar: &SonarSim,
    raemis: &RaemisSim,
    ues: &Ues,
    report: &mut SoakReport,
) {
    report.faults_hit = report.faults_injected - sonar.faults().pending() as u64;
    sonar.faults().clear();
    let churn_ended = Instant::now();
    let deadline = churn_ended + Duration::from_secs(options.settle_seconds);
    let epc = crate::compare::epc_truth(raemis, &ues.imei_of_imsi);
    let differences =
        || crate::compare::differences(&epc, &crate::compare::sonar_truth(sonar, "127.64."));
    let mut diff = differences();
    while !diff.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        diff = differences();
    }
    report.settle_s = churn_ended.elapsed().as_secs_f64();
    report.epc_sessions = epc.len();
    report.differences = diff;
}

/// Device polls and failed polls, from the host's `/metrics`.
async fn count_polls(listen: std::net::SocketAddr, report: &mut SoakReport) {
    let Ok(answer) = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
    else {
        return;
    };
    let text = answer.text().await.unwrap_or_default();
    report.device_polls += crate::scrape::sum(&text, "efi_polls_total") as u64;
    report.device_polls_failed += crate::scrape::sum_by(&text, "efi_polls_total", "result")
        .get("failed")
        .copied()
        .unwrap_or(0.0) as u64;
}

/// Sonar's assignments at the end, the pushes Raemis made and the requests Sonar took.
fn report_traffic(sonar: &SonarSim, raemis: &RaemisSim, report: &mut SoakReport) {
    let sonar_state = crate::compare::sonar_truth(sonar, "127.64.");
    report.sonar_assignments = sonar_state.values().map(Vec::len).sum();
    for (_, result) in raemis.pushes() {
        match result {
            Ok(200) => report.pushes_ok += 1,
            _ => report.pushes_failed += 1,
        }
    }
    let calls = sonar.calls();
    report.sonar_requests = calls.len() as u64;
    report.sonar_errors = calls.iter().filter(|c| c.status >= 400).count() as u64;
}
