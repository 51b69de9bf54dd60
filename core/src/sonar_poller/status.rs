//! What the poller role has done: counters and each host's latest result, for `/metrics`
//! and `/api/v1/sonar-poller`.

use super::checks::HostResult;
use super::delivery::PostOutcome;
use super::work::HostJob;
use super::CycleReport;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;

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
        let mut s = self.inner.lock();
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
        let mut s = self.inner.lock();
        s.stray_malformed = malformed;
        s.stray_unmatched = unmatched;
    }

    pub(super) fn record_post(&self, outcome: &PostOutcome, pending: usize) {
        let mut s = self.inner.lock();
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
        serde_json::to_value(self.inner.lock().clone()).expect("serialisable")
    }

    /// The families `efi_sonar_poller_*` and per-host `efi_sonar_host_*`.
    pub fn encode_metrics(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        use crate::metrics::{counter, counters, gauge, gauges};
        let s = self.inner.lock();
        counter(
            encoder,
            "efi_sonar_poller_cycles",
            "Sonar poller cycles run.",
            s.cycles,
        )?;
        counters(
            encoder,
            "efi_sonar_poller_posts",
            "Posts of results to /api/batch_poller, by result.",
            [
                ("delivered", s.posts_delivered),
                ("failed", s.posts_failed),
                ("rejected", s.posts_rejected),
            ]
            .map(|(result, n)| ([("result", result)], n)),
        )?;
        counters(
            encoder,
            "efi_sonar_poller_stray_datagrams",
            "Datagrams on the role's SNMP sockets that were not SNMP, or answered nothing in flight.",
            [
                ([("kind", "malformed")], s.stray_malformed),
                ([("kind", "unmatched")], s.stray_unmatched),
            ],
        )?;
        gauge(
            encoder,
            "efi_sonar_poller_pending_hosts",
            "Hosts whose results wait for Sonar to accept them.",
            s.pending_hosts as f64,
        )?;
        if let Some(c) = &s.last_cycle {
            gauge(
                encoder,
                "efi_sonar_poller_hosts",
                "Hosts in the last work document.",
                c.hosts as f64,
            )?;
            gauge(
                encoder,
                "efi_sonar_poller_skipped_hosts",
                "Hosts of the last work document that could not be polled.",
                c.skipped.len() as f64,
            )?;
            gauge(
                encoder,
                "efi_sonar_poller_checks_seconds",
                "Wall time of the last cycle's checks.",
                c.checks_ms as f64 / 1000.0,
            )?;
        }
        gauges(
            encoder,
            "efi_sonar_host_icmp_loss_ratio",
            "Share of echo requests lost in the last cycle (0..1).",
            s.hosts.iter().filter_map(|(id, h)| {
                Some((
                    host_labels(id, h),
                    h.result.icmp.as_ref()?.loss_percentage / 100.0,
                ))
            }),
        )?;
        gauges(
            encoder,
            "efi_sonar_host_icmp_rtt_median_ms",
            "Median echo round trip of the last cycle's answered probes.",
            s.hosts
                .iter()
                .filter_map(|(id, h)| Some((host_labels(id, h), h.result.icmp.as_ref()?.median?))),
        )?;
        gauges(
            encoder,
            "efi_sonar_host_snmp_up",
            "1 when the host's SNMP agent answered in the last cycle.",
            s.hosts.iter().filter_map(|(id, h)| {
                Some((
                    host_labels(id, h),
                    f64::from(u8::from(h.result.snmp.as_ref()?.up)),
                ))
            }),
        )
    }
}

/// The labels of one host's samples.
fn host_labels<'a>(id: &'a str, host: &'a HostEntry) -> [(&'static str, &'a str); 2] {
    [("host_id", id), ("ip", host.ip.as_str())]
}
