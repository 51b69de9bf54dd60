//! Sonar's poller role: fetch the monitoring work from `/api/poller`, run the ICMP and SNMP
//! checks on the host's engines, post the results to `/api/batch_poller`.
//!
//! A drop-in for Sonar's own poller (shared/reference/sonar.md section 3) without its bugs:
//! lost probes never become a latency, IPv6 hosts and addresses are kept, the SNMPv3 context
//! is sent, hosts sharing an IP stay apart, and an internal error is never reported as
//! `up: true`. Results Sonar has not accepted are kept on disk ([`delivery`]) and sent with
//! the next attempt.

pub mod checks;
pub mod delivery;
pub mod status;
pub mod work;

use crate::config::{Config, Secret, SnmpConfig, SonarPollerConfig};
use crate::engines::icmp::IcmpEngine;
use crate::engines::snmp::SnmpEngine;
use checks::{CheckSettings, HostResult};
use delivery::{Delivery, PostOutcome};
use futures::StreamExt;
use status::PollerStatus;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The version string sent to Sonar.
pub const VERSION: &str = concat!("efi-poller-", env!("CARGO_PKG_VERSION"));

/// What one cycle did.
#[derive(Debug, Clone, Default)]
pub struct CycleReport {
    /// Hosts in the work document.
    pub hosts: usize,
    /// Hosts that could not be polled, each naming the host and the field.
    pub problems: Vec<String>,
    /// Hosts pinged, and how many answered at least once.
    pub pinged: usize,
    /// Hosts that answered at least one echo.
    pub ping_answered: usize,
    /// Hosts polled over SNMP.
    pub snmp_polled: usize,
    /// Hosts whose agent answered.
    pub snmp_up: usize,
    /// Wall time of the checks.
    pub checks_took: Duration,
    /// How the post went.
    pub post: Option<PostOutcome>,
}

/// The poller role.
pub struct SonarPoller {
    config: SonarPollerConfig,
    snmp: SnmpEngine,
    icmp: IcmpEngine,
    delivery: Delivery,
    status: Arc<PollerStatus>,
    settings: CheckSettings,
}

impl SonarPoller {
    /// The role as configured in `[sonar_poller]` (and `[icmp]`); errors name the key.
    pub fn new(config: &Config) -> Result<SonarPoller, String> {
        let c = config.sonar_poller.clone();
        if c.url.trim().is_empty() {
            return Err("[sonar_poller] url is empty: set it to the instance, e.g. \
                        https://example.sonar.software"
                .into());
        }
        let api_key = api_key(&c)?;
        let snmp = SnmpEngine::new(SnmpConfig {
            timeout_ms: c.snmp_timeout_ms,
            retries: c.snmp_retries,
            max_repetitions: c.max_repetitions,
            ..config.snmp.clone()
        });
        let icmp = IcmpEngine::new(config.icmp.clone());
        let delivery = Delivery::new(
            c.url.trim_end_matches('/').to_string(),
            api_key,
            Duration::from_secs(c.request_timeout_secs.max(1)),
            c.pending_file.clone(),
            c.max_post_bytes,
        )?;
        let settings = CheckSettings {
            icmp_count: c.icmp_count.max(1),
            snmp_port: c.snmp_port,
            interface_types: c.interface_types.clone(),
            max_repetitions: c.max_repetitions,
            legacy_ip_addresses_key: c.legacy_ip_addresses_key,
        };
        Ok(SonarPoller {
            config: c,
            snmp,
            icmp,
            delivery,
            status: Arc::new(PollerStatus::default()),
            settings,
        })
    }

    /// Counters and latest results, for `/metrics` and the REST API.
    pub fn status(&self) -> Arc<PollerStatus> {
        self.status.clone()
    }

    /// Datagrams on the role's SNMP sockets that were not SNMP, or answered nothing.
    pub fn stray_answers(&self) -> (u64, u64) {
        self.snmp.stray_answers()
    }

    /// Results waiting for Sonar (hosts).
    pub fn pending_hosts(&self) -> usize {
        self.delivery.pending_hosts()
    }

    /// One cycle: fetch the work, run every check, keep the results, post them.
    pub async fn cycle(&self) -> Result<CycleReport, String> {
        let document = self.delivery.fetch_work().await?;
        let work = work::parse(&document).map_err(|e| format!("Sonar's work document: {e}"))?;
        drop(document);
        for p in &work.problems {
            tracing::warn!("Sonar work: {p}; the host is skipped");
        }
        let started = Instant::now();
        let results = self.run_checks(&work.hosts).await;
        let checks_took = started.elapsed();
        let mut report = CycleReport {
            hosts: work.hosts.len(),
            problems: work.problems,
            checks_took,
            ..CycleReport::default()
        };
        for r in results.values() {
            if let Some(icmp) = &r.icmp {
                report.pinged += 1;
                report.ping_answered += usize::from(icmp.loss_percentage < 100.0);
            }
            if let Some(snmp) = &r.snmp {
                report.snmp_polled += 1;
                report.snmp_up += usize::from(snmp.up);
            }
        }
        self.delivery
            .add(results.iter(), checks_took.as_secs())
            .map_err(|e| format!("cannot keep the results: {e}"))?;
        self.status.record_cycle(&work.hosts, results, &report);
        self.status.record_strays(self.snmp.stray_answers());
        let outcome = self.delivery.post().await;
        self.status
            .record_post(&outcome, self.delivery.pending_hosts());
        report.post = Some(outcome);
        Ok(report)
    }

