//! `efi-poller plan` and `efi-poller run`: the IPAM arbiter from the command line.

use crate::arbiter::planner::Plan;
use crate::arbiter::Arbiter;
use crate::cluster::Cluster;
use crate::config::{Config, PollerConfig, Secret, StoreConfig};
use crate::devices::DeviceStore;
use crate::host::Host;
use crate::sonar_poller::SonarPoller;
use crate::store::Store;
use clap::Args;
use efi_plugin_api::sink::ChangeAction;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Stop after this many cycles (default: until SIGTERM or Ctrl-C).
    #[arg(long)]
    pub cycles: Option<u64>,
}

async fn arbiter(config: Config, store: &Store) -> anyhow::Result<Arc<Arbiter>> {
    let host = Arc::new(tokio::task::spawn_blocking(move || Host::new(config)).await?);
    Ok(Arc::new(Arbiter::new(host, store)?))
}

/// One line per change.
pub fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes.changes {
        let line = match &c.action {
            ChangeAction::DeleteAssignment { assignment_id, ip } => {
                format!("delete assignment {assignment_id} of {ip}")
            }
            ChangeAction::CreateItem { model, fields } => format!(
                "create inventory item{} with {}",
                model
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default(),
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            ChangeAction::UpdateItemFields { item, fields, .. } => format!(
                "update {item:?}: {}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            ChangeAction::CreateAssignment { ip, item } => {
                format!("assign {ip} (soft) to {item:?}")
            }
            ChangeAction::AssignItem {
                item,
                address_id,
                account_id,
            } => {
                format!("deploy {item:?} at address {address_id} of account {account_id}")
            }
            other => format!("{other:?}"),
        };
        out.push_str(&format!("  {line}\n"));
    }
    out
}

fn summary(plan: &Plan) -> String {
    let s = &plan.stats;
    format!(
        "{} sessions: {} kept, {} to assign, {} to delete ({} moves), {} new items, {} field updates, {} account links",
        s.sessions, s.kept, s.assignments_created, s.assignments_deleted, s.moves, s.items_created, s.items_updated, s.items_linked
    )
}

