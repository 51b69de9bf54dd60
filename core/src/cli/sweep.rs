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

/// Runs the subcommand.
pub async fn run(config: Config, args: SweepArgs) -> anyhow::Result<ExitCode> {
    let targets = match read_targets(&args.targets, config.poller.snmp_port) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("efi-poller: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.no_snmp && args.icmp == 0 {
        eprintln!("efi-poller: --no-snmp needs --icmp N");
        return Ok(ExitCode::from(2));
    }
    let parse = |list: &[String], what: &str| -> Result<Vec<Oid>, String> {
        list.iter()
            .map(|s| {
                s.trim()
                    .trim_start_matches('.')
                    .parse()
                    .map_err(|_| format!("--{what}: {s:?} is not a numeric OID"))
            })
            .collect()
    };
    let get = if args.get.is_empty() {
        parse(
            &[
                "1.3.6.1.2.1.1.1.0".into(),
                "1.3.6.1.2.1.1.2.0".into(),
                "1.3.6.1.2.1.1.3.0".into(),
            ],
            "get",
        )
    } else {
        parse(&args.get, "get")
    };
    let (get, walks) = match (get, parse(&args.walk, "walk")) {
        (Ok(g), Ok(w)) => (g, w),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("efi-poller: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let version = match args.snmp_version.as_deref() {
        None => config.snmp.version,
        Some("1") => SnmpVersion::V1,
        Some("2c" | "2") => SnmpVersion::V2c,
        Some(other) => {
            eprintln!("efi-poller: --snmp-version {other:?} is not 1 or 2c");
            return Ok(ExitCode::from(2));
        }
    };
    let community = args
        .community
        .clone()
        .map(Secret::new)
        .unwrap_or_else(|| config.snmp.community.clone());
    let credentials = match version {
        SnmpVersion::V1 => SnmpCredentials::V1(community),
        SnmpVersion::V2c => SnmpCredentials::V2c(community),
    };
    let snmp = Arc::new(SnmpEngine::new(SnmpConfig {
        timeout_ms: args.timeout_ms.unwrap_or(config.snmp.timeout_ms),
        retries: args.retries.unwrap_or(config.snmp.retries),
        ..config.snmp.clone()
    }));
    let icmp = Arc::new(IcmpEngine::new(config.icmp.clone()));

    let bar = ProgressBar::new(targets.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} devices ({per_sec}, ETA {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let tally = Arc::new(parking_lot::Mutex::new(Tally {
        devices: targets.len(),
        ..Tally::default()
    }));
    let get = Arc::new(get);
    let walks = Arc::new(walks);
    // Every device of the sweep is a future of one task, at most `concurrency` of them
    // alive at a time: no task per device, no cross-thread wake-ups, and a device's state
    // (session, buffers) exists only while it is in flight.
    let (reps, pings, no_snmp) = (args.max_repetitions, args.icmp, args.no_snmp);
    let (all_tally, all_bar) = (tally.clone(), bar.clone());
    let devices = futures::stream::iter(targets).map(move |agent| {
        let (snmp, icmp, tally, get, walks, bar, credentials) = (
            snmp.clone(),
            icmp.clone(),
            tally.clone(),
            get.clone(),
            walks.clone(),
            bar.clone(),
            credentials.clone(),
        );
        async move {
            let ping = async {
                if pings == 0 {
                    return None;
                }
                icmp.probe(agent.ip(), pings).await.ok()
            };
            let poll = async {
                let mut session = snmp.session(agent, credentials);
                let answers = session.get(&get).await?;
                let complete =
                    answers.len() == get.len() && answers.iter().all(|vb| !vb.value.is_absent());
                let mut varbinds = answers.len();
                for root in walks.iter() {
                    varbinds += session.walk(root, reps).await?.len();
                }
                Ok::<_, efi_plugin_api::IoError>((complete, varbinds))
            };
            let poll = async {
                if no_snmp {
                    None
                } else {
                    Some(poll.await)
                }
            };
            let (ping, poll) = tokio::join!(ping, poll);
            let mut t = tally.lock();
            if let Some(stats) = ping {
                t.pinged += 1;
                t.ping_answered += usize::from(stats.received() > 0);
            }
            match poll {
                None => t.ok += usize::from(no_snmp),
                Some(Ok((complete, n))) => {
                    t.varbinds += n;
                    if complete {
                        t.ok += 1;
                    } else {
                        *t.errors.entry("incomplete GET".into()).or_default() += 1;
                    }
                }
                Some(Err(e)) if e.kind == IoErrorKind::Timeout => {
                    t.timeouts += 1;
                    if t.first_failures.len() < 5 {
                        t.first_failures.push(format!("{agent}: {}", e.message));
                    }
                }
                Some(Err(e)) => {
                    *t.errors.entry(format!("{:?}", e.kind)).or_default() += 1;
                    if t.first_failures.len() < 5 {
                        t.first_failures.push(format!("{agent}: {}", e.message));
                    }
                }
            }
            drop(t);
            bar.inc(1);
        }
    });
    let concurrency = args.concurrency.max(1);
    tokio::spawn(
        devices
            .buffer_unordered(concurrency)
            .for_each(|()| async {}),
    )
    .await?;
    all_bar.finish_and_clear();
    let wall = started.elapsed();
    let t = all_tally.lock();
    let failed = t.devices - t.ok;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "devices": t.devices, "devices_ok": t.ok, "timeouts": t.timeouts,
                "errors": t.errors, "varbinds": t.varbinds, "pinged": t.pinged,
                "ping_answered": t.ping_answered, "wall_s": wall.as_secs_f64(),
            })
        );
    } else {
        println!(
            "{} devices in {:.2} s ({:.0}/s): {} ok, {} failed ({} timeouts{}), {} varbinds{}",
            t.devices,
            wall.as_secs_f64(),
            t.devices as f64 / wall.as_secs_f64().max(1e-9),
            t.ok,
            failed,
            t.timeouts,
            t.errors
                .iter()
                .map(|(k, n)| format!(", {n} {k}"))
                .collect::<String>(),
            t.varbinds,
            if t.pinged > 0 {
                format!("; ping: {}/{} answered", t.ping_answered, t.pinged)
            } else {
                String::new()
            }
        );
        for f in &t.first_failures {
            println!("  {f}");
        }
    }
    Ok(if failed == 0 {
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
