//! The arbiter's families on `/metrics`: cycles, changes, held plans, the outbox, webhooks,
//! the live picture's sessions, and the plugins' health.

use super::outbox::OutboxStats;
use super::Arbiter;
use crate::metrics::{counter, counters, gauge, gauges};
use prometheus_client::encoding::DescriptorEncoder;

impl Arbiter {
    /// The outbox's counts for `/metrics` (zeros, logged, when the store cannot say).
    pub async fn outbox_counts(&self) -> OutboxStats {
        self.outbox.stats().await.unwrap_or_else(|e| {
            tracing::warn!("outbox counts left out of /metrics: {e}");
            OutboxStats::default()
        })
    }

    /// The arbiter's families, with the outbox's counts read before.
    pub fn encode_metrics(
        &self,
        outbox: &OutboxStats,
        encoder: &mut DescriptorEncoder,
    ) -> std::fmt::Result {
        let st = self.stats.lock().clone();
        counters(
            encoder,
            "efi_arbiter_cycles",
            "Arbiter cycles run.",
            [
                ([("kind", "full")], st.full_cycles),
                ([("kind", "event")], st.event_cycles),
            ],
        )?;
        counter(
            encoder,
            "efi_arbiter_cycle_errors",
            "Cycles that could not plan (sink unreadable, outbox unwritable).",
            st.failed_cycles,
        )?;
        counters(
            encoder,
            "efi_arbiter_changes",
            "Changes sent to the sink, by result.",
            [
                ([("result", "applied")], st.applied),
                ([("result", "failed")], st.failed),
            ],
        )?;
        gauges(
            encoder,
            "efi_arbiter_last_cycle_changes",
            "What the last cycle did.",
            [
                ([("result", "applied")], st.last_applied as f64),
                ([("result", "failed")], st.last_failed as f64),
                ([("result", "kept")], st.last_kept as f64),
            ],
        )?;
        counter(
            encoder,
            "efi_arbiter_held_plans",
            "Plans a guard held instead of applying.",
            st.held_plans,
        )?;
        gauges(
            encoder,
            "efi_outbox_changes",
            "Changes in the outbox, by state.",
            [
                ([("state", "pending")], outbox.pending as f64),
                ([("state", "applied")], outbox.applied as f64),
                ([("state", "failed")], outbox.failed as f64),
            ],
        )?;
        counters(
            encoder,
            "efi_webhook_events",
            "Pushed requests, by source and result.",
            st.pushes.iter().map(|((source, result), n)| {
                ([("source", source.as_str()), ("result", *result)], *n)
            }),
        )?;
        let (sessions, complete) = self.live.lock().count();
        gauge(
            encoder,
            "efi_sessions",
            "UE sessions in the live picture.",
            sessions as f64,
        )?;
        gauge(
            encoder,
            "efi_sessions_complete",
            "1 when every source's picture is complete.",
            f64::from(u8::from(complete)),
        )?;
        let plugins = self.host.registry.plugins();
        counters(
            encoder,
            "efi_plugin_panics",
            "Panics caught at the plugin boundary.",
            plugins
                .iter()
                .map(|p| ([("plugin", p.name())], p.health().panics())),
        )?;
        gauges(
            encoder,
            "efi_plugin_quarantined",
            "1 while a plugin is quarantined.",
            plugins.iter().map(|p| {
                (
                    [("plugin", p.name())],
                    f64::from(u8::from(p.health().is_quarantined())),
                )
            }),
        )
    }
}
