//! The current state of every polled device: the last record, the driver that produced it
//! and the last error, kept for the REST API and `/metrics`; and the poll of one device
//! that fills it.

use super::scheduler::Recognised;
use crate::host::Host;
use crate::metrics::{counters, gauge, gauges, LabelValue};
use crate::store::{DeviceState, DeviceWrite};
use efi_plugin_api::{DeviceRecord, Target};
use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Polls by driver and result ("ok" | "failed"); a device no driver recognised counts under
/// the driver "".
type Polls = Family<[(&'static str, LabelValue); 2], Counter>;

/// How long polls took, by driver.
type Durations = Family<[(&'static str, LabelValue); 1], Histogram, fn() -> Histogram>;

/// Every device's current state, by address, and the poller's own counters.
#[derive(Debug)]
pub struct DeviceStates {
    devices: RwLock<BTreeMap<IpAddr, DeviceState>>,
    polls: Polls,
    durations: Durations,
    schedule: std::sync::Arc<crate::poller::scheduler::SchedulerGauges>,
    /// What is waiting to be written to the durable store; `None` while nothing persists.
    persist: Mutex<Option<std::collections::VecDeque<DeviceWrite>>>,
    persist_gauges: PersistGauges,
    /// Newly unidentified devices: (logged one by one this minute, counted only).
    unidentified_news: Mutex<(usize, usize)>,
}

/// Newly unidentified devices logged one by one per minute; the rest are counted in the
/// minute's summary line, so a fleet of unknown CPEs cannot flood the journal.
const UNIDENTIFIED_LINES_PER_MINUTE: usize = 5;

impl Default for DeviceStates {
    fn default() -> Self {
        DeviceStates {
            devices: RwLock::default(),
            polls: Polls::default(),
            durations: Durations::new_with_constructor(duration_histogram),
            schedule: Default::default(),
            persist: Mutex::default(),
            persist_gauges: PersistGauges::default(),
            unidentified_news: Mutex::default(),
        }
    }
}

/// Upper bounds (seconds) of the poll duration histogram's buckets.
const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Most writes kept while the store is unreachable; the oldest go first beyond it.
const MAX_PERSIST_QUEUE: usize = 200_000;

/// Counters of the writes to the durable store, for `/metrics`.
#[derive(Debug, Default)]
pub struct PersistGauges {
    flushes_ok: AtomicU64,
    flushes_failed: AtomicU64,
    dropped: AtomicU64,
}

impl PersistGauges {
    /// Counts one flush.
    pub fn record_flush(&self, ok: bool) {
        let c = if ok {
            &self.flushes_ok
        } else {
            &self.flushes_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A change of a device's state worth one log line.
#[derive(Debug, PartialEq, Eq)]
enum Transition {
    /// It answered before and does not now.
    Failing,
    /// A device seen for the first time (or never polled successfully) fails.
    FirstFailure,
    /// It failed before and answers now.
    Recovered,
}

/// `was`: `None` for a device polled for the first time, else whether its last poll
/// succeeded. Repeated failures (and repeated successes) are no change.
fn transition(was: Option<bool>, ok_now: bool) -> Option<Transition> {
    match (was, ok_now) {
        (Some(true), false) => Some(Transition::Failing),
        (Some(false), true) => Some(Transition::Recovered),
        (None, false) => Some(Transition::FirstFailure),
        _ => None,
    }
}

/// Whether the previous poll of a device succeeded; `None` for a device not polled yet.
fn previous_outcome(state: Option<&DeviceState>) -> Option<bool> {
    state.map(DeviceState::up)
}

impl DeviceStates {
    /// Polls one device (with the driver that last recognised it, if any), within
    /// `deadline`, and records the outcome; returns the driver that produced the record.
    pub async fn poll_one(
        &self,
        host: &Host,
        target: &Target,
        known_driver: Option<&str>,
        deadline: std::time::Duration,
    ) -> Result<Recognised, String> {
        let address = target.address;
        let began = std::time::Instant::now();
        // A device that keeps a poll busy past its deadline is failed, so one slow CPE
        // cannot hold a slot for long.
        let outcome =
            match tokio::time::timeout(deadline, super::poll(host, target, known_driver)).await {
                Ok(outcome) => outcome.map_err(|e| e.to_string()),
                Err(_) => Err(format!(
                    "the poll did not finish within its deadline of {} s",
                    deadline.as_secs_f64()
                )),
            };
        let now = crate::clock::now_unix_s();
        let driver = match &outcome {
            Ok(o) => o.driver.clone(),
            Err(_) => known_driver.unwrap_or_default().to_owned(),
        };
        let result = if outcome.is_ok() { "ok" } else { "failed" };
        self.durations
            .get_or_create(&[("driver", LabelValue(driver.clone()))])
            .observe(began.elapsed().as_secs_f64());
        self.polls
            .get_or_create(&[
                ("driver", LabelValue(driver)),
                ("result", LabelValue(result.to_owned())),
            ])
            .inc();
        let mut devices = self.devices.write();
        let was = previous_outcome(devices.get(&address));
        let entry = devices.entry(address).or_insert_with(|| DeviceState {
            address,
            driver: None,
            record: None,
            polled_at_unix_s: now,
            last_ok_unix_s: None,
            last_error: None,
            unidentified: false,
        });
        entry.polled_at_unix_s = now;
        // Logged once per change of state, not once per failed poll.
        match (transition(was, outcome.is_ok()), &outcome) {
            (Some(Transition::Failing), Err(e)) => {
                tracing::warn!(%address, "device stopped answering: {e}")
            }
            (Some(Transition::FirstFailure), Err(e)) => {
                tracing::warn!(%address, "device cannot be polled: {e}")
            }
            (Some(Transition::Recovered), _) => {
                tracing::info!(%address, "device answers again")
            }
            _ => {}
        }
        let result = match outcome {
            Ok(o) => {
                // A fresh identification says; a reused driver keeps what the last one said.
                if let Some(score) = o.confidence {
                    let unidentified = score <= efi_plugin_api::FALLBACK_CONFIDENCE;
                    if unidentified && !entry.unidentified {
                        self.newly_unidentified(address, &o.driver);
                    }
                    entry.unidentified = unidentified;
                }
                let seen = Recognised {
                    driver: o.driver.clone(),
                    model: o.record.model.clone(),
                };
                entry.driver = Some(o.driver);
                entry.record = Some(o.record);
                entry.last_ok_unix_s = Some(now);
                entry.last_error = None;
                Ok(seen)
            }
            Err(e) => {
                tracing::debug!(%address, "poll failed: {e}");
                entry.last_error = Some(e.clone());
                Err(e)
            }
        };
        let saved = DeviceWrite::Save(Box::new(entry.clone()));
        drop(devices);
        self.queue(saved);
        result
    }

    /// Logs that `address` is unidentified, unless this minute's lines are spent.
    fn newly_unidentified(&self, address: IpAddr, driver: &str) {
        let mut news = self.unidentified_news.lock();
        if news.0 < UNIDENTIFIED_LINES_PER_MINUTE {
            news.0 += 1;
            tracing::warn!(
                %address,
                "unidentified device: no driver knows its model; {driver} polls its standard MIB only (install its vendor's driver for its radio fields; `efi-poller poll {address} -v` shows what it answered)"
            );
        } else {
            news.1 += 1;
        }
    }

    /// How many newly unidentified devices were not logged one by one since the last call;
    /// starts a new minute.
    pub fn take_unlogged_unidentified(&self) -> usize {
        std::mem::take(&mut *self.unidentified_news.lock()).1
    }

    /// Starts queueing every change for the durable store (see [`crate::store::persist`]).
    pub fn enable_persistence(&self) {
        let mut q = self.persist.lock();
        q.get_or_insert_with(Default::default);
    }

    fn queue(&self, item: DeviceWrite) {
        let mut q = self.persist.lock();
        let Some(q) = q.as_mut() else { return };
        if q.len() >= MAX_PERSIST_QUEUE {
            q.pop_front();
            self.persist_gauges.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(item);
    }

    /// Takes everything waiting to be written, oldest first.
    pub fn take_persist_queue(&self) -> Vec<DeviceWrite> {
        let mut q = self.persist.lock();
        q.as_mut()
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// Puts back a batch that could not be written, ahead of what came since.
    pub fn requeue(&self, batch: Vec<DeviceWrite>) {
        let mut q = self.persist.lock();
        let Some(q) = q.as_mut() else { return };
        for item in batch.into_iter().rev() {
            if q.len() >= MAX_PERSIST_QUEUE {
                self.persist_gauges.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            q.push_front(item);
        }
    }

    /// The counters of the writes to the durable store.
    pub fn persist_gauges(&self) -> &PersistGauges {
        &self.persist_gauges
    }

    /// Loads devices read back from the store (after a restart), without queueing them.
    pub fn restore(&self, states: Vec<DeviceState>) {
        let mut devices = self.devices.write();
        for d in states {
            devices.insert(d.address, d);
        }
    }

    /// The gauges the poll scheduler of `run` keeps (shown on `/metrics`).
    pub fn scheduler_gauges(&self) -> std::sync::Arc<crate::poller::scheduler::SchedulerGauges> {
        self.schedule.clone()
    }

    /// Forgets a device whose address is no longer in use.
    pub fn forget(&self, address: IpAddr) {
        if self.forget_locally(address) {
            self.queue(DeviceWrite::Forget(address));
        }
    }

    /// Forgets a device in memory only (in a cluster, when another host takes it over);
    /// true when it was known.
    pub fn forget_locally(&self, address: IpAddr) -> bool {
        self.devices.write().remove(&address).is_some()
    }

    /// The driver that produced the device's last good record, while it is up.
    pub fn driver_of(&self, address: IpAddr) -> Option<String> {
        let devices = self.devices.read();
        devices
            .get(&address)
            .filter(|d| d.up())
            .and_then(|d| d.driver.clone())
    }

    /// Every device, by address.
    pub fn list(&self) -> Vec<DeviceState> {
        let devices = self.devices.read();
        devices.values().cloned().collect()
    }

    /// One device.
    pub fn get(&self, address: IpAddr) -> Option<DeviceState> {
        let devices = self.devices.read();
        devices.get(&address).cloned()
    }

    /// The poller's counters, the devices' gauges (unless `per_device` is false: a
    /// `/metrics?per_device=false` scrape of a large fleet skips its 9 series per device),
    /// the store writer's and the scheduler's.
    pub fn encode_metrics(
        &self,
        encoder: &mut DescriptorEncoder,
        per_device: bool,
    ) -> std::fmt::Result {
        self.polls.encode(encoder.encode_descriptor(
            "efi_polls",
            "Device polls by driver and result.",
            None,
            self.polls.metric_type(),
        )?)?;
        self.durations.encode(encoder.encode_descriptor(
            "efi_poll_duration_seconds",
            "How long device polls took, by driver (empty for a device no driver recognised).",
            None,
            self.durations.metric_type(),
        )?)?;
        gauge(
            encoder,
            "efi_devices_unidentified",
            "Devices no driver recognised, polled by a generic fallback driver (standard MIB-II) only.",
            self.devices
                .read()
                .values()
                .filter(|d| d.unidentified)
                .count() as f64,
        )?;
        if per_device {
            self.encode_device_gauges(encoder)?;
        }
        if let Some(pending) = self.persist.lock().as_ref().map(|q| q.len()) {
            let g = &self.persist_gauges;
            counters(
                encoder,
                "efi_store_flushes",
                "Writes of polled device state to the store, by result.",
                [("ok", &g.flushes_ok), ("failed", &g.flushes_failed)]
                    .map(|(result, c)| ([("result", result)], c.load(Ordering::Relaxed))),
            )?;
            gauge(
                encoder,
                "efi_store_pending_writes",
                "Device states waiting to be written to the store.",
                pending as f64,
            )?;
            crate::metrics::counter(
                encoder,
                "efi_store_dropped_writes",
                "Device states dropped because the store stayed unreachable past the queue's bound.",
                g.dropped.load(Ordering::Relaxed),
            )?;
        }
        self.schedule.encode_metrics(encoder)
    }

    /// One gauge per device and field, rendered under the read lock: a scrape copies no
    /// record.
    fn encode_device_gauges(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let devices = self.devices.read();
        let addresses: Vec<String> = devices.keys().map(IpAddr::to_string).collect();
        gauges(
            encoder,
            "efi_device_up",
            "1 when the device's last poll produced a record.",
            devices.values().zip(&addresses).map(|(d, address)| {
                let driver = d.driver.as_deref().unwrap_or("");
                (
                    [("address", address.as_str()), ("driver", driver)],
                    f64::from(u8::from(d.up())),
                )
            }),
        )?;
        type Field = fn(&DeviceRecord) -> Option<f64>;
        let fields: [(&str, &str, Field); 7] = [
            ("efi_device_rsrp_dbm", "LTE RSRP in dBm.", |r| r.rsrp_dbm),
            ("efi_device_rsrq_db", "LTE RSRQ in dB.", |r| r.rsrq_db),
            ("efi_device_sinr_db", "LTE SINR in dB.", |r| r.sinr_db),
            ("efi_device_rssi_dbm", "LTE RSSI in dBm.", |r| r.rssi_dbm),
            (
                "efi_device_rx_bits_per_second",
                "Current downlink rate reported by the device.",
                |r| r.rx_rate_bps,
            ),
            (
                "efi_device_tx_bits_per_second",
                "Current uplink rate reported by the device.",
                |r| r.tx_rate_bps,
            ),
            ("efi_device_uptime_seconds", "Device uptime.", |r| {
                r.uptime_s.map(|u| u as f64)
            }),
        ];
        for (name, help, field) in fields {
            let values = devices
                .values()
                .zip(&addresses)
                .filter(|(d, _)| d.up())
                .filter_map(|(d, a)| Some(([("address", a.as_str())], field(d.record.as_ref()?)?)));
            gauges(encoder, name, help, values)?;
        }
        gauges(
            encoder,
            "efi_device_last_ok_timestamp_seconds",
            "When the device's last good poll finished.",
            devices.values().zip(&addresses).filter_map(|(d, address)| {
                Some(([("address", address.as_str())], d.last_ok_unix_s? as f64))
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_durations_are_a_cumulative_histogram_per_driver() {
        let states = DeviceStates::default();
        for s in [0.003, 0.07, 0.07, 4.0, 100.0] {
            states
                .durations
                .get_or_create(&[("driver", LabelValue("bec-ridgewave".to_owned()))])
                .observe(s);
        }
        let page = crate::metrics::render_part(std::sync::Arc::new(states), |s, e| {
            s.encode_metrics(e, true)
        });
        let bucket = |le: &str| {
            let prefix = format!(
                "efi_poll_duration_seconds_bucket{{le=\"{le}\",driver=\"bec-ridgewave\"}} "
            );
            page.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no bucket {le} in:\n{page}"))
                .to_owned()
        };
        assert_eq!(bucket("0.01"), "1");
        assert_eq!(bucket("0.1"), "3");
        assert_eq!(bucket("5.0"), "4");
        assert_eq!(bucket("30.0"), "4");
        assert_eq!(bucket("+Inf"), "5", "+Inf holds the 100 s poll too");
        assert!(page.contains("efi_poll_duration_seconds_count{driver=\"bec-ridgewave\"} 5"));
        assert!(page.contains("efi_poll_duration_seconds_sum{driver=\"bec-ridgewave\"} 104.143"));
    }

    #[test]
    fn only_changes_of_state_are_worth_a_log_line() {
        assert_eq!(transition(Some(true), false), Some(Transition::Failing));
        assert_eq!(
            transition(Some(false), false),
            None,
            "still failing: no new line"
        );
        assert_eq!(transition(Some(false), true), Some(Transition::Recovered));
        assert_eq!(transition(Some(true), true), None);
        assert_eq!(transition(None, false), Some(Transition::FirstFailure));
        assert_eq!(
            transition(None, true),
            None,
            "a first success is the normal case"
        );
    }

    #[test]
    fn a_device_that_never_answered_fails_once_then_quietly() {
        let never_answered = DeviceState {
            address: "127.10.0.99".parse().unwrap(),
            driver: None,
            record: None,
            polled_at_unix_s: 0,
            last_ok_unix_s: None,
            last_error: Some("no driver recognises it".into()),
            unidentified: false,
        };
        let first = transition(previous_outcome(None), false);
        assert_eq!(first, Some(Transition::FirstFailure));
        let second = transition(previous_outcome(Some(&never_answered)), false);
        assert_eq!(
            second, None,
            "the second failure of a never-seen device is no news"
        );
    }
}