    /// Posts results left from an earlier attempt; `None` when there are none.
    pub async fn retry_pending(&self) -> Option<PostOutcome> {
        if self.delivery.pending_hosts() == 0 {
            return None;
        }
        let outcome = self.delivery.post().await;
        self.status
            .record_post(&outcome, self.delivery.pending_hosts());
        Some(outcome)
    }

    /// Runs every host's checks: the pings and the SNMP polls as two pipelines side by
    /// side, each with its own concurrency limit. A host's check exists (and holds memory)
    /// only while it is in flight.
    pub async fn run_checks(&self, hosts: &[work::HostJob]) -> BTreeMap<String, HostResult> {
        let icmp_limit = self.config.icmp_concurrency.max(1);
        let interval = Duration::from_millis(self.icmp.config().interval_ms);
        // Spread the first probes of the first wave over one probe interval, as fping does.
        let step = interval / icmp_limit.min(hosts.len()).max(1) as u32;
        // Streams over indices, not over `&HostJob`: a closure taking a reference argument
        // makes the future fail the higher-ranked lifetime check inside a spawned task.
        let pings = futures::stream::iter(0..hosts.len())
            .filter(|&i| std::future::ready(hosts[i].icmp))
            .map(|i| async move {
                if i < icmp_limit {
                    tokio::time::sleep(step * i as u32).await;
                }
                (i, checks::ping(&self.icmp, &hosts[i], &self.settings).await)
            })
            .buffer_unordered(icmp_limit)
            .collect::<Vec<_>>();
        let polls = futures::stream::iter(0..hosts.len())
            .filter(|&i| std::future::ready(hosts[i].snmp.is_some()))
            .map(|i| async move {
                let job = &hosts[i];
                let snmp_job = job.snmp.as_ref().expect("filtered");
                let result = checks::poll_snmp(
                    &self.snmp,
                    job.ip,
                    job.is_network_site(),
                    snmp_job,
                    &self.settings,
                )
                .await;
                (i, result)
            })
            .buffer_unordered(self.config.snmp_concurrency.max(1))
            .collect::<Vec<_>>();
        let (pings, polls) = tokio::join!(pings, polls);
        let mut results: Vec<HostResult> = vec![
            HostResult {
                icmp: None,
                snmp: None
            };
            hosts.len()
        ];
        for (i, icmp) in pings {
            results[i].icmp = icmp;
        }
        for (i, snmp) in polls {
            results[i].snmp = Some(snmp);
        }
        hosts.iter().map(|h| h.id.clone()).zip(results).collect()
    }

    /// Cycles every `interval_secs` until `stop` resolves; between cycles, results Sonar has
    /// not accepted are posted again (5 s, doubling, up to the interval).
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let interval = Duration::from_secs(self.config.interval_secs.max(1));
        tokio::pin!(stop);
        let mut n = 0u64;
        loop {
            n += 1;
            let next = tokio::time::Instant::now() + interval;
            match self.cycle().await {
                Ok(r) => println!("sonar poller cycle {n}: {}", summary(&r)),
                Err(e) => {
                    tracing::error!("sonar poller cycle {n} failed: {e}");
                    println!("sonar poller cycle {n}: failed: {e}");
                }
            }
            let mut backoff = Duration::from_secs(5);
            loop {
                let wake = if self.delivery.pending_hosts() > 0 {
                    (tokio::time::Instant::now() + backoff).min(next)
                } else {
                    next
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = &mut stop => return,
                }
                if wake >= next {
                    break;
                }
                if let Some(outcome) = self.retry_pending().await {
                    println!("sonar poller: retried pending results: {outcome}");
                }
                backoff = (backoff * 2).min(interval);
            }
        }
    }
}

/// One line about a cycle.
pub fn summary(r: &CycleReport) -> String {
    let post = r
        .post
        .as_ref()
        .map_or_else(|| "not posted".to_string(), ToString::to_string);
    format!(
        "{} hosts ({} skipped), ping {}/{} answered, snmp {}/{} up, checks {} ms; {post}",
        r.hosts,
        r.problems.len(),
        r.ping_answered,
        r.pinged,
        r.snmp_up,
        r.snmp_polled,
        r.checks_took.as_millis()
    )
}

fn api_key(c: &SonarPollerConfig) -> Result<Secret, String> {
    if let Some(k) = &c.api_key {
        return Ok(k.clone());
    }
    if let Some(path) = &c.api_key_file {
        let text = crate::config::read_file(path)
            .map_err(|e| format!("[sonar_poller] api_key_file {e}"))?;
        let key = text.trim_end();
        if key.is_empty() {
            return Err(format!(
                "[sonar_poller] api_key_file {} is empty",
                path.display()
            ));
        }
        return Ok(Secret::new(key));
    }
    if let Some(var) = &c.api_key_env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
            _ => Err(format!(
                "[sonar_poller] api_key_env names {var}, which is not set in the environment"
            )),
        };
    }
    Err("[sonar_poller] needs the poller's API key: api_key_file, api_key_env or api_key".into())
}
