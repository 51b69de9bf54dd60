//! `efi-poller demo`: starts the embedded lab on loopback (SNMP devices, CPEs reporting only
//! over TR-069, the IPAM lab) and polls it with the plugins,
//! printing each cycle's records as they come and serving the dashboard and REST API over
//! them (device state and history in a SQLite store in a temporary directory).

use super::table;
use crate::config::Config;
use crate::host::Host;
use clap::Args;
use efi_plugin_api::Target;
use futures::StreamExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Simulated devices (default: `demo.devices` from the config).
    #[arg(long)]
    pub devices: Option<u32>,
    /// Seconds between cycles (default: `demo.interval_secs`).
    #[arg(long)]
    pub interval: Option<u64>,
    /// Stop after this many cycles (default: run until Ctrl-C or SIGTERM).
    #[arg(long)]
    pub cycles: Option<u64>,
    /// CPEs that report only over TR-069 (default: `demo.tr069_cpes`).
    #[arg(long)]
    pub tr069_cpes: Option<u32>,
}

/// Runs the demo.
pub async fn run(config: Config, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let devices = args.devices.unwrap_or(config.demo.devices).max(1);
    let interval = Duration::from_secs(args.interval.unwrap_or(config.demo.interval_secs).max(1));
    let concurrency = config.demo.concurrency.max(1);
    let tr069_cpes = args.tr069_cpes.unwrap_or(config.demo.tr069_cpes);

    // The lab's agents answer to the configured community, as the operator's CPEs would.
    let agents =
        efi_lab::fleet::start_mixed_fleet_answering(devices, config.snmp.community.expose())
            .await?;
    let mut ipam = match super::demo_arbiter::start(&config, devices).await? {
        Ok(lab) => Some(lab),
        Err(why) => {
            println!("IPAM lab skipped: {why}");
            None
        }
    };
    let listen = config.demo.listen;
    let shared = std::sync::Arc::new(config.clone());
    let host = std::sync::Arc::new(tokio::task::spawn_blocking(move || Host::new(config)).await?);
    let _watcher = host.watch_plugins();
    let state_dir = tempfile::tempdir()?;
    let store_config = crate::config::StoreConfig {
        url: crate::config::Secret::new(state_dir.path().join("state.db").display().to_string()),
        flush_interval_ms: 200,
        ..Default::default()
    };
    let store = crate::store::Store::open(&store_config).await?;
    let device_store = std::sync::Arc::new(crate::devices::DeviceStore::default());
    let writer = crate::store::Writer::spawn(device_store.clone(), store.clone(), store_config);
    let app = crate::server::api_router(crate::server::Api {
        host: host.clone(),
        config: shared,
        arbiter: ipam.as_ref().map(|lab| lab.arbiter.clone()),
        devices: device_store.clone(),
        store: Some(store),
        sonar_poller: None,
        cluster: None,
    });
    // The configured port, or any free one when it is taken (a second demo, a running host).
    let (bound, _server) = match crate::server::serve(app.clone(), listen).await {
        Ok(served) => served,
        Err(e) => {
            let mut any = listen;
            any.set_port(0);
            println!("{listen} is taken ({e}); serving on a free port instead");
            crate::server::serve(app, any).await?
        }
    };
    println!("dashboard: http://{bound}/dashboard/ (REST API at http://{bound}/api/v1/devices)");

    let drivers = host.registry.active_drivers();
    println!(
        "efi-poller demo: {devices} simulated SNMP devices on loopback ({} .. {}): MIB-II boxes, BEC RidgeWave, Baicells Atom, Telrad CPE12000SG",
        agents[0].addr(),
        agents[agents.len() - 1].addr()
    );
    println!(
        "plugins from {}: {}",
        host.registry.dir().display(),
        if drivers.is_empty() {
            "none".to_owned()
        } else {
            drivers
                .iter()
                .map(|p| format!("{} {}", p.name(), p.info().version))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if drivers.is_empty() {
        anyhow::bail!(
            "no driver plugins in {}; build them first (`cargo build --release`) or set plugins.dir",
            host.registry.dir().display()
        );
    }
    let mut tr069 = match super::demo_tr069::start(&host, tr069_cpes).await? {
        Ok(lab) => Some(lab),
        Err(why) => {
            println!("TR-069 lab skipped: {why}");
            None
        }
    };
    println!("polling every {} s; Ctrl-C stops\n", interval.as_secs());

    let mut targets: Vec<Target> = agents
        .iter()
        .map(|a| {
            let mut t = Target::new(a.addr().ip());
            t.snmp_port = a.addr().port();
            t
        })
        .collect();
    targets.extend(tr069.iter().flat_map(|lab| lab.targets()));

    let mut cycle = 0u64;
    let mut failed_total = 0usize;
    loop {
        cycle += 1;
        if let Some(lab) = ipam.as_mut() {
            for line in lab.step(cycle).await? {
                println!("{line}");
            }
        }
        if let Some(lab) = tr069.as_mut() {
            for line in lab.inform().await {
                println!("{line}");
            }
        }
        let started = Instant::now();
        let mut results: Vec<_> = futures::stream::iter(targets.iter())
            .map(|t| {
                let (host, devices) = (&host, &device_store);
                async move {
                    let began = Instant::now();
                    let driver = devices.driver_of(t.address);
                    let outcome = devices
                        .poll_one(host, t, driver.as_deref(), Duration::from_secs(30))
                        .await;
                    (t, outcome, began.elapsed())
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        results.sort_by_key(|(t, _, _)| t.address);
        let mut rows = Vec::new();
        let mut failed = 0;
        for (t, result, elapsed) in &results {
            let state = device_store.get(t.address);
            match (result, state.as_ref().and_then(|s| s.record.as_ref())) {
                (Ok(driver), Some(r)) => {
                    let dash = || "-".to_owned();
                    let num = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_else(dash);
                    rows.push(vec![
                        t.address.to_string(),
                        driver.clone(),
                        r.model.clone().unwrap_or_else(dash),
                        r.hostname.clone().unwrap_or_else(dash),
                        r.identity.mac.clone().unwrap_or_else(dash),
                        r.identity.imei.clone().unwrap_or_else(dash),
                        num(r.rsrp_dbm),
                        num(r.sinr_db),
                        match (r.enb_id, r.cell_id) {
                            (Some(e), Some(c)) => format!("{e}/{c}"),
                            _ => dash(),
                        },
                        r.uptime_s.map(human_duration).unwrap_or_else(dash),
                        elapsed.as_millis().to_string(),
                    ]);
                }
                (outcome, _) => {
                    let e = outcome
                        .as_ref()
                        .err()
                        .cloned()
                        .unwrap_or_else(|| "the poll left no record".into());
                    failed += 1;
                    rows.push(vec![
                        t.address.to_string(),
                        "-".into(),
                        format!("error: {e}"),
                    ]);
                }
            }
        }
        failed_total += failed;
        println!(
            "cycle {cycle}: {} polled, {} ok, {failed} failed in {} ms",
            results.len(),
            results.len() - failed,
            started.elapsed().as_millis()
        );
        print!(
            "{}",
            table::render(
                &[
                    "ADDRESS", "DRIVER", "MODEL", "HOSTNAME", "MAC", "IMEI", "RSRP_DBM", "SINR_DB",
                    "ENB/CELL", "UPTIME", "POLL_MS"
                ],
                &rows
            )
        );
        println!();
        if args.cycles.is_some_and(|n| cycle >= n) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = super::shutdown_signal() => {
                println!("stopping");
                break;
            }
        }
    }
    writer.finish().await;
    Ok(if failed_total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {s}s")
    }
}