/// `efi-poller plan`: what would change, writing nothing.
pub async fn plan(config: Config, args: PlanArgs) -> anyhow::Result<ExitCode> {
    // A dry run records nothing: its outbox is an in-memory database, not the store.
    let scratch = Store::open(&StoreConfig {
        url: Secret::new(":memory:".to_owned()),
        ..StoreConfig::default()
    })
    .await?;
    let arbiter = arbiter(config, &scratch).await?;
    let (plan, source_errors) = arbiter.plan().await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"plan": plan, "source_errors": source_errors})
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (source, e) in &source_errors {
        println!("source {source}: {e}");
    }
    println!("{}", summary(&plan));
    if let Some(reason) = &plan.held {
        println!("HELD (would not be applied): {reason}");
    }
    print!("{}", describe(&plan));
    for w in &plan.warnings {
        println!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `efi-poller run`: a full cycle every `arbiter.interval_secs`, an event cycle as soon as a
/// pushed event changes the picture, until stopped.
///
/// SIGHUP re-reads `file` and, when it is valid, restarts every part in this process with it
/// (plugins rescanned, sources, sink, listener, poller): polled state survives in the
/// store, pending plans in the outbox. An invalid file is reported with its line and the
/// running configuration kept.
pub async fn run(config: Config, args: RunArgs, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut hangup = Hangup::new();
    let mut config = config;
    loop {
        match run_until_reload(config, &args, file.as_deref(), &mut hangup).await? {
            Ended::Stopped => return Ok(ExitCode::SUCCESS),
            Ended::Reload(new) => {
                println!("reloading: restarting with the new configuration");
                config = *new;
            }
        }
    }
}

/// How one configuration's run ended.
enum Ended {
    /// Stopped (SIGTERM, Ctrl-C, `--cycles`).
    Stopped,
    /// SIGHUP with a valid file: run again with it.
    Reload(Box<Config>),
}

/// SIGHUP, where the platform has it.
struct Hangup(Option<tokio::signal::unix::Signal>);

impl Hangup {
    fn new() -> Hangup {
        Hangup(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
    }

    async fn recv(&mut self) {
        match self.0.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Reads the file again for a reload; the error names the file, line and key.
fn reread(file: Option<&std::path::Path>) -> Result<Config, String> {
    let file =
        file.ok_or("efi-poller runs on built-in defaults (no --config file): nothing to reload")?;
    let config = Config::load(file).map_err(|e| e.to_string())?;
    config.server.api_token().map_err(|e| e.to_string())?;
    Ok(config)
}

async fn run_until_reload(
    config: Config,
    args: &RunArgs,
    file: Option<&std::path::Path>,
    hangup: &mut Hangup,
) -> anyhow::Result<Ended> {
    let interval = Duration::from_secs(config.arbiter.interval_secs.max(1));
    let listen = config.server.listen;
    let poller = config.poller.clone();
    let shared = Arc::new(config.clone());
    // A token file that cannot be read stops the start, naming the key and the file.
    config.server.api_token().map_err(|e| anyhow::anyhow!(e))?;
    let sonar_poller = if config.sonar_poller.enabled {
        Some(Arc::new(
            SonarPoller::new(&config).map_err(|e| anyhow::anyhow!(e))?,
        ))
    } else {
        None
    };
    let store_config = config.store.clone();
    let cluster_config = config.cluster.clone();
    let tr069_config = config.tr069.clone();
    let devices = Arc::new(DeviceStore::default());
    let store = Store::open(&store_config).await?;
    let cluster = if cluster_config.enabled {
        let c = Cluster::join(&store, cluster_config).await?;
        println!(
            "cluster: this host is {:?}; {} live hosts",
            c.host_id(),
            c.view().live_hosts.len()
        );
        Some(c)
    } else {
        None
    };
    let store = store.with_poller_name(
        cluster
            .as_ref()
            .map_or_else(crate::cluster::hostname, |c| c.host_id().to_owned()),
    );
    let arbiter = arbiter(config, &store).await?;
    // In a cluster the store holds every host's devices: each host learns its share from
    // the cluster instead.
    let restored = if cluster.is_some() {
        Vec::new()
    } else {
        store.devices().await?
    };
    println!(
        "store: {} ({} devices from the last run)",
        store.describe(),
        restored.len()
    );
    let restored_addresses: Vec<std::net::IpAddr> = restored.iter().map(|d| d.address).collect();
    devices.restore(restored);
    let writer = crate::store::Writer::spawn(devices.clone(), store.clone(), store_config);
    let cluster_task = cluster.as_ref().map(|c| {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(c.clone().run(async move {
            let _ = stopped.await;
        }));
        (stop, task)
    });
    let sonar_poller_task = sonar_poller.as_ref().map(|p| {
        println!("sonar poller role: on");
        AbortOnDrop(tokio::spawn(p.clone().run(std::future::pending())))
    });
    let server = match listen {
        Some(addr) => {
            let app = crate::server::api_router(crate::server::Api {
                host: arbiter.host().clone(),
                config: shared,
                arbiter: Some(arbiter.clone()),
                devices: devices.clone(),
                store: Some(store.clone()),
                sonar_poller: sonar_poller.as_ref().map(|p| p.status()),
                cluster: cluster.clone(),
            });
            let listener = crate::server::Listener::start(app, addr).await?;
            println!(
                "listening on http://{} (dashboard at /dashboard/, webhooks at /webhooks/<source>, devices at /api/v1/devices)",
                listener.addr()
            );
            Some(listener)
        }
        None => None,
    };
    // Dropped (and so stopped) when this run ends; a reload starts a new one.
    let _tr069_proxy = match tr069_config.listen {
        Some(_) => {
            let proxy = crate::tr069::proxy::Proxy::start(
                &tr069_config,
                arbiter.host().runner.engines().tr069().clone(),
            )
            .await?;
            println!(
                "TR-069 snooping proxy on {} (CPEs' ACS URL: http://<this host>:{}/...), forwarding to the ACS at {}",
                proxy.addr(),
                proxy.addr().port(),
                tr069_config.acs.as_deref().unwrap_or("")
            );
            Some(proxy)
        }
        None => None,
    };
    let mut poll_task: Option<AbortOnDrop> = None;
    // Everything this run started, stopped in order: the listener first (finishing the
    // requests in flight), then the pollers, then one last write of polled state.
    // Leaving the cluster last hands this host's devices and role to the others at once.
    let stop_all = |server: Option<crate::server::Listener>,
                    poll_task: Option<AbortOnDrop>,
                    sonar_poller_task: Option<AbortOnDrop>,
                    writer: crate::store::Writer,
                    cluster_task: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>| async move {
        if let Some(s) = server {
            s.stop().await;
        }
        drop(poll_task);
        drop(sonar_poller_task);
        writer.finish().await;
        if let Some((stop, task)) = cluster_task {
            let _ = stop.send(());
            let _ = task.await;
        }
    };
    let mut n = 0u64;
    let mut full = true;
    // After retryable failures the next (event) cycle comes sooner: 5 s, doubling up to the
    // interval, back to the interval once a cycle has none.
    let mut retry_in: Option<Duration> = None;
    let mut was_leading = false;
    loop {
        // In a cluster only the holder of the arbiter role runs cycles; the others poll
        // their share of what it publishes.
        let leading = cluster.as_ref().is_none_or(|c| c.is_arbiter());
        if leading && !was_leading {
            // A new arbiter's live picture is empty: its first cycle pulls.
            full = true;
        }
        was_leading = leading;
        let result = if !leading {
            None
        } else if full {
            n += 1;
            Some(arbiter.cycle().await)
        } else {
            n += 1;
            Some(arbiter.event_cycle().await)
        };
        match result {
            None => {}
            Some(Ok(report)) => {
                retry_in = (report.retryable > 0)
                    .then(|| retry_in.map_or(Duration::from_secs(5), |d| (d * 2).min(interval)));
                let msg = summary(&report.plan);
                println!(
                    "cycle {n}: {msg}; applied {}, failed {}",
                    report.applied,
                    report.failed.len()
                );
                for (id, e) in &report.failed {
                    println!("  failed {id}: {e}");
                }
                if let Some(c) = &cluster {
                    if let Err(e) = c
                        .publish_targets(&arbiter.targets_in_use(poller.snmp_port, poller.web_port))
                        .await
                    {
                        tracing::warn!("cluster: the addresses in use were not published: {e}");
                    }
                }
            }
            Some(Err(e)) => {
                tracing::error!("cycle {n} failed: {e}");
                println!("cycle {n}: failed: {e}");
            }
        }
        // Device polling starts once the first cycle has filled the live picture.
        if poll_task.is_none() && poller.enabled && (leading || cluster.is_some()) {
            // Devices restored from the store that are no longer in use are forgotten now,
            // not kept as stale rows.
            let in_use: std::collections::HashSet<_> = arbiter
                .targets_in_use(poller.snmp_port, poller.web_port)
                .into_iter()
                .map(|t| t.address)
                .collect();
            for a in restored_addresses.iter().filter(|a| !in_use.contains(a)) {
                devices.forget(*a);
            }
            poll_task = Some(AbortOnDrop(tokio::spawn(poll_devices(
                arbiter.clone(),
                devices.clone(),
                poller.clone(),
                cluster.clone(),
            ))));
        }
        if args.cycles.is_some_and(|c| n >= c) {
            stop_all(server, poll_task, sonar_poller_task, writer, cluster_task).await;
            return Ok(Ended::Stopped);
        }
        tokio::select! {
            _ = tokio::time::sleep(retry_in.unwrap_or(interval)) => full = retry_in.is_none(),
            _ = role_changed(cluster.as_deref()) => {}
            _ = arbiter.changed() => {
                // Let a burst of events settle into one plan.
                tokio::time::sleep(Duration::from_millis(200)).await;
                full = false;
            }
            _ = super::shutdown_signal() => {
                println!("stopping");
                stop_all(server, poll_task, sonar_poller_task, writer, cluster_task).await;
                return Ok(Ended::Stopped);
            }
            _ = hangup.recv() => {
                match reread(file) {
                    Ok(new) => {
                        tracing::info!("SIGHUP: the configuration is valid; restarting with it");
                        stop_all(server, poll_task, sonar_poller_task, writer, cluster_task).await;
                        return Ok(Ended::Reload(Box::new(new)));
                    }
                    Err(e) => {
                        tracing::error!("SIGHUP: reload refused, the running configuration stays: {e}");
                        println!("reload refused, the running configuration stays: {e}");
                        full = false;
                    }
                }
            }
        }
    }
}

/// Resolves when this host gains or loses the arbiter role; never without a cluster.
async fn role_changed(cluster: Option<&Cluster>) {
    match cluster {
        Some(c) => c.role_changed().await,
        None => std::future::pending().await,
    }
}

/// Aborts its task when dropped (a run's background tasks end with the run).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Polls every address in use on the schedule of `[poller]` (each device every interval of
/// its group, ± jitter), forever; prints a summary line once a minute.
async fn poll_devices(
    arbiter: Arc<Arbiter>,
    devices: Arc<DeviceStore>,
    poller: PollerConfig,
    cluster: Option<Arc<Cluster>>,
) {
    let schedule = match crate::scheduler::Schedule::from_config(&poller) {
        Ok(s) => s,
        Err(e) => {
            // Config::parse checked it already; only a hand-built config gets here.
            tracing::error!("device polling is off: {e}");
            return;
        }
    };
    let gauges = devices.scheduler_gauges();
    // The list of addresses is read again every 5 s; in a cluster at every heartbeat, so a
    // dead host's devices are taken over as soon as its lease runs out.
    let refresh = cluster.as_ref().map_or(Duration::from_secs(5), |c| {
        c.heartbeat().min(Duration::from_secs(5))
    });
    let scheduler =
        crate::scheduler::Scheduler::new(schedule, poller.concurrency, refresh, gauges.clone());
    let deadline = Duration::from_secs(poller.deadline_secs.max(1));
    let _summary = {
        let devices = devices.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                let all = devices.list();
                let up = all.iter().filter(|d| d.up()).count();
                println!(
                    "devices: {} scheduled, {} up, {} down, {} polls started, lag {} ms",
                    gauges.scheduled.load(std::sync::atomic::Ordering::Relaxed),
                    up,
                    all.len() - up,
                    gauges.started.load(std::sync::atomic::Ordering::Relaxed),
                    gauges.lag_ms.load(std::sync::atomic::Ordering::Relaxed),
                );
            }
        }))
    };
    let poll = {
        let (devices, arbiter) = (devices.clone(), arbiter.clone());
        move |target: efi_plugin_api::Target, driver: Option<String>| {
            let devices = devices.clone();
            let arbiter = arbiter.clone();
            async move {
                devices
                    .poll_one(arbiter.host(), &target, driver.as_deref(), deadline)
                    .await
                    .ok()
            }
        }
    };
    // In a cluster: this host's share of what the arbiter publishes; a device that moves to
    // another host is dropped from memory only (the arbiter removes stored devices that
    // are no longer in use).
    let targets = {
        let arbiter = arbiter.clone();
        let cluster = cluster.clone();
        let (snmp_port, web_port) = (poller.snmp_port, poller.web_port);
        move || match &cluster {
            Some(c) => c.my_targets(),
            None => arbiter.targets_in_use(snmp_port, web_port),
        }
    };
    let forget = {
        let devices = devices.clone();
        let shared = cluster.is_some();
        move |address| {
            if shared {
                devices.forget_locally(address);
            } else {
                devices.forget(address)
            }
        }
    };
    scheduler
        .run(targets, forget, poll, std::future::pending())
        .await;
}
