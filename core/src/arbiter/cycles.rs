//! When the arbiter cycles: a full cycle (every source pulled) every `arbiter.interval_secs`
//! whatever else happens; an event cycle as soon as pushed events have settled (a webhook's
//! [`Arbiter::push`] wakes [`Cycles::next`] directly); sooner event cycles after changes
//! Sonar refused for being overloaded or down (5 s, doubling up to the interval); and in a
//! cluster, cycles only while this host holds the arbiter role — a new holder starts with a
//! full pull, and after each cycle it publishes the addresses in use for the other hosts.

use super::{Arbiter, ArbiterError, CycleReport};
use crate::cluster::Cluster;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a burst of pushed events may take to arrive before one plan covers them all.
const SETTLE: Duration = Duration::from_millis(200);

/// The first early retry after a cycle with retryable failures.
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// One cycle that ran.
#[derive(Debug)]
pub struct Cycled {
    /// Its number in this run, from 1.
    pub number: u64,
    /// True for a full cycle (every source pulled), false for an event cycle.
    pub full: bool,
    /// What it did, or why it could not plan.
    pub result: Result<CycleReport, ArbiterError>,
}

/// The cycle schedule of one arbiter.
pub struct Cycles {
    arbiter: Arc<Arbiter>,
    cluster: Option<Arc<Cluster>>,
    interval: Duration,
    /// The ports the published addresses are polled on (SNMP, web UI).
    ports: (u16, u16),
    /// What the next [`Cycles::run_due`] runs.
    full: bool,
    /// When the next full cycle is due.
    next_full: Instant,
    /// After retryable failures: the current backoff and when the early cycle is due.
    retry: Option<(Duration, Instant)>,
    was_leading: bool,
    count: u64,
}

impl Cycles {
    /// The schedule of `arbiter`, every `interval`; `ports` are those of `[poller]`.
    pub fn new(
        arbiter: Arc<Arbiter>,
        cluster: Option<Arc<Cluster>>,
        interval: Duration,
        ports: (u16, u16),
    ) -> Cycles {
        Cycles {
            arbiter,
            cluster,
            interval: interval.max(Duration::from_secs(1)),
            ports,
            full: true,
            next_full: Instant::now(),
            retry: None,
            was_leading: false,
            count: 0,
        }
    }

    /// Cycles run so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True while this host runs the arbiter's cycles (always, without a cluster).
    pub fn leading(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.is_arbiter())
    }

    /// Runs the cycle that is due; `None` in a cluster while another host holds the role.
    pub async fn run_due(&mut self) -> Option<Cycled> {
        let leading = self.leading();
        if leading && !self.was_leading {
            // A new arbiter's live picture is empty: its first cycle pulls.
            self.full = true;
        }
        self.was_leading = leading;
        if !leading {
            // Looks again at the next interval, or as soon as the role changes.
            self.next_full = Instant::now() + self.interval;
            return None;
        }
        let full = std::mem::replace(&mut self.full, false);
        self.count += 1;
        let result = if full {
            self.next_full = Instant::now() + self.interval;
            self.arbiter.cycle().await
        } else {
            self.arbiter.event_cycle().await
        };
        match &result {
            Ok(report) if report.retryable > 0 => {
                let backoff = self
                    .retry
                    .map_or(FIRST_RETRY, |(d, _)| (d * 2).min(self.interval));
                self.retry = Some((backoff, Instant::now() + backoff));
            }
            Ok(_) => self.retry = None,
            // Nothing was applied: the same backoff again from now.
            Err(_) => {
                if let Some((backoff, _)) = self.retry {
                    self.retry = Some((backoff, Instant::now() + backoff));
                }
            }
        }
        if result.is_ok() {
            self.publish().await;
        }
        Some(Cycled {
            number: self.count,
            full,
            result,
        })
    }

    /// In a cluster, the addresses in use for the other hosts to poll.
    async fn publish(&self) {
        let Some(cluster) = &self.cluster else { return };
        let targets = self.arbiter.targets_in_use(self.ports.0, self.ports.1);
        if let Err(e) = cluster.publish_targets(&targets).await {
            tracing::warn!("cluster: the addresses in use were not published: {e}");
        }
    }

    /// Waits for the next reason to cycle: the full cycle or an early retry falling due,
    /// pushed events (after they settle), or a change of the cluster's arbiter role.
    /// Cancel-safe: dropped and called again, it waits for the same moment.
    pub async fn next(&mut self) {
        let due = self
            .retry
            .map_or(self.next_full, |(_, at)| at.min(self.next_full));
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = role_changed(self.cluster.as_deref()) => {}
            _ = self.arbiter.changed() => tokio::time::sleep(SETTLE).await,
        }
        self.full = Instant::now() >= self.next_full;
    }
}

/// Resolves when this host gains or loses the arbiter role; never without a cluster.
async fn role_changed(cluster: Option<&Cluster>) {
    match cluster {
        Some(c) => c.role_changed().await,
        None => std::future::pending().await,
    }
}
