//! The IPAM arbiter: pulls the sources, reads the sink, plans, records the plan in the
//! outbox and applies it, one cycle at a time. Rules: docs/ipam.md.

pub mod cycles;
pub mod identity;
pub mod live;
mod metrics;
pub mod names;
pub mod narrate;
pub mod outbox;
pub mod planner;
pub mod warnings;

use crate::host::runner::RunError;
use crate::host::Host;
use crate::loader::LoadedPlugin;
use crate::store::Store;
use efi_plugin_api::host::{SinkInstance, SourceInstance};
use efi_plugin_api::sink::{ChangeOutcome, SinkSnapshot};
use efi_plugin_api::source::{PushRequest, Session, SessionBatch};
use efi_plugin_api::Target;
use ipnet::IpNet;
use live::{EventOutcome, LiveState};
use outbox::{EventLog, EventRow, Outbox};
use parking_lot::Mutex;
use planner::{Plan, Rules};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Why the arbiter cannot start or a cycle could not plan.
#[derive(Debug, thiserror::Error)]
pub enum ArbiterError {
    /// Configuration that cannot work, naming the key.
    #[error("{0}")]
    Config(String),
    /// The sink could not be read: nothing can be planned.
    #[error("reading the sink failed: {0}")]
    Snapshot(RunError),
    /// The outbox could not be written: nothing is applied.
    #[error("{0}")]
    Outbox(String),
}

struct SourceHandle {
    name: String,
    plugin: Arc<LoadedPlugin>,
    instance: SourceInstance,
}

/// Why a pushed event was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// No source of that name accepts pushes.
    #[error("no source named {0:?} accepts pushes")]
    UnknownSource(String),
    /// The body could not be understood (the plugin's reason).
    #[error("{0}")]
    Malformed(String),
    /// The body is in a format the source does not read (its Content-Type).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The event could not be made durable; the sender should retry.
    #[error("{0}")]
    Storage(String),
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushOutcome {
    /// Events that changed the picture.
    pub applied: usize,
    /// Duplicates and detaches of what was gone.
    pub unchanged: usize,
    /// Events older than what is known.
    pub stale: usize,
}

/// The result of one cycle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CycleReport {
    /// The plan.
    pub plan: Plan,
    /// Changes applied.
    pub applied: usize,
    /// Changes that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// How many of the failures may succeed on a retry (Sonar overloaded or unreachable).
    pub retryable: usize,
    /// Sources that failed, with the reason.
    pub source_errors: Vec<(String, String)>,
}

/// The arbiter of one host.
pub struct Arbiter {
    host: Arc<Host>,
    sources: Vec<SourceHandle>,
    sink_plugin: Arc<LoadedPlugin>,
    sink: SinkInstance,
    managed: Vec<IpNet>,
    /// The subnets whose devices are polled ([`crate::config::Config::polled_subnets`]).
    polled: Vec<IpNet>,
    outbox: Outbox,
    /// Random per arbiter, in plan IDs: arbiters of a cluster share the outbox, and their
    /// clocks need not agree.
    instance: String,
    seq: AtomicU64,
    live: Mutex<LiveState>,
    changed: Notify,
    /// Serialises cycles: an event cycle and a full cycle never interleave.
    cycle_lock: tokio::sync::Mutex<()>,
    events: EventLog,
    stats: Mutex<ArbiterStats>,
    last_cycle: Mutex<Option<LastCycle>>,
    /// The warnings of the last cycle, so the log reports each when it starts and ends.
    conditions: Mutex<warnings::Conditions>,
}

/// The latest cycle, for the REST API and the dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastCycle {
    /// When it ended (Unix seconds).
    pub at_unix_s: i64,
    /// "full" (pulled every source) or "event" (pushed events only).
    pub kind: &'static str,
    /// What it planned, applied and failed; absent when the cycle itself failed.
    pub report: Option<CycleReport>,
    /// Why the cycle failed.
    pub error: Option<String>,
}

