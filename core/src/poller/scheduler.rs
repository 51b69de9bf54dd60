//! The poll scheduler of `efi-poller run`: each device polled every interval of its group
//! (± jitter), a newly seen device at once, never two polls of one device at the same time,
//! at most `concurrency` polls in flight.
//!
//! Devices are kept in a min-heap by due time. The scheduler starts the earliest due devices
//! while slots are free, and schedules a device's next poll only when its current poll ends
//! (start + interval ± jitter), so a slow device can fall behind its interval but can never
//! overlap itself.

use crate::config::PollerConfig;
use crate::groups::Groups;
use efi_plugin_api::Target;
use futures::stream::{FuturesUnordered, StreamExt};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Which interval applies to which device.
#[derive(Debug, Clone)]
pub struct Schedule {
    groups: Groups,
    jitter: f64,
}

/// What a poll learnt of a device: the driver that recognised it and the model it reported
/// (for group matching).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recognised {
    /// The driver's plugin name.
    pub driver: String,
    /// The model in its record, if any.
    pub model: Option<String>,
}

impl Schedule {
    /// The schedule of `[poller]`; a bad group names itself and its key.
    pub fn from_config(poller: &PollerConfig) -> Result<Schedule, String> {
        if !(0.0..=0.5).contains(&poller.jitter) {
            return Err(format!(
                "poller.jitter = {}: must be between 0 and 0.5",
                poller.jitter
            ));
        }
        if poller.interval_secs == 0 {
            return Err("poller.interval_secs must be at least 1".into());
        }
        Ok(Schedule {
            groups: Groups::from_config(poller)?,
            jitter: poller.jitter,
        })
    }

    /// The group name (`"default"` for none) and interval of a device.
    pub fn interval_for(&self, address: IpAddr, seen: Option<&Recognised>) -> (&str, Duration) {
        self.groups.interval_for(
            address,
            seen.map(|r| r.driver.as_str()),
            seen.and_then(|r| r.model.as_deref()),
        )
    }

    /// `interval` stretched or shrunk by a random share within ± jitter.
    fn jittered(&self, interval: Duration) -> Duration {
        if self.jitter == 0.0 {
            return interval;
        }
        let factor = 1.0 + self.jitter * (2.0 * rand::random::<f64>() - 1.0);
        interval.mul_f64(factor)
    }
}

/// Gauges of a running scheduler, for `/metrics`.
#[derive(Debug, Default)]
pub struct SchedulerGauges {
    /// Devices on the schedule.
    pub scheduled: AtomicU64,
    /// Polls running now.
    pub in_flight: AtomicU64,
    /// How late the last poll started after it was due, in milliseconds (grows when
    /// `concurrency` is too small for the fleet and its intervals).
    pub lag_ms: AtomicU64,
    /// Polls started.
    pub started: AtomicU64,
}

impl SchedulerGauges {
    /// The scheduler's families.
    pub fn encode_metrics(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        use crate::metrics::{counter, gauge};
        for (name, help, value) in [
            (
                "efi_poll_devices_scheduled",
                "Devices on the poll schedule.",
                self.scheduled.load(Ordering::Relaxed) as f64,
            ),
            (
                "efi_poll_in_flight",
                "Device polls running now.",
                self.in_flight.load(Ordering::Relaxed) as f64,
            ),
            (
                "efi_poll_lag_seconds",
                "How late the last device poll started after it was due.",
                self.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            ),
        ] {
            gauge(encoder, name, help, value)?;
        }
        counter(
            encoder,
            "efi_poll_started",
            "Device polls started.",
            self.started.load(Ordering::Relaxed),
        )
    }
}

/// What the scheduler knows of one device.
struct Slot {
    target: Target,
    /// What its last successful poll learnt (for group matching).
    seen: Option<Recognised>,
    due: Instant,
}

/// What the last run knew of a device (restored from the store at start): how long ago it
/// was last polled, and what recognised it.
#[derive(Debug, Clone, Default)]
pub struct Resumed {
    /// Time since its last poll when the scheduler was made.
    pub age: Duration,
    /// What its last good poll learnt (its driver is reused for the first poll).
    pub seen: Option<Recognised>,
}

