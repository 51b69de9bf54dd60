//! `efi-poller sweep --targets FILE`: one pass over many devices with the host's engines (a
//! GET and table walks per device, optionally pings), a progress bar, and a summary.
//!
//! The shape of a monitoring sweep and of the peer benchmark (`bench/`): per device one
//! SNMP session, a GET of the `--get` OIDs, then a GETBULK walk of each `--walk` subtree.

use crate::config::{Config, Secret, SnmpConfig, SnmpVersion};
use crate::engines::icmp::IcmpEngine;
use crate::engines::snmp::{SnmpCredentials, SnmpEngine};
use clap::Args;
use efi_plugin_api::{IoErrorKind, Oid};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Targets, one per line: `IP` or `IP PORT` (blank lines and `#` comments skipped).
    #[arg(long)]
    pub targets: PathBuf,
    /// OIDs to GET from each device, comma-separated. Default: sysDescr, sysObjectID,
    /// sysUpTime.
    #[arg(long, value_delimiter = ',')]
    pub get: Vec<String>,
    /// Subtrees to walk on each device, comma-separated (e.g. 1.3.6.1.2.1.2.2 for ifTable).
    #[arg(long, value_delimiter = ',')]
    pub walk: Vec<String>,
    /// GETBULK max-repetitions of the walks.
    #[arg(long, default_value_t = 10)]
    pub max_repetitions: u32,
    /// SNMP version: 1 or 2c (default: `[snmp] version`).
    #[arg(long)]
    pub snmp_version: Option<String>,
    /// Community (default: `[snmp] community`).
    #[arg(long)]
    pub community: Option<String>,
    /// Time to wait for each answer, in milliseconds (default: `[snmp] timeout_ms`).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Retries after a timeout (default: `[snmp] retries`).
    #[arg(long)]
    pub retries: Option<u32>,
    /// Devices in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Also ping each device this many times (`[icmp]` timeout and spacing).
    #[arg(long, default_value_t = 0)]
    pub icmp: u32,
    /// Ping only (needs `--icmp N`).
    #[arg(long)]
    pub no_snmp: bool,
    /// Print the summary as one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Default)]
struct Tally {
    devices: usize,
    ok: usize,
    timeouts: usize,
    errors: BTreeMap<String, usize>,
    varbinds: usize,
    pinged: usize,
    ping_answered: usize,
    first_failures: Vec<String>,
}

/// What one device answered: its pings, and its SNMP GET (complete or not) and walks.
struct Answered {
    ping: Option<efi_plugin_api::IcmpStats>,
    /// `None` with `--no-snmp`.
    snmp: Option<Result<(bool, usize), efi_plugin_api::IoError>>,
}

impl Tally {
    fn record(&mut self, agent: SocketAddr, answered: Answered) {
        if let Some(stats) = answered.ping {
            self.pinged += 1;
            self.ping_answered += usize::from(stats.received() > 0);
        }
        match answered.snmp {
            None => self.ok += 1,
            Some(Ok((complete, n))) => {
                self.varbinds += n;
                if complete {
                    self.ok += 1;
                } else {
                    *self.errors.entry("incomplete GET".into()).or_default() += 1;
                }
            }
            Some(Err(e)) => {
                if e.kind == IoErrorKind::Timeout {
                    self.timeouts += 1;
                } else {
                    *self.errors.entry(format!("{:?}", e.kind)).or_default() += 1;
                }
                if self.first_failures.len() < 5 {
                    self.first_failures.push(format!("{agent}: {}", e.message));
                }
            }
        }
    }

    /// The summary: one JSON line, or a sentence and the first failures.
    fn print(&self, wall: std::time::Duration, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "devices": self.devices, "devices_ok": self.ok, "timeouts": self.timeouts,
                    "errors": self.errors, "varbinds": self.varbinds, "pinged": self.pinged,
                    "ping_answered": self.ping_answered, "wall_s": wall.as_secs_f64(),
                })
            );
            return;
        }
        println!(
            "{} devices in {:.2} s ({:.0}/s): {} ok, {} failed ({} timeouts{}), {} varbinds{}",
            self.devices,
            wall.as_secs_f64(),
            self.devices as f64 / wall.as_secs_f64().max(1e-9),
            self.ok,
            self.devices - self.ok,
            self.timeouts,
            self.errors
                .iter()
                .map(|(k, n)| format!(", {n} {k}"))
                .collect::<String>(),
            self.varbinds,
            if self.pinged > 0 {
                format!("; ping: {}/{} answered", self.ping_answered, self.pinged)
            } else {
                String::new()
            }
        );
        for f in &self.first_failures {
            println!("  {f}");
        }
    }
}

/// One sweep, its arguments checked.
struct Sweep {
    targets: Vec<SocketAddr>,
    get: Vec<Oid>,
    walks: Vec<Oid>,
    credentials: SnmpCredentials,
    snmp: SnmpEngine,
    icmp: IcmpEngine,
    max_repetitions: u32,
    pings: u32,
    no_snmp: bool,
}

