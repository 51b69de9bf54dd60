//! Device polling: one device polled with the right driver ([`poll`]), every device's
//! current state ([`states`]) written behind to the store ([`persist`]), the schedule of
//! `run` ([`scheduler`]), and how a device is identified ([`fingerprint`]).

pub mod diagnose;
pub mod fingerprint;
pub mod persist;
pub mod scheduler;
pub mod states;

use crate::host::runner::RunError;
use crate::host::Host;
use crate::loader::LoadedPlugin;
use efi_plugin_api::{Confidence, DeviceRecord, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A finished poll.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    /// The driver that produced the record.
    pub driver: String,
    /// Its identification score (None when the driver was named explicitly).
    pub confidence: Option<Confidence>,
    /// The record.
    pub record: DeviceRecord,
    /// Wall-clock time of the poll.
    pub elapsed: Duration,
}

/// Why a poll produced no record.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PollError {
    /// No driver matched the device; `why` says what it answered (or did not).
    #[error("no driver recognises {address}: {why}")]
    Unidentified {
        /// The device.
        address: String,
        /// What identification heard.
        why: String,
        /// SNMP got no answer at all (a dead device and a wrong community look alike;
        /// [`diagnose`] tells them apart).
        snmp_silent: bool,
    },
    /// The named driver is not loaded.
    #[error("no loaded driver named {0:?}; see `efi-poller plugins list`")]
    UnknownDriver(String),
    /// The driver failed.
    #[error("driver {driver} failed: {error}")]
    Driver {
        /// The driver's plugin name.
        driver: String,
        /// What failed, as the runner or the driver said it.
        error: String,
    },
}

impl PollError {
    /// The stage that failed: `identify` (no driver recognised the device), `driver` (the
    /// named driver is not installed) or `collect` (the driver failed while polling).
    pub fn stage(&self) -> &'static str {
        match self {
            PollError::Unidentified { .. } => "identify",
            PollError::UnknownDriver(_) => "driver",
            PollError::Driver { .. } => "collect",
        }
    }

    /// True when the device gave no SNMP answer at all.
    pub fn snmp_silent(&self) -> bool {
        match self {
            PollError::Unidentified { snmp_silent, .. } => *snmp_silent,
            PollError::Driver { error, .. } => error.contains("no SNMP answer"),
            PollError::UnknownDriver(_) => false,
        }
    }

    fn from_run(driver: &str, e: RunError) -> PollError {
        PollError::Driver {
            driver: driver.to_owned(),
            // The runner's own words name the plugin already; the driver's do not.
            error: match e {
                RunError::Plugin { error, .. } => error.to_string(),
                other => other.to_string(),
            },
        }
    }
}

/// The driver `driver` names, or the one that identifies the device best (with its
/// score).
pub async fn choose_driver(
    host: &Host,
    target: &Target,
    driver: Option<&str>,
) -> Result<(Arc<LoadedPlugin>, Option<Confidence>), PollError> {
    Ok(match driver {
        Some(name) => (
            host.registry
                .get(name)
                .filter(|p| p.driver().is_some())
                .ok_or_else(|| PollError::UnknownDriver(name.to_owned()))?,
            None,
        ),
        None => {
            let (fp, heard) = fingerprint::fingerprint(host.runner.engines(), target).await;
            let (plugin, score) = fingerprint::choose_driver(&host.runner, &host.registry, &fp)
                .await
                .ok_or_else(|| PollError::Unidentified {
                    address: target.address.to_string(),
                    why: heard.why_unrecognised(&fp),
                    snmp_silent: heard
                        .snmp_error
                        .as_deref()
                        .is_some_and(|e| e.contains("no SNMP answer")),
                })?;
            if score <= efi_plugin_api::FALLBACK_CONFIDENCE {
                // `run` says so once per device (a few per minute, the rest counted: see
                // `states`); the fingerprint is here for whoever looks closer.
                tracing::debug!(
                    address = %target.address,
                    sys_descr = fp.sys_descr.as_deref().unwrap_or(""),
                    sys_object_id = fp.sys_object_id.as_deref().unwrap_or(""),
                    tr069_oui = fp.tr069_oui.as_deref().unwrap_or(""),
                    "unidentified device: only the fallback driver {} matched",
                    plugin.name()
                );
            }
            (plugin, Some(score))
        }
    })
}