/// The poll scheduler.
pub struct Scheduler {
    schedule: Schedule,
    concurrency: usize,
    /// How often the list of devices is refreshed.
    refresh: Duration,
    gauges: std::sync::Arc<SchedulerGauges>,
    /// Devices the last run polled, consumed as each first appears.
    resumed: HashMap<IpAddr, Resumed>,
    created: Instant,
}

impl Scheduler {
    /// A scheduler of `schedule` with `concurrency` polls at once, asking for the device
    /// list every `refresh`.
    pub fn new(
        schedule: Schedule,
        concurrency: usize,
        refresh: Duration,
        gauges: std::sync::Arc<SchedulerGauges>,
    ) -> Self {
        Scheduler {
            schedule,
            concurrency: concurrency.max(1),
            refresh: refresh.max(Duration::from_millis(10)),
            gauges,
            resumed: HashMap::new(),
            created: Instant::now(),
        }
    }

    /// Carries on where the last run stopped: a device it polled is first due one interval
    /// after that poll (with its known driver), and devices that became due while the
    /// service was down are spread over a tenth of their interval (or the jitter, when
    /// larger) instead of all polled at the start.
    pub fn resuming(mut self, devices: HashMap<IpAddr, Resumed>) -> Self {
        self.resumed = devices;
        self
    }

    /// When a device that just appeared is first due, and what is known of it.
    fn first_due(&mut self, now: Instant, address: IpAddr) -> (Instant, Option<Recognised>) {
        let Some(last) = self.resumed.remove(&address) else {
            return (now, None);
        };
        let (_, interval) = self.schedule.interval_for(address, last.seen.as_ref());
        let age = last.age + now.saturating_duration_since(self.created);
        let due = match interval.checked_sub(age) {
            Some(left) if !left.is_zero() => now + left,
            _ => {
                let catch_up = interval.mul_f64(self.schedule.jitter.max(0.1));
                now + catch_up.mul_f64(spread(address))
            }
        };
        (due, last.seen)
    }

