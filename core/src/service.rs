//! `efi-poller run` assembled: the store, the cluster membership, the arbiter and its cycle
//! schedule, the HTTP listener, the TR-069 proxy, Sonar's poller role and device polling,
//! started in that order and stopped in reverse; SIGHUP re-reads the configuration file and,
//! when it is valid, restarts all of it in this process with the new one.
//!
//! Restarting every part, rather than patching live ones, keeps one code path for start and
//! reload; what must survive a reload already lives in the store and the outbox.

use crate::arbiter::cycles::Cycles;
use crate::arbiter::Arbiter;
use crate::cluster::Cluster;
use crate::config::{Config, PollerConfig};
use crate::host::Host;
use crate::poller::persist::Writer;
use crate::poller::states::DeviceStates;
use crate::server::Listener;
use crate::sonar_poller::SonarPoller;
use crate::store::Store;
use crate::tr069::proxy::Proxy;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Runs until SIGTERM or Ctrl-C (or `cycles` arbiter cycles), reloading on SIGHUP.
pub async fn run(config: Config, cycles: Option<u64>, file: Option<PathBuf>) -> anyhow::Result<()> {
    // Both listen from here on: a signal that comes while the service starts, cycles or
    // reloads is kept until the loop looks, never lost.
    let mut hangup = Hangup::new();
    let mut shutdown = Shutdown::new();
    let mut config = config;
    loop {
        let service = tokio::select! {
            started = Service::start(config, file.as_deref()) => started?,
            _ = shutdown.recv() => {
                println!("stopping before the service had started");
                return Ok(());
            }
        };
        match service
            .run(cycles, file.as_deref(), &mut hangup, &mut shutdown)
            .await
        {
            Ended::Stopped => return Ok(()),
            Ended::Reload(new) => {
                println!("reloading: restarting with the new configuration");
                config = *new;
            }
        }
    }
}

/// The arbiter of `config`, on a host of its own, its outbox in `store`.
pub async fn arbiter(config: Config, store: &Store) -> anyhow::Result<Arc<Arbiter>> {
    Ok(Arc::new(Arbiter::new(host(config).await?, store)?))
}

/// A host for `config`: its plugins loaded (file I/O and `dlopen`, so off the runtime).
async fn host(config: Config) -> anyhow::Result<Arc<Host>> {
    Ok(Arc::new(
        tokio::task::spawn_blocking(move || Host::new(config)).await?,
    ))
}

/// How one configuration's run ended.
enum Ended {
    /// Stopped (SIGTERM, Ctrl-C, the cycle count).
    Stopped,
    /// SIGHUP with a valid file: run again with it.
    Reload(Box<Config>),
}

/// Everything one configuration's run started.
struct Service {
    arbiter: Arc<Arbiter>,
    cycles: Cycles,
    poller: PollerConfig,
    devices: Arc<DeviceStates>,
    /// Devices read back from the store, forgotten once the first cycle says they are no
    /// longer in use.
    restored: Vec<IpAddr>,
    cluster: Option<Arc<Cluster>>,
    writer: Writer,
    /// Writes the TR-069 cache to the store (and reads the other hosts' in a cluster).
    tr069_keeper: crate::tr069::persist::Keeper,
    listener: Option<Listener>,
    _tr069_proxy: Option<Proxy>,
    sonar_poller: Option<AbortOnDrop>,
    cluster_task: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    polling: Option<AbortOnDrop>,
}