/// Polls one device: identifies it (unless `driver` names one) and collects its record.
pub async fn poll(
    host: &Host,
    target: &Target,
    driver: Option<&str>,
) -> Result<PollOutcome, PollError> {
    let started = Instant::now();
    let (plugin, confidence) = choose_driver(host, target, driver).await?;
    let record = host
        .runner
        .collect(&plugin, target)
        .await
        .map_err(|e| PollError::from_run(plugin.name(), e))?;
    // Its group may depend on both: the credentials follow from now on.
    host.runner.engines().credentials().identified(
        target.address,
        plugin.name(),
        record.model.as_deref(),
    );
    Ok(PollOutcome {
        driver: plugin.name().to_owned(),
        confidence,
        record,
        elapsed: started.elapsed(),
    })
}

/// Where [`run`] finds the devices to poll.
pub struct Fleet<T> {
    /// Every address to poll now, read again every `refresh`.
    pub targets: T,
    /// How often `targets` is read (a dead cluster host's devices are taken over then).
    pub refresh: Duration,
    /// True in a cluster: a device that leaves this host's share moved to another host and
    /// is forgotten in memory only (the arbiter removes stored devices no longer in use).
    pub shared: bool,
}

/// Polls every device of `fleet` on the schedule of `[poller]` (each device every interval
/// of its group, ± jitter), forever; logs a summary line once a minute.
pub async fn run<T>(
    host: Arc<Host>,
    devices: Arc<states::DeviceStates>,
    poller: crate::config::PollerConfig,
    fleet: Fleet<T>,
) where
    T: FnMut() -> Vec<Target>,
{
    let schedule = match scheduler::Schedule::from_config(&poller) {
        Ok(s) => s,
        Err(e) => {
            // Config::parse checked it already; only a hand-built config gets here.
            tracing::error!("device polling is off: {e}");
            return;
        }
    };
    let gauges = devices.scheduler_gauges();
    let scheduler =
        scheduler::Scheduler::new(schedule, poller.concurrency, fleet.refresh, gauges.clone())
            .resuming(resumed(&devices));
    let deadline = Duration::from_secs(poller.deadline_secs.max(1));
    let summary = summarise_every_minute(devices.clone(), gauges);
    let engines = host.runner.engines().clone();
    let poll = {
        let devices = devices.clone();
        move |target: Target, driver: Option<String>| {
            let (devices, host) = (devices.clone(), host.clone());
            async move {
                devices
                    .poll_one(&host, &target, driver.as_deref(), deadline)
                    .await
                    .ok()
            }
        }
    };
    let forget = |address| {
        engines.credentials().forget(address);
        if fleet.shared {
            devices.forget_locally(address);
        } else {
            devices.forget(address)
        }
    };
    scheduler
        .run(fleet.targets, forget, poll, std::future::pending())
        .await;
    summary.abort();
}

/// What the last run knew of each device restored from the store: when it was polled and
/// what recognised it, so a restart carries on its schedule.
fn resumed(
    devices: &states::DeviceStates,
) -> std::collections::HashMap<std::net::IpAddr, scheduler::Resumed> {
    let now = crate::clock::now_unix_s();
    devices
        .list()
        .into_iter()
        .map(|d| {
            let seen = d
                .driver
                .clone()
                .filter(|_| d.last_error.is_none())
                .map(|driver| scheduler::Recognised {
                    driver,
                    model: d.record.as_ref().and_then(|r| r.model.clone()),
                });
            let age = Duration::from_secs(now.saturating_sub(d.polled_at_unix_s).max(0) as u64);
            (d.address, scheduler::Resumed { age, seen })
        })
        .collect()
}

/// `devices: S scheduled, U up, D down, P polls started, lag L ms`, once a minute.
fn summarise_every_minute(
    devices: Arc<states::DeviceStates>,
    gauges: Arc<scheduler::SchedulerGauges>,
) -> tokio::task::JoinHandle<()> {
    use std::sync::atomic::Ordering::Relaxed;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            let all = devices.list();
            let up = all.iter().filter(|d| d.up()).count();
            let unlogged = devices.take_unlogged_unidentified();
            if unlogged > 0 {
                tracing::warn!(
                    "{unlogged} more devices were found unidentified this minute (no driver knows their model; a fallback driver polls their standard MIB only): /api/v1/devices and the dashboard list them all, efi_devices_unidentified counts them"
                );
            }
            tracing::info!(
                "devices: {} scheduled, {} up, {} down, {} polls started, lag {} ms",
                gauges.scheduled.load(Relaxed),
                up,
                all.len() - up,
                gauges.started.load(Relaxed),
                gauges.lag_ms.load(Relaxed),
            );
        }
    })
}