/// Counters behind `/metrics`.
#[derive(Debug, Clone, Default)]
struct ArbiterStats {
    full_cycles: u64,
    event_cycles: u64,
    failed_cycles: u64,
    applied: u64,
    failed: u64,
    last_kept: u64,
    last_applied: u64,
    last_failed: u64,
    held_plans: u64,
    /// (source, result) → count
    pushes: std::collections::BTreeMap<(String, &'static str), u64>,
}

/// Tasks of sources and sinks talk to services by URL, not to a device.
fn service_target() -> Target {
    Target::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

impl Arbiter {
    /// Creates the source and sink instances named in the config; the outbox and the push
    /// journal are in `store`. Starts the journal's writer, so it needs a Tokio runtime.
    pub fn new(host: Arc<Host>, store: &Store) -> Result<Arbiter, ArbiterError> {
        let config = host.config.clone();
        if let Some(old) = &config.arbiter.outbox {
            tracing::warn!(
                "arbiter.outbox ({}) is ignored: the outbox now lives in the store ({}); pending plans in the old file are planned again from Sonar's state",
                old.display(),
                store.describe()
            );
        }
        Arbiter::check_config(&config)?;
        let managed = config
            .arbiter
            .managed_subnets
            .iter()
            .map(|s| {
                crate::config::parse_subnet(s)
                    .map_err(|e| ArbiterError::Config(format!("arbiter.managed_subnets: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plugin = |kind: &str, name: &str| {
            host.registry.get(name).ok_or_else(|| {
                ArbiterError::Config(format!(
                    "{kind} plugin {name:?} is not loaded from {} (see `efi-poller plugins list`)",
                    host.registry.dir().display()
                ))
            })
        };
        let mut sources = Vec::new();
        for s in &config.sources {
            let p = plugin(&format!("source {:?}", s.name), &s.plugin)?;
            let settings = toml::to_string(&s.settings).unwrap_or_default();
            let instance = p.library().new_source(&settings).map_err(|e| {
                ArbiterError::Config(format!("source {:?} (plugin {}): {e}", s.name, s.plugin))
            })?;
            sources.push(SourceHandle {
                name: s.name.clone(),
                plugin: p,
                instance,
            });
        }
        let sink_cfg = config
            .sink
            .as_ref()
            .ok_or_else(|| ArbiterError::Config("no [sink] configured (Sonar)".into()))?;
        let sink_plugin = plugin("sink", &sink_cfg.plugin)?;
        let sink = sink_plugin
            .library()
            .new_sink(&Arbiter::sink_settings(&config, sink_cfg))
            .map_err(|e| ArbiterError::Config(format!("sink (plugin {}): {e}", sink_cfg.plugin)))?;
        let outbox = Outbox::new(store);
        let events = EventLog::start(store);
        Ok(Arbiter {
            host,
            sources,
            sink_plugin,
            sink,
            managed,
            polled: config.polled_subnets(),
            outbox,
            instance: format!("{:08x}", rand::random::<u32>()),
            seq: AtomicU64::new(0),
            live: Mutex::new(LiveState::default()),
            changed: Notify::new(),
            cycle_lock: tokio::sync::Mutex::new(()),
            events,
            stats: Mutex::new(ArbiterStats::default()),
            last_cycle: Mutex::new(None),
            conditions: Mutex::new(warnings::Conditions::default()),
        })
    }

    /// The sink's settings as its plugin gets them: `[sink] settings` with the managed
    /// subnets of `[arbiter]` (the sink reads and changes only assignments inside them).
    pub fn sink_settings(
        config: &crate::config::Config,
        sink: &crate::config::SinkConfig,
    ) -> String {
        let mut settings = sink.settings.clone();
        settings.insert(
            "managed_subnets".into(),
            toml::Value::Array(
                config
                    .arbiter
                    .managed_subnets
                    .iter()
                    .map(|s| toml::Value::String(s.clone()))
                    .collect(),
            ),
        );
        toml::to_string(&settings).unwrap_or_default()
    }

    /// What the configuration lacks for the arbiter to run at all, every part at once: an
    /// EPC to read (`[[sources]]`), Sonar (`[sink]`), the subnets it owns
    /// (`arbiter.managed_subnets`), and authentication on every webhook.
    pub fn check_config(config: &crate::config::Config) -> Result<(), ArbiterError> {
        let mut missing = Vec::new();
        if config.sources.is_empty() {
            missing.push("no [[sources]] configured (the EPC to read)".to_owned());
        }
        if config.sink.is_none() {
            missing.push("no [sink] configured (Sonar)".to_owned());
        }
        if config.arbiter.managed_subnets.is_empty() {
            missing.push(
                "arbiter.managed_subnets is empty: say which subnets' soft assignments this tool owns"
                    .to_owned(),
            );
        }
        if let Err(e) = crate::config::check::check_webhooks(config) {
            missing.push(e);
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ArbiterError::Config(missing.join("; ")))
        }
    }

    /// Resolves when a pushed event changed the picture (the run loop then plans at once).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Accepts a pushed request for source `name`: the plugin parses it, it is written to the
    /// durable event log, the events update the live picture, and the run loop is woken.
    /// Resolves only once the event is on disk.
    pub async fn push(&self, name: &str, request: &PushRequest) -> Result<PushOutcome, PushError> {
        let source = self
            .sources
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| PushError::UnknownSource(name.to_owned()))?;
        let parsed = source.instance.parse_push(request);
        if parsed.is_err() {
            self.count_push(name, "malformed");
        }
        let events = parsed.map_err(|e| match e.kind {
            efi_plugin_api::ErrorKind::Unsupported => PushError::UnsupportedMediaType(e.message),
            _ => PushError::Malformed(e.message),
        })?;
        self.events
            .append(EventRow {
                source: name.to_owned(),
                received_us: crate::clock::now_unix_us(),
                body: request.body.clone(),
            })
            .await
            .map_err(PushError::Storage)?;
        let mut outcome = PushOutcome::default();
        {
            let mut live = self.live.lock();
            for e in &events {
                match live.apply(name, e) {
                    EventOutcome::Applied => outcome.applied += 1,
                    EventOutcome::Unchanged => outcome.unchanged += 1,
                    EventOutcome::Stale => outcome.stale += 1,
                }
            }
        }
        if outcome.applied > 0 {
            self.changed.notify_one();
        }
        self.count_push(name, "accepted");
        Ok(outcome)
    }

    /// The outbox (counts, recent plans and their changes).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The host the arbiter runs on.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The live picture: every source's sessions, and whether every source's picture is
    /// complete.
    pub fn live_sessions(&self) -> (Vec<Session>, bool) {
        self.live.lock().sessions()
    }

    /// The subnets whose devices are polled (`[poller] subnets`, by default the managed
    /// ones).
    pub fn polled_subnets(&self) -> &[IpNet] {
        &self.polled
    }

    /// The devices to poll: one target per address in use in the live picture and inside
    /// the polled subnets, carrying the identifiers the EPC knows, on the given SNMP and web
    /// ports.
    pub fn targets_in_use(&self, snmp_port: u16, web_port: u16) -> Vec<Target> {
        let (sessions, _) = self.live_sessions();
        let mut targets: std::collections::BTreeMap<IpAddr, Target> = Default::default();
        for s in sessions.into_iter().filter(|s| s.connected) {
            let Some(ip) = s.ip else { continue };
            if !self.polled.iter().any(|n| n.contains(&ip)) {
                continue;
            }
            let mut t = Target::new(ip);
            t.snmp_port = snmp_port;
            t.web_port = web_port;
            t.known = s.identity;
            targets.insert(ip, t);
        }
        targets.into_values().collect()
    }

    /// Pulls every source into the live picture; returns the whole picture, whether it is
    /// complete, and the sources that failed.
    pub async fn pull(&self) -> (Vec<Session>, bool, Vec<(String, String)>) {
        let mut errors = Vec::new();
        // Failures of information-only sources (an ACS) are reported but never hold back
        // the EPC's detaches.
        let mut deciding_failed = false;
        for s in &self.sources {
            let informs_only = s.plugin.info().information_only;
            let started = crate::clock::now_unix_us();
            let result: Result<SessionBatch, RunError> = match s.instance.poll() {
                Ok(task) => {
                    self.host
                        .runner
                        .run_service(&s.plugin, task, &service_target())
                        .await
                }
                Err(error) => Err(RunError::Plugin {
                    plugin: s.plugin.name().to_owned(),
                    error,
                }),
            };
            match result {
                Ok(batch) if informs_only => {
                    let cache = self.host.runner.engines().tr069();
                    let now = crate::clock::now_unix_ms() as u64;
                    let unaddressed = batch
                        .acs_devices
                        .iter()
                        .filter(|d| d.address.is_none())
                        .count();
                    for d in &batch.acs_devices {
                        cache.record_acs_device(d, now);
                    }
                    tracing::debug!(source = %s.name, devices = batch.acs_devices.len(), unaddressed, "information source read into the TR-069 cache");
                    if !batch.complete {
                        errors.push((
                            s.name.clone(),
                            "the source answered only in part".to_owned(),
                        ));
                    }
                }
                Ok(batch) => {
                    if !batch.complete {
                        deciding_failed = true;
                        errors.push((
                            s.name.clone(),
                            "the source answered only in part".to_owned(),
                        ));
                    }
                    tracing::debug!(source = %s.name, sessions = batch.sessions.len(), "source pulled");
                    self.live
                        .lock()
                        .replace(&s.name, batch.sessions, batch.complete, started);
                }
                Err(e) if informs_only => {
                    tracing::warn!(source = %s.name, "information source pull failed (IPAM goes on without it): {e}");
                    errors.push((s.name.clone(), e.to_string()));
                }
                Err(e) => {
                    deciding_failed = true;
                    tracing::warn!(source = %s.name, "source pull failed: {e}");
                    self.live.lock().pull_failed(&s.name);
                    errors.push((s.name.clone(), e.to_string()));
                }
            }
        }
        let (sessions, complete) = self.live.lock().sessions();
        (sessions, complete && !deciding_failed, errors)
    }

    /// Reads the sink.
    pub async fn snapshot(&self) -> Result<SinkSnapshot, ArbiterError> {
        let task = self.sink.snapshot().map_err(|error| {
            ArbiterError::Snapshot(RunError::Plugin {
                plugin: self.sink_plugin.name().to_owned(),
                error,
            })
        })?;
        self.host
            .runner
            .run_service(&self.sink_plugin, task, &service_target())
            .await
            .map_err(ArbiterError::Snapshot)
    }

    fn next_plan_id(&self) -> String {
        let ms = crate::clock::now_unix_ms();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("plan-{ms}-{}-{seq}", self.instance)
    }

    /// Plans against the current state without changing anything (pulls the sources first).
    pub async fn plan(&self) -> Result<(Plan, Vec<(String, String)>), ArbiterError> {
        self.plan_with(true).await
    }

    async fn plan_with(&self, pull: bool) -> Result<(Plan, Vec<(String, String)>), ArbiterError> {
        let (sessions, complete, source_errors) = if pull {
            self.pull().await
        } else {
            let (s, c) = self.live.lock().sessions();
            (s, c, Vec::new())
        };
        let snapshot = self.snapshot().await?;
        let rules = Rules {
            managed: &self.managed,
            config: &self.host.config.arbiter,
            complete,
            plan_id: self.next_plan_id(),
        };
        let mut plan = planner::plan(&sessions, &snapshot, &rules);
        plan.sources = self.sessions_by_source();
        Ok((plan, source_errors))
    }

    /// Sessions with an address per source, and how many of them are outside the managed
    /// subnets.
    fn sessions_by_source(&self) -> Vec<planner::SourceSessions> {
        let live = self.live.lock();
        let mut out: Vec<planner::SourceSessions> = live
            .by_source()
            .map(|(name, sessions)| {
                let addresses: Vec<IpAddr> = sessions.filter_map(|s| s.ip).collect();
                planner::SourceSessions {
                    source: name.to_owned(),
                    sessions: addresses.len(),
                    outside_managed: addresses
                        .iter()
                        .filter(|ip| !self.managed.iter().any(|n| n.contains(*ip)))
                        .count(),
                }
            })
            .collect();
        // A deciding source that has reported nothing yet is listed too.
        for s in &self.sources {
            if !out.iter().any(|o| o.source == s.name) && !s.plugin.info().information_only {
                out.push(planner::SourceSessions {
                    source: s.name.clone(),
                    ..Default::default()
                });
            }
        }
        out
    }

    /// One full cycle: pull, plan, record, apply, acknowledge.
    pub async fn cycle(&self) -> Result<CycleReport, ArbiterError> {
        self.cycle_with(true).await
    }

    /// A cycle on the live picture, without pulling (after pushed events).
    pub async fn event_cycle(&self) -> Result<CycleReport, ArbiterError> {
        self.cycle_with(false).await
    }

    async fn cycle_with(&self, pull: bool) -> Result<CycleReport, ArbiterError> {
        let result = self.cycle_inner(pull).await;
        let journal_days = self.host.config.store.journal_days;
        if pull && journal_days > 0 {
            if let Err(e) = self.outbox.prune(journal_days).await {
                tracing::warn!("old plans and pushed events not pruned: {e}");
            }
        }
        let mut st = self.stats.lock();
        if pull {
            st.full_cycles += 1;
        } else {
            st.event_cycles += 1;
        }
        match &result {
            Ok(r) => {
                st.applied += r.applied as u64;
                st.failed += r.failed.len() as u64;
                st.last_applied = r.applied as u64;
                st.last_failed = r.failed.len() as u64;
                st.last_kept = r.plan.stats.kept as u64;
                st.held_plans += u64::from(r.plan.held.is_some());
            }
            Err(_) => st.failed_cycles += 1,
        }
        drop(st);
        *self.last_cycle.lock() = Some(LastCycle {
            at_unix_s: crate::clock::now_unix_us() / 1_000_000,
            kind: if pull { "full" } else { "event" },
            report: result.as_ref().ok().cloned(),
            error: result.as_ref().err().map(|e| e.to_string()),
        });
        result
    }

    /// The latest cycle: its plan and what became of it.
    pub fn last_cycle(&self) -> Option<LastCycle> {
        self.last_cycle.lock().clone()
    }

    /// Counts a webhook refused before parsing (authentication, sender address).
    pub fn count_refused(&self, source: &str) {
        self.count_push(source, "refused");
    }

    fn count_push(&self, source: &str, result: &'static str) {
        *self
            .stats
            .lock()
            .pushes
            .entry((source.to_owned(), result))
            .or_default() += 1;
    }

    async fn cycle_inner(&self, pull: bool) -> Result<CycleReport, ArbiterError> {
        let _one_at_a_time = self.cycle_lock.lock().await;
        // An event about a UE nobody has seen yet: pull, to learn its IMEI and name.
        let pull = pull || self.live.lock().needs_pull();
        let superseded = self
            .outbox
            .supersede_unfinished()
            .await
            .map_err(|e| ArbiterError::Outbox(e.to_string()))?;
        if superseded > 0 {
            tracing::warn!(
                plans = superseded,
                "an earlier plan was interrupted; planning again from Sonar's current state"
            );
        }
        let (plan, source_errors) = self.plan_with(pull).await?;
        // Each condition when it starts and ends, one summary per cycle; never one line per
        // CPE per cycle.
        let lines = self.conditions.lock().cycle(&plan.warnings);
        for l in &lines.started {
            tracing::warn!("{l}");
        }
        for l in &lines.ended {
            tracing::info!("{l}");
        }
        if let Some(summary) = &lines.summary {
            tracing::warn!("{summary}");
        }
        let mut report = CycleReport {
            plan,
            applied: 0,
            failed: Vec::new(),
            retryable: 0,
            source_errors,
        };
        if let Some(reason) = &report.plan.held {
            tracing::error!("plan held, nothing applied: {reason}");
            self.outbox
                .record_held(&report.plan.changes, reason)
                .await
                .map_err(|e| ArbiterError::Outbox(e.to_string()))?;
            return Ok(report);
        }
        if report.plan.changes.changes.is_empty() {
            return Ok(report);
        }
        self.outbox
            .record(&report.plan.changes)
            .await
            .map_err(|e| ArbiterError::Outbox(e.to_string()))?;
        let applied = match self.sink.apply(&report.plan.changes) {
            Ok(task) => {
                self.host
                    .runner
                    .run_service(&self.sink_plugin, task, &service_target())
                    .await
            }
            Err(error) => Err(RunError::Plugin {
                plugin: self.sink_plugin.name().to_owned(),
                error,
            }),
        };
        let results = match applied {
            Ok(r) => r.results,
            Err(e) => {
                tracing::error!("applying the plan failed: {e}");
                Vec::new()
            }
        };
        self.outbox
            .acknowledge(&report.plan.changes.plan_id, &results)
            .await
            .map_err(|e| ArbiterError::Outbox(e.to_string()))?;
        for r in &results {
            match &r.outcome {
                ChangeOutcome::Applied { .. } => report.applied += 1,
                ChangeOutcome::Failed { error, retryable } => {
                    report.retryable += usize::from(*retryable);
                    report.failed.push((r.change_id.clone(), error.clone()));
                }
            }
        }
        let reported: std::collections::HashSet<&str> =
            results.iter().map(|r| r.change_id.as_str()).collect();
        for c in &report.plan.changes.changes {
            if !reported.contains(c.id.as_str()) {
                report.retryable += 1;
                report.failed.push((c.id.clone(), "not applied".into()));
            }
        }
        tracing::info!(
            applied = report.applied,
            failed = report.failed.len(),
            kept = report.plan.stats.kept,
            "cycle applied"
        );
        Ok(report)
    }
}