impl Sweep {
    /// The sweep `args` ask for; a usage error names the option.
    fn new(config: &Config, args: &SweepArgs) -> Result<Sweep, String> {
        let targets = read_targets(&args.targets, config.poller.snmp_port)?;
        if args.no_snmp && args.icmp == 0 {
            return Err("--no-snmp needs --icmp N".into());
        }
        let get = if args.get.is_empty() {
            vec![
                "1.3.6.1.2.1.1.1.0".into(),
                "1.3.6.1.2.1.1.2.0".into(),
                "1.3.6.1.2.1.1.3.0".into(),
            ]
        } else {
            args.get.clone()
        };
        let version = match args.snmp_version.as_deref() {
            None => config.snmp.version,
            Some("1") => SnmpVersion::V1,
            Some("2c" | "2") => SnmpVersion::V2c,
            Some(other) => return Err(format!("--snmp-version {other:?} is not 1 or 2c")),
        };
        let community = args
            .community
            .clone()
            .map(Secret::new)
            .unwrap_or_else(|| config.snmp.community.clone());
        Ok(Sweep {
            targets,
            get: parse_oids(&get, "get")?,
            walks: parse_oids(&args.walk, "walk")?,
            credentials: match version {
                SnmpVersion::V1 => SnmpCredentials::V1(community),
                SnmpVersion::V2c => SnmpCredentials::V2c(community),
            },
            snmp: SnmpEngine::new(SnmpConfig {
                timeout_ms: args.timeout_ms.unwrap_or(config.snmp.timeout_ms),
                retries: args.retries.unwrap_or(config.snmp.retries),
                ..config.snmp.clone()
            }),
            icmp: IcmpEngine::new(config.icmp.clone()),
            max_repetitions: args.max_repetitions,
            pings: args.icmp,
            no_snmp: args.no_snmp,
        })
    }

    /// One device: its pings and its SNMP GET and walks, side by side.
    async fn device(&self, agent: SocketAddr) -> Answered {
        let ping = async {
            if self.pings == 0 {
                return None;
            }
            self.icmp.probe(agent.ip(), self.pings).await.ok()
        };
        let snmp = async {
            if self.no_snmp {
                return None;
            }
            let mut session = self.snmp.session(agent, self.credentials.clone());
            Some(
                async {
                    let answers = session.get(&self.get).await?;
                    let complete = answers.len() == self.get.len()
                        && answers.iter().all(|vb| !vb.value.is_absent());
                    let mut varbinds = answers.len();
                    for root in &self.walks {
                        varbinds += session.walk(root, self.max_repetitions).await?.len();
                    }
                    Ok((complete, varbinds))
                }
                .await,
            )
        };
        let (ping, snmp) = tokio::join!(ping, snmp);
        Answered { ping, snmp }
    }
}

fn parse_oids(list: &[String], option: &str) -> Result<Vec<Oid>, String> {
    list.iter()
        .map(|s| {
            s.trim()
                .trim_start_matches('.')
                .parse()
                .map_err(|_| format!("--{option}: {s:?} is not a numeric OID"))
        })
        .collect()
}

fn progress_bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} devices ({per_sec}, ETA {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Runs the subcommand.
pub async fn run(config: Config, args: SweepArgs) -> anyhow::Result<ExitCode> {
    let sweep = match Sweep::new(&config, &args) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("efi-poller: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let bar = progress_bar(sweep.targets.len());
    let started = Instant::now();
    let tally = Arc::new(parking_lot::Mutex::new(Tally {
        devices: sweep.targets.len(),
        ..Tally::default()
    }));
    // Every device of the sweep is a future of one task, at most `concurrency` of them
    // alive at a time: no task per device, no cross-thread wake-ups, and a device's state
    // (session, buffers) exists only while it is in flight.
    let devices = futures::stream::iter(sweep.targets.clone()).map({
        let (sweep, tally, bar) = (sweep.clone(), tally.clone(), bar.clone());
        move |agent| {
            let (sweep, tally, bar) = (sweep.clone(), tally.clone(), bar.clone());
            async move {
                let answered = sweep.device(agent).await;
                tally.lock().record(agent, answered);
                bar.inc(1);
            }
        }
    });
    tokio::spawn(
        devices
            .buffer_unordered(args.concurrency.max(1))
            .for_each(|()| async {}),
    )
    .await?;
    bar.finish_and_clear();
    let t = tally.lock();
    t.print(started.elapsed(), args.json);
    Ok(if t.ok == t.devices {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_targets(path: &PathBuf, default_port: u16) -> Result<Vec<SocketAddr>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--targets {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let bad = |what: &str| format!("{}:{}: {what} in {line:?}", path.display(), n + 1);
        let ip: IpAddr = parts
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| bad("not an IP address"))?;
        let port = match parts.next() {
            Some(p) => p.parse().map_err(|_| bad("not a port"))?,
            None => default_port,
        };
        out.push(SocketAddr::new(ip, port));
    }
    if out.is_empty() {
        return Err(format!(
            "--targets {}: no targets in the file",
            path.display()
        ));
    }
    Ok(out)
}