    /// Runs until `stop` resolves. `targets` gives the devices in use now; `forget` is told
    /// of each device that left; `poll` polls one (given the driver that last recognised
    /// it) and returns what it learnt (`None` when no driver recognised it or the poll
    /// failed).
    pub async fn run<T, F, P, Fut>(
        mut self,
        mut targets: T,
        mut forget: F,
        poll: P,
        stop: impl Future<Output = ()>,
    ) where
        T: FnMut() -> Vec<Target>,
        F: FnMut(IpAddr),
        P: Fn(Target, Option<String>) -> Fut,
        Fut: Future<Output = Option<Recognised>>,
    {
        let mut slots: HashMap<IpAddr, Slot> = HashMap::new();
        let mut heap: BinaryHeap<Reverse<(Instant, IpAddr)>> = BinaryHeap::new();
        let mut running = FuturesUnordered::new();
        // Devices with a poll running. Kept apart from `slots`: a device that leaves and comes
        // back while its poll runs gets a new slot, but must still wait for that poll.
        let mut polling: std::collections::HashSet<IpAddr> = Default::default();
        let mut refresh_at = Instant::now();
        tokio::pin!(stop);
        loop {
            let now = Instant::now();
            if now >= refresh_at {
                let current = targets();
                let mut seen = std::collections::HashSet::with_capacity(current.len());
                for t in current {
                    seen.insert(t.address);
                    match slots.get_mut(&t.address) {
                        Some(slot) => slot.target = t,
                        None => {
                            // New devices are due at once; those the last run polled, as
                            // it would have polled them.
                            let (due, seen) = self.first_due(now, t.address);
                            heap.push(Reverse((due, t.address)));
                            slots.insert(
                                t.address,
                                Slot {
                                    target: t,
                                    seen,
                                    due,
                                },
                            );
                        }
                    }
                }
                slots.retain(|address, _| {
                    let keep = seen.contains(address);
                    if !keep {
                        forget(*address);
                    }
                    keep
                });
                self.gauges
                    .scheduled
                    .store(slots.len() as u64, Ordering::Relaxed);
                refresh_at = now + self.refresh;
            }
            // Start every due device a slot allows, earliest first. Entries of devices that
            // left, or whose due time changed since they were pushed, are stale: skipped.
            while running.len() < self.concurrency {
                let Some(&Reverse((due, address))) = heap.peek() else {
                    break;
                };
                if due > now {
                    break;
                }
                heap.pop();
                let Some(slot) = slots.get_mut(&address) else {
                    continue;
                };
                if slot.due != due || !polling.insert(address) {
                    continue;
                }
                self.gauges
                    .lag_ms
                    .store((now - due).as_millis() as u64, Ordering::Relaxed);
                self.gauges.started.fetch_add(1, Ordering::Relaxed);
                // The model the last record named goes with the target: a driver serving
                // several models (device profiles) picks its own without asking again.
                let mut target = slot.target.clone();
                if target.model.is_none() {
                    target.model = slot.seen.as_ref().and_then(|r| r.model.clone());
                }
                let fut = poll(target, slot.seen.as_ref().map(|r| r.driver.clone()));
                running.push(async move { (address, now, fut.await) });
            }
            self.gauges
                .in_flight
                .store(running.len() as u64, Ordering::Relaxed);
            let next_due = heap.peek().map(|Reverse((due, _))| *due);
            let wake = match next_due {
                Some(due) if running.len() < self.concurrency => due.min(refresh_at),
                _ => refresh_at,
            };
            tokio::select! {
                biased;
                _ = &mut stop => return,
                Some((address, started, seen)) = running.next(), if !running.is_empty() => {
                    polling.remove(&address);
                    let Some(slot) = slots.get_mut(&address) else {
                        // The device left while its poll ran; the poll may have recorded it
                        // again after it was forgotten.
                        forget(address);
                        continue;
                    };
                    if seen.is_some() {
                        slot.seen = seen;
                    }
                    let (_, interval) = self.schedule.interval_for(address, slot.seen.as_ref());
                    let due = (started + self.schedule.jittered(interval)).max(Instant::now());
                    slot.due = due;
                    heap.push(Reverse((due, address)));
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// A fixed share in [0, 1) for an address: where in a catch-up window its poll goes.
fn spread(address: IpAddr) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    address.hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PollGroupConfig;
    use parking_lot::Mutex;
    use std::sync::Arc;

    fn target(ip: &str) -> Target {
        Target::new(ip.parse().unwrap())
    }

    fn config(groups: Vec<PollGroupConfig>, jitter: f64) -> PollerConfig {
        PollerConfig {
            interval_secs: 60,
            jitter,
            groups,
            ..PollerConfig::default()
        }
    }

    fn group(
        name: &str,
        interval_secs: u64,
        subnets: &[&str],
        drivers: &[&str],
    ) -> PollGroupConfig {
        PollGroupConfig {
            name: name.into(),
            interval_secs: Some(interval_secs),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            drivers: drivers.iter().map(|s| s.to_string()).collect(),
            models: Vec::new(),
            snmp: Vec::new(),
            web_credentials: None,
            cli_credentials: None,
        }
    }

    #[test]
    fn intervals_follow_the_group_of_what_the_last_poll_learnt() {
        let s = Schedule::from_config(&config(
            vec![
                group("telrad-towers", 30, &["10.45.1.0/24"], &["telrad-cpe"]),
                group("tower-1", 120, &["10.45.1.0/24"], &[]),
            ],
            0.1,
        ))
        .unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let seen = |d: &str| Recognised {
            driver: d.into(),
            model: None,
        };
        assert_eq!(
            s.interval_for(ip("10.45.1.9"), Some(&seen("telrad-cpe"))),
            ("telrad-towers", Duration::from_secs(30))
        );
        assert_eq!(
            s.interval_for(ip("10.45.1.9"), Some(&seen("bec-ridgewave"))),
            ("tower-1", Duration::from_secs(120))
        );
        assert_eq!(
            s.interval_for(ip("10.45.2.9"), None),
            ("default", Duration::from_secs(60))
        );
    }

    #[test]
    fn bad_groups_and_jitter_are_named() {
        let bad = config(vec![group("x", 10, &["10.0.0.0/40"], &[])], 0.1);
        let e = Schedule::from_config(&bad).unwrap_err();
        assert!(
            e.contains("poller.groups[0]") && e.contains("subnets"),
            "{e}"
        );
        let e = Schedule::from_config(&config(vec![], 0.9)).unwrap_err();
        assert!(e.contains("poller.jitter"), "{e}");
    }

    /// Polls in flight per device, in flight now, most ever at once, most of one device.
    type InFlight = (HashMap<IpAddr, usize>, usize, usize, usize);

    /// Runs a scheduler for `run_for` of paused (virtual) time over `devices`, each poll
    /// taking `poll_time(address)`; returns each device's poll start times (seconds) and the
    /// most polls that were ever in flight at once, overall and per device.
    async fn simulate(
        schedule: Schedule,
        concurrency: usize,
        targets: impl FnMut() -> Vec<Target>,
        poll_time: fn(IpAddr) -> Duration,
        run_for: Duration,
    ) -> (HashMap<IpAddr, Vec<f64>>, usize, usize) {
        let t0 = Instant::now();
        let starts: Arc<Mutex<HashMap<IpAddr, Vec<f64>>>> = Default::default();
        let in_flight: Arc<Mutex<InFlight>> = Default::default();
        let scheduler = Scheduler::new(
            schedule,
            concurrency,
            Duration::from_secs(5),
            Default::default(),
        );
        let poll = |t: Target, _driver: Option<String>| {
            let starts = starts.clone();
            let in_flight = in_flight.clone();
            async move {
                let a = t.address;
                starts
                    .lock()
                    .entry(a)
                    .or_default()
                    .push((Instant::now() - t0).as_secs_f64());
                {
                    let mut f = in_flight.lock();
                    let n = f.0.entry(a).or_default();
                    *n += 1;
                    let per_device = *n;
                    f.1 += 1;
                    f.2 = f.2.max(f.1);
                    f.3 = f.3.max(per_device);
                }
                tokio::time::sleep(poll_time(a)).await;
                let mut f = in_flight.lock();
                *f.0.get_mut(&a).unwrap() -= 1;
                f.1 -= 1;
                Some(Recognised {
                    driver: "drv".into(),
                    model: None,
                })
            }
        };
        scheduler
            .run(targets, |_| {}, poll, tokio::time::sleep(run_for))
            .await;
        let f = in_flight.lock();
        let starts = starts.lock().clone();
        (starts, f.2, f.3)
    }

    #[tokio::test(start_paused = true)]
    async fn each_group_is_polled_at_its_interval_and_new_devices_at_once() {
        let schedule = Schedule::from_config(&config(
            vec![group("fast", 10, &["127.10.1.0/24"], &[])],
            0.0,
        ))
        .unwrap();
        let devices = vec![target("127.10.1.1"), target("127.10.2.1")];
        let (starts, _, _) = simulate(
            schedule,
            8,
            move || devices.clone(),
            |_| Duration::from_millis(100),
            Duration::from_secs(125),
        )
        .await;
        let fast = &starts[&"127.10.1.1".parse::<IpAddr>().unwrap()];
        let slow = &starts[&"127.10.2.1".parse::<IpAddr>().unwrap()];
        assert_eq!(fast[0], 0.0, "a new device is polled at once");
        assert_eq!(fast.len(), 13, "every 10 s for 125 s: {fast:?}");
        assert!(
            fast.windows(2).all(|w| (w[1] - w[0] - 10.0).abs() < 1e-6),
            "{fast:?}"
        );
        assert_eq!(
            slow.len(),
            3,
            "every 60 s (the default) for 125 s: {slow:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_carries_on_the_last_runs_schedule() {
        // Interval 60 s (the default group), no jitter: a device polled 10 s before the
        // restart is next due 50 s in; overdue ones are spread over the first 6 s; a new
        // device goes at once.
        let schedule = Schedule::from_config(&config(vec![], 0.0)).unwrap();
        let recent: IpAddr = "127.10.0.1".parse().unwrap();
        let overdue: Vec<IpAddr> = (2..=41)
            .map(|n| format!("127.10.0.{n}").parse().unwrap())
            .collect();
        let new: IpAddr = "127.10.1.1".parse().unwrap();
        let mut resumed = HashMap::from([(
            recent,
            Resumed {
                age: Duration::from_secs(10),
                seen: None,
            },
        )]);
        for a in &overdue {
            resumed.insert(
                *a,
                Resumed {
                    age: Duration::from_secs(3600),
                    seen: None,
                },
            );
        }
        let devices: Vec<Target> = std::iter::once(recent)
            .chain(overdue.iter().copied())
            .chain(std::iter::once(new))
            .map(Target::new)
            .collect();
        let t0 = Instant::now();
        let starts: Arc<Mutex<HashMap<IpAddr, Vec<f64>>>> = Default::default();
        let scheduler = Scheduler::new(schedule, 64, Duration::from_secs(5), Default::default())
            .resuming(resumed);
        let poll = |t: Target, _driver: Option<String>| {
            let starts = starts.clone();
            async move {
                starts
                    .lock()
                    .entry(t.address)
                    .or_default()
                    .push((Instant::now() - t0).as_secs_f64());
                None
            }
        };
        scheduler
            .run(
                move || devices.clone(),
                |_| {},
                poll,
                tokio::time::sleep(Duration::from_secs(55)),
            )
            .await;
        let starts = starts.lock().clone();
        assert_eq!(starts[&new], vec![0.0], "a new device at once");
        assert_eq!(
            starts[&recent],
            vec![50.0],
            "one interval after its last poll"
        );
        let firsts: Vec<f64> = overdue.iter().map(|a| starts[a][0]).collect();
        assert!(firsts.iter().all(|t| *t < 6.0), "{firsts:?}");
        let at_once = firsts.iter().filter(|t| **t == 0.0).count();
        assert!(
            at_once < 5,
            "the overdue are spread, not polled together: {firsts:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_device_slower_than_its_interval_never_overlaps_itself() {
        let schedule = Schedule::from_config(&config(vec![], 0.0)).unwrap();
        let devices = vec![target("127.10.0.1"), target("127.10.0.2")];
        // 127.10.0.1 takes 150 s to poll with an interval of 60 s.
        let (starts, _, per_device) = simulate(
            schedule,
            8,
            move || devices.clone(),
            |a| {
                if a.to_string() == "127.10.0.1" {
                    Duration::from_secs(150)
                } else {
                    Duration::from_millis(10)
                }
            },
            Duration::from_secs(400),
        )
        .await;
        assert_eq!(per_device, 1, "two polls of one device ran at once");
        let slow = &starts[&"127.10.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(
            slow,
            &vec![0.0, 150.0, 300.0],
            "back to back, never overlapping"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_bounds_polls_in_flight_and_jitter_spreads_a_burst() {
        let schedule = Schedule::from_config(&config(vec![], 0.2)).unwrap();
        let devices: Vec<Target> = (1..=50).map(|i| target(&format!("127.10.3.{i}"))).collect();
        let (starts, max_in_flight, _) = simulate(
            schedule,
            5,
            move || devices.clone(),
            |_| Duration::from_secs(1),
            Duration::from_secs(700),
        )
        .await;
        assert_eq!(max_in_flight, 5);
        // All 50 attached at once; after a few intervals their poll times have spread: the
        // second polls of the first five (started together) no longer coincide.
        let firsts: Vec<f64> = (1..=5)
            .map(|i| starts[&format!("127.10.3.{i}").parse::<IpAddr>().unwrap()][1])
            .collect();
        let distinct: std::collections::BTreeSet<u64> =
            firsts.iter().map(|t| (t * 1000.0) as u64).collect();
        assert!(distinct.len() > 1, "{firsts:?}");
        for s in starts.values() {
            for w in s.windows(2) {
                let gap = w[1] - w[0];
                assert!(
                    (48.0..=85.0).contains(&gap),
                    "interval 60 s ± 20 % (+ waiting for a slot): {gap}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_device_that_leaves_and_returns_mid_poll_still_waits_for_that_poll() {
        let schedule = Schedule::from_config(&config(vec![], 0.0)).unwrap();
        // The list is read every 5 s: the device is there, gone at the second reading, back
        // from the third on, while its first poll (30 s) still runs.
        let mut readings = 0;
        let targets = move || {
            readings += 1;
            if readings == 2 {
                Vec::new()
            } else {
                vec![target("127.10.0.1")]
            }
        };
        let (starts, _, per_device) = simulate(
            schedule,
            8,
            targets,
            |_| Duration::from_secs(30),
            Duration::from_secs(100),
        )
        .await;
        assert_eq!(per_device, 1, "two polls of one device ran at once");
        let s = &starts[&"127.10.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(
            s,
            &vec![0.0, 60.0],
            "the next poll one interval after the first began"
        );
    }
}