impl Service {
    /// Starts every part of `config` (read from `file`); a part that cannot start stops the
    /// start, named.
    async fn start(config: Config, file: Option<&Path>) -> anyhow::Result<Service> {
        // What cannot run stops the start before anything is opened or created: what the
        // configuration lacks, then what `config check` finds (plugin settings, credential
        // sets, secret files, the log filter).
        Arbiter::check_config(&config)?;
        let host = host(config.clone()).await?;
        crate::preflight::verify(&config, &host.registry, file)?;
        // A token file that cannot be read stops the start, naming the key and the file.
        config.server.api_token().map_err(|e| anyhow::anyhow!(e))?;
        let sonar_poller = if config.sonar_poller.enabled {
            Some(Arc::new(
                SonarPoller::new(&config).map_err(|e| anyhow::anyhow!(e))?,
            ))
        } else {
            None
        };
        let shared = Arc::new(config.clone());
        let (store, cluster) = open_store(&config).await?;
        let arbiter = Arc::new(Arbiter::new(host, &store)?);
        let devices = Arc::new(DeviceStates::default());
        // In a cluster the store holds every host's devices: each host learns its share
        // from the cluster instead.
        let restored = if cluster.is_some() {
            Vec::new()
        } else {
            store.devices().await?
        };
        let tr069 = arbiter.host().runner.engines().tr069().clone();
        let (tr069_cpes, tr069_since) = crate::tr069::persist::restore(&tr069, &store).await?;
        println!(
            "store: {} ({} devices and {tr069_cpes} TR-069 CPEs from the last run)",
            store.describe(),
            restored.len()
        );
        let restored_addresses = restored.iter().map(|d| d.address).collect();
        devices.restore(restored);
        let writer = Writer::spawn(devices.clone(), store.clone(), config.store.clone());
        let tr069_keeper = crate::tr069::persist::Keeper::spawn(
            tr069,
            store.clone(),
            Duration::from_millis(config.store.flush_interval_ms),
            cluster.is_some(),
            tr069_since,
        );
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
        let listener = match config.server.listen {
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
                let listener = Listener::start_with(app, addr, config.server.tls.as_ref()).await?;
                println!(
                    "listening on {}://{} (dashboard at /dashboard/, webhooks at /webhooks/<source>, devices at /api/v1/devices)",
                    if config.server.tls.is_some() { "https" } else { "http" },
                    listener.addr()
                );
                Some(listener)
            }
            None => None,
        };
        let tr069_proxy = start_tr069_proxy(&config, arbiter.host()).await?;
        let cycles = Cycles::new(
            arbiter.clone(),
            cluster.clone(),
            Duration::from_secs(config.arbiter.interval_secs),
            (config.poller.snmp_port, config.poller.web_port),
        );
        Ok(Service {
            arbiter,
            cycles,
            poller: config.poller,
            devices,
            restored: restored_addresses,
            cluster,
            writer,
            tr069_keeper,
            listener,
            _tr069_proxy: tr069_proxy,
            sonar_poller: sonar_poller_task,
            cluster_task,
            polling: None,
        })
    }

    /// The arbiter's cycles until stopped or reloaded; device polling starts once the first
    /// cycle has filled the live picture.
    async fn run(
        mut self,
        limit: Option<u64>,
        file: Option<&Path>,
        hangup: &mut Hangup,
        shutdown: &mut Shutdown,
    ) -> Ended {
        loop {
            // A stop asked for during a cycle (a full pull of a large network takes seconds)
            // lets the cycle finish within STOP_GRACE, then stops: never a lost SIGTERM and a
            // SIGKILL from systemd 90 s later.
            let cycled = {
                let cycle = self.cycles.run_due();
                tokio::pin!(cycle);
                tokio::select! {
                    cycled = &mut cycle => Ok(cycled),
                    _ = shutdown.recv() => {
                        println!("stopping: letting the arbiter's running cycle finish (at most {} s)", STOP_GRACE.as_secs());
                        if tokio::time::timeout(STOP_GRACE, &mut cycle).await.is_err() {
                            println!("the cycle did not finish in time and was interrupted; the outbox has its plan and the next start plans again from Sonar's state");
                        }
                        Err(())
                    }
                }
            };
            let Ok(cycled) = cycled else {
                self.stop().await;
                return Ended::Stopped;
            };
            if let Some(cycled) = cycled {
                report(&cycled);
                if cycled.full {
                    // A full cycle built and dropped the whole picture of the network: hand
                    // what it freed back to the kernel (crate::memory says why).
                    tokio::task::spawn_blocking(crate::memory::release_free_memory);
                }
            }
            if self.polling.is_none()
                && self.poller.enabled
                && (self.cycles.leading() || self.cluster.is_some())
            {
                self.start_polling();
            }
            if limit.is_some_and(|n| self.cycles.count() >= n) {
                self.stop().await;
                return Ended::Stopped;
            }
            loop {
                tokio::select! {
                    _ = self.cycles.next() => break,
                    _ = shutdown.recv() => {
                        println!("stopping");
                        self.stop().await;
                        return Ended::Stopped;
                    }
                    _ = hangup.recv() => match reread(file) {
                        Ok(new) => {
                            tracing::info!("SIGHUP: the configuration is valid; restarting with it");
                            self.stop().await;
                            return Ended::Reload(Box::new(new));
                        }
                        Err(e) => {
                            tracing::error!("SIGHUP: reload refused, the running configuration stays: {e}");
                            println!("reload refused, the running configuration stays: {e}");
                        }
                    },
                }
            }
        }
    }

    /// Starts polling every address in use; devices restored from the store that are no
    /// longer in use are forgotten now, not kept as stale rows.
    fn start_polling(&mut self) {
        let subnets = self.arbiter.polled_subnets();
        tracing::info!(
            "polling the devices the EPC reports in {} every {} s ({}){}",
            subnets
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.poller.interval_secs,
            if self.poller.subnets.is_some() {
                "[poller] subnets"
            } else {
                "the managed subnets; [poller] subnets polls others"
            },
            if self.poller.groups.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} groups with their own settings",
                    self.poller.groups.len()
                )
            }
        );
        let in_use: std::collections::HashSet<IpAddr> = self
            .arbiter
            .targets_in_use(self.poller.snmp_port, self.poller.web_port)
            .into_iter()
            .map(|t| t.address)
            .collect();
        for a in self.restored.drain(..).filter(|a| !in_use.contains(a)) {
            self.devices.forget(a);
        }
        // In a cluster: this host's share of what the arbiter publishes, read at every
        // heartbeat so a dead host's devices are taken over as soon as its lease runs out.
        let (arbiter, cluster) = (self.arbiter.clone(), self.cluster.clone());
        let (snmp_port, web_port) = (self.poller.snmp_port, self.poller.web_port);
        let fleet = crate::poller::Fleet {
            refresh: cluster.as_ref().map_or(Duration::from_secs(5), |c| {
                c.heartbeat().min(Duration::from_secs(5))
            }),
            shared: cluster.is_some(),
            targets: move || match &cluster {
                Some(c) => c.my_targets(),
                None => arbiter.targets_in_use(snmp_port, web_port),
            },
        };
        self.polling = Some(AbortOnDrop(tokio::spawn(crate::poller::run(
            self.arbiter.host().clone(),
            self.devices.clone(),
            self.poller.clone(),
            fleet,
        ))));
    }

    /// Stops everything in order: the listener first (finishing the requests in flight),
    /// then the pollers, then one last write of polled state; leaving the cluster last hands
    /// this host's devices and role to the others at once.
    async fn stop(self) {
        if let Some(listener) = self.listener {
            listener.stop().await;
        }
        drop(self.polling);
        drop(self.sonar_poller);
        self.writer.finish().await;
        self.tr069_keeper.finish().await;
        if let Some((stop, task)) = self.cluster_task {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// Opens the store and, when `[cluster]` is on, joins the cluster; the store names this
/// host in what it records.
async fn open_store(config: &Config) -> anyhow::Result<(Store, Option<Arc<Cluster>>)> {
    let store = Store::open(&config.store).await?;
    let cluster = if config.cluster.enabled {
        let c = Cluster::join(&store, config.cluster.clone()).await?;
        println!(
            "cluster: this host is {:?}; {} live hosts",
            c.host_id(),
            c.view().live_hosts.len()
        );
        Some(c)
    } else {
        None
    };
    let name = cluster
        .as_ref()
        .map_or_else(crate::cluster::hostname, |c| c.host_id().to_owned());
    Ok((store.with_poller_name(name), cluster))
}

/// The TR-069 snooping proxy of `[tr069]`, when it listens.
async fn start_tr069_proxy(config: &Config, host: &Host) -> anyhow::Result<Option<Proxy>> {
    let t = &config.tr069;
    if t.listen.is_none() {
        return Ok(None);
    }
    let proxy = Proxy::start(t, host.runner.engines().tr069().clone()).await?;
    println!(
        "TR-069 snooping proxy on {} (CPEs' ACS URL: http://<this host>:{}/...), forwarding to the ACS at {}",
        proxy.addr(),
        proxy.addr().port(),
        t.acs.as_deref().unwrap_or("")
    );
    Ok(Some(proxy))
}

/// Changes of one cycle told one per line on stdout; the rest are counted (`plan` and
/// `/api/v1/plan` list them all).
const CHANGE_LINES_PER_CYCLE: usize = 10;

/// One line per cycle on stdout (the journal), what changed, and one line per failed change.
fn report(cycled: &crate::arbiter::cycles::Cycled) {
    let n = cycled.number;
    let kind = if cycled.full {
        "full pull"
    } else {
        "pushed events"
    };
    match &cycled.result {
        Ok(report) => {
            println!(
                "cycle {n} ({kind}): {}; applied {}, failed {}",
                report.plan.summary(),
                report.applied,
                report.failed.len()
            );
            let told = &report.plan.narrative;
            for line in told.iter().take(CHANGE_LINES_PER_CYCLE) {
                println!("  {line}");
            }
            if told.len() > CHANGE_LINES_PER_CYCLE {
                println!(
                    "  ... and {} more (efi-poller plan, /api/v1/plan)",
                    told.len() - CHANGE_LINES_PER_CYCLE
                );
            }
            for (id, e) in &report.failed {
                println!("  failed {id}: {e}");
            }
        }
        Err(e) => {
            tracing::error!("cycle {n} ({kind}) failed: {e}");
            println!("cycle {n} ({kind}): failed: {e}");
        }
    }
}

/// Reads the file again for a reload; the error names the file, line and key.
fn reread(file: Option<&Path>) -> Result<Config, String> {
    let file =
        file.ok_or("efi-poller runs on built-in defaults (no --config file): nothing to reload")?;
    let config = Config::load(file).map_err(|e| e.to_string())?;
    config.server.api_token().map_err(|e| e.to_string())?;
    Arbiter::check_config(&config).map_err(|e| e.to_string())?;
    // The new file's plugins and settings, checked before the running service is stopped.
    let registry =
        crate::loader::Registry::new(config.plugins.resolved_dir(), Arc::new(config.clone()));
    registry.rescan();
    crate::preflight::verify(&config, &registry, Some(file)).map_err(|e| e.to_string())?;
    Ok(config)
}

/// SIGHUP, where the platform has it.
/// One Unix signal, listened for from its creation on: a signal that comes before
/// [`SignalListener::recv`] is awaited is kept for it. Never resolves where the signal cannot be
/// listened for.
struct SignalListener(Option<tokio::signal::unix::Signal>);

impl SignalListener {
    fn new(kind: tokio::signal::unix::SignalKind) -> SignalListener {
        SignalListener(tokio::signal::unix::signal(kind).ok())
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

/// SIGHUP: re-read the configuration.
struct Hangup(SignalListener);

impl Hangup {
    fn new() -> Hangup {
        Hangup(SignalListener::new(
            tokio::signal::unix::SignalKind::hangup(),
        ))
    }

    async fn recv(&mut self) {
        self.0.recv().await
    }
}

/// How long a stop waits for a running arbiter cycle; systemd's own wait is 90 s.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// SIGTERM and Ctrl-C (SIGINT), listened for from its creation on: a signal that comes
/// before [`Shutdown::recv`] is awaited is kept for it, not lost.
pub struct Shutdown {
    term: SignalListener,
    interrupt: SignalListener,
}

impl Shutdown {
    /// Starts listening.
    pub fn new() -> Shutdown {
        use tokio::signal::unix::SignalKind;
        Shutdown {
            term: SignalListener::new(SignalKind::terminate()),
            interrupt: SignalListener::new(SignalKind::interrupt()),
        }
    }

    /// Resolves once either signal has come (at once if one came already).
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

/// Resolves on Ctrl-C or SIGTERM, listening from its first poll.
pub async fn shutdown_signal() {
    Shutdown::new().recv().await
}

/// Aborts its task when dropped (a run's background tasks end with the run).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
