//! Device polling: one device polled with the right driver ([`poll`]), every device's
//! current state ([`states`]) written behind to the store ([`persist`]), the schedule of
//! `run` ([`scheduler`]), and how a device is identified ([`fingerprint`]).

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
    /// No driver matched the device.
    #[error("no driver recognises {0} (is it reachable, and is a driver for it installed?)")]
    Unidentified(String),
    /// The named driver is not loaded.
    #[error("no loaded driver named {0:?}; see `efi-poller plugins list`")]
    UnknownDriver(String),
    /// The driver failed.
    #[error(transparent)]
    Run(#[from] RunError),
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
            let fp = fingerprint::fingerprint(host.runner.engines(), target).await;
            let (plugin, score) = fingerprint::choose_driver(&host.runner, &host.registry, &fp)
                .await
                .ok_or_else(|| PollError::Unidentified(target.address.to_string()))?;
            if score <= efi_plugin_api::FALLBACK_CONFIDENCE {
                tracing::warn!(
                    address = %target.address,
                    sys_descr = fp.sys_descr.as_deref().unwrap_or(""),
                    sys_object_id = fp.sys_object_id.as_deref().unwrap_or(""),
                    tr069_oui = fp.tr069_oui.as_deref().unwrap_or(""),
                    "unidentified device: no driver knows its model; {} polls its standard MIB only (install its vendor's driver for its radio fields)",
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
    let record = host.runner.collect(&plugin, target).await?;
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
        scheduler::Scheduler::new(schedule, poller.concurrency, fleet.refresh, gauges.clone());
    let deadline = Duration::from_secs(poller.deadline_secs.max(1));
    let summary = summarise_every_minute(devices.clone(), gauges);
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
