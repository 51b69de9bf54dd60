//! What the poller role has done: counters and each host's latest result, for `/metrics`
//! and `/api/v1/sonar-poller`.

use super::checks::HostResult;
use super::delivery::PostOutcome;
use super::work::HostJob;
use super::CycleReport;
use crate::metrics::Exposition;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Shared state of the role.
#[derive(Default)]
pub struct PollerStatus {
    inner: Mutex<Inner>,
}

#[derive(Default, Serialize, Clone)]
struct Inner {
    cycles: u64,
    last_cycle: Option<LastCycle>,
    posts_delivered: u64,
    posts_failed: u64,
    posts_rejected: u64,
    pending_hosts: usize,
    last_post: Option<String>,
    hosts: BTreeMap<String, HostEntry>,
    stray_malformed: u64,
    stray_unmatched: u64,
}

#[derive(Serialize, Clone)]
struct LastCycle {
    hosts: usize,
    skipped: Vec<String>,
    pinged: usize,
    ping_answered: usize,
    snmp_polled: usize,
    snmp_up: usize,
    checks_ms: u128,
}

#[derive(Serialize, Clone)]
struct HostEntry {
    ip: String,
    #[serde(rename = "type")]
    kind: String,
    result: HostResult,
}

impl PollerStatus {
    pub(super) fn record_cycle(
        &self,
        jobs: &[HostJob],
        mut results: BTreeMap<String, HostResult>,
        report: &CycleReport,
    ) {
        let mut s = self.inner.lock().unwrap();
        s.cycles += 1;
        s.last_cycle = Some(LastCycle {
            hosts: report.hosts,
            skipped: report.problems.clone(),
            pinged: report.pinged,
            ping_answered: report.ping_answered,
            snmp_polled: report.snmp_polled,
            snmp_up: report.snmp_up,
            checks_ms: report.checks_took.as_millis(),
        });
        // Hosts Sonar no longer asks about are forgotten.
        s.hosts = jobs
            .iter()
            .filter_map(|j| {
                let result = results.remove(&j.id)?;
                Some((
                    j.id.clone(),
                    HostEntry {
                        ip: j.ip.to_string(),
                        kind: j.kind.clone(),
                        result,
                    },
                ))
            })
            .collect();
    }

    pub(super) fn record_strays(&self, (malformed, unmatched): (u64, u64)) {
        let mut s = self.inner.lock().unwrap();
        s.stray_malformed = malformed;
        s.stray_unmatched = unmatched;
    }

    pub(super) fn record_post(&self, outcome: &PostOutcome, pending: usize) {
        let mut s = self.inner.lock().unwrap();
        match outcome {
            PostOutcome::Delivered(0) => {}
            PostOutcome::Delivered(_) => s.posts_delivered += 1,
            PostOutcome::Failed { .. } => s.posts_failed += 1,
            PostOutcome::Rejected { .. } => s.posts_rejected += 1,
        }
        s.pending_hosts = pending;
        s.last_post = Some(outcome.to_string());
    }

    /// The whole state as JSON (`/api/v1/sonar-poller`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.inner.lock().unwrap().clone()).expect("serialisable")
    }

    /// Prometheus families `efi_sonar_poller_*` and per-host `efi_sonar_host_*`.
    pub fn metrics(&self) -> String {
        let s = self.inner.lock().unwrap();
        let mut m = Exposition::default();
        m.family(
            "efi_sonar_poller_cycles_total",
            "counter",
            "Sonar poller cycles run.",
        );
        m.sample("efi_sonar_poller_cycles_total", &[], s.cycles as f64);
        m.family(
            "efi_sonar_poller_posts_total",
            "counter",
            "Posts of results to /api/batch_poller, by result.",
        );
        for (result, n) in [
            ("delivered", s.posts_delivered),
            ("failed", s.posts_failed),
            ("rejected", s.posts_rejected),
        ] {
            m.sample(
                "efi_sonar_poller_posts_total",
                &[("result", result)],
                n as f64,
            );
        }
        m.family(
            "efi_sonar_poller_stray_datagrams_total",
            "counter",
            "Datagrams on the role's SNMP sockets that were not SNMP, or answered nothing in flight.",
        );
        m.sample(
            "efi_sonar_poller_stray_datagrams_total",
            &[("kind", "malformed")],
            s.stray_malformed as f64,
        );
        m.sample(
            "efi_sonar_poller_stray_datagrams_total",
            &[("kind", "unmatched")],
            s.stray_unmatched as f64,
        );
        m.family(
            "efi_sonar_poller_pending_hosts",
            "gauge",
            "Hosts whose results wait for Sonar to accept them.",
        );
        m.sample(
            "efi_sonar_poller_pending_hosts",
            &[],
            s.pending_hosts as f64,
        );
        if let Some(c) = &s.last_cycle {
            m.family(
                "efi_sonar_poller_hosts",
                "gauge",
                "Hosts in the last work document.",
            );
            m.sample("efi_sonar_poller_hosts", &[], c.hosts as f64);
            m.family(
                "efi_sonar_poller_skipped_hosts",
                "gauge",
                "Hosts of the last work document that could not be polled.",
            );
            m.sample(
                "efi_sonar_poller_skipped_hosts",
                &[],
                c.skipped.len() as f64,
            );
            m.family(
                "efi_sonar_poller_checks_seconds",
                "gauge",
                "Wall time of the last cycle's checks.",
            );
            m.sample(
                "efi_sonar_poller_checks_seconds",
                &[],
                c.checks_ms as f64 / 1000.0,
            );
        }
        m.family(
            "efi_sonar_host_icmp_loss_ratio",
            "gauge",
            "Share of echo requests lost in the last cycle (0..1).",
        );
        for (id, h) in &s.hosts {
            if let Some(icmp) = &h.result.icmp {
                let labels = [("host_id", id.as_str()), ("ip", h.ip.as_str())];
                m.sample(
                    "efi_sonar_host_icmp_loss_ratio",
                    &labels,
                    icmp.loss_percentage / 100.0,
                );
            }
        }
        m.family(
            "efi_sonar_host_icmp_rtt_median_ms",
            "gauge",
            "Median echo round trip of the last cycle's answered probes.",
        );
        for (id, h) in &s.hosts {
            if let Some(median) = h.result.icmp.as_ref().and_then(|i| i.median) {
                let labels = [("host_id", id.as_str()), ("ip", h.ip.as_str())];
                m.sample("efi_sonar_host_icmp_rtt_median_ms", &labels, median);
            }
        }
        m.family(
            "efi_sonar_host_snmp_up",
            "gauge",
            "1 when the host's SNMP agent answered in the last cycle.",
        );
        for (id, h) in &s.hosts {
            if let Some(snmp) = &h.result.snmp {
                let labels = [("host_id", id.as_str()), ("ip", h.ip.as_str())];
                m.sample(
                    "efi_sonar_host_snmp_up",
                    &labels,
                    f64::from(u8::from(snmp.up)),
                );
            }
        }
        m.finish()
    }
}
