//! Device state written behind to the store: what [`DeviceStates`] queues is written in one
//! transaction every `flush_interval_ms`, and history older than `history_hours` is pruned
//! once an hour. Polls never wait for the database; while it is unreachable the queue is
//! kept (up to a bound) and written once it is back.

use super::states::DeviceStates;
use crate::config::StoreConfig;
use crate::store::Store;
use std::sync::Arc;

/// Writes what `devices` queues to `store` every `flush_interval`, and prunes history older
/// than `history_hours` once an hour, until `stop` resolves; then writes what is left.
/// A failed write keeps the batch for the next flush and is logged once per outage.
pub async fn persist(
    devices: Arc<DeviceStates>,
    store: Store,
    config: StoreConfig,
    stop: impl std::future::Future<Output = ()>,
) {
    let history = config.history_hours > 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(
        config.flush_interval_ms.max(10),
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_prune = tokio::time::Instant::now();
    let mut failing = false;
    tokio::pin!(stop);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = &mut stop => true,
        };
        let batch = devices.take_persist_queue();
        if !batch.is_empty() {
            match store.write(&batch, history).await {
                Ok(()) => {
                    devices.persist_gauges().record_flush(true);
                    if failing {
                        tracing::info!(store = %store.describe(), "device state is written again");
                        failing = false;
                    }
                }
                Err(e) => {
                    devices.persist_gauges().record_flush(false);
                    if !failing {
                        tracing::error!("device state not written, kept for the next attempt: {e}");
                        failing = true;
                    }
                    devices.requeue(batch);
                }
            }
        }
        if stopping {
            return;
        }
        if history && tokio::time::Instant::now() >= next_prune {
            next_prune += std::time::Duration::from_secs(3600);
            let before = crate::clock::now_unix_s() - (config.history_hours as i64) * 3600;
            match store.prune_history(before).await {
                Ok(n) if n > 0 => tracing::info!(
                    "history: pruned {n} points older than {} h",
                    config.history_hours
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!("history not pruned: {e}"),
            }
        }
    }
}

/// The running writer of [`persist`].
pub struct Writer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Turns on queueing in `devices` and starts writing the queue to `store`.
    pub fn spawn(devices: Arc<DeviceStates>, store: Store, config: StoreConfig) -> Writer {
        devices.enable_persistence();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(persist(devices, store, config, async move {
            let _ = stopped.await;
        }));
        Writer { stop, task }
    }

    /// Writes what is still queued, then stops (so a stop keeps what was polled before it).
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
