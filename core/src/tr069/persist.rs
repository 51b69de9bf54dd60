//! The TR-069 cache kept in the store: restored at start, so a restart does not forget
//! every TR-069-only CPE until its next periodic Inform; changes written in batches every
//! `store.flush_interval_ms`, off the proxy's path; in a cluster, what the other hosts
//! heard read back at the same pace, so every host's drivers see every CPE.

use super::cache::{Cpe, CpeWrite};
use super::Tr069Cache;
use crate::store::{Store, StoreError, Tr069Row};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Takes every stored CPE younger than the cache's `max_age_secs` into `cache`; returns how
/// many, and the newest time heard (where a cluster's reading of the others starts).
pub async fn restore(cache: &Tr069Cache, store: &Store) -> Result<(usize, u64), StoreError> {
    let now = crate::clock::now_unix_ms() as u64;
    let since = now.saturating_sub(cache.max_age_secs().saturating_mul(1000));
    let mut taken = 0;
    let mut newest = 0;
    for (address, cpe) in parsed(store, store.tr069_rows(since, false).await?) {
        newest = newest.max(cpe.heard_unix_ms());
        taken += usize::from(cache.merge(address, cpe, now));
    }
    Ok((taken, newest))
}

/// The entries of `rows` that parse; one that does not is skipped with a warning naming it.
fn parsed(store: &Store, rows: Vec<(IpAddr, String)>) -> Vec<(IpAddr, Cpe)> {
    rows.into_iter()
        .filter_map(|(address, json)| match serde_json::from_str::<Cpe>(&json) {
            Ok(cpe) => Some((address, cpe)),
            Err(e) => {
                tracing::warn!(store = %store.describe(), %address, "tr069_cpes: skipping an entry that does not parse: {e}");
                None
            }
        })
        .collect()
}

/// The cache's changes as the store's rows.
fn rows(writes: &[CpeWrite]) -> Vec<Tr069Row> {
    writes
        .iter()
        .map(|w| match w {
            CpeWrite::Save(address, cpe) => Tr069Row::Save {
                address: *address,
                json: serde_json::to_string(cpe).expect("a cache entry serialises"),
                heard_unix_ms: cpe.heard_unix_ms(),
            },
            CpeWrite::Remove(address) => Tr069Row::Remove(*address),
        })
        .collect()
}

/// The running writer of the cache; [`Keeper::finish`] writes what is left.
pub struct Keeper {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Keeper {
    /// Turns on change tracking in `cache` and writes its changes to `store` every
    /// `every`; with `shared` (a cluster) also takes in what the other hosts wrote since
    /// `since_unix_ms`.
    pub fn spawn(
        cache: Arc<Tr069Cache>,
        store: Store,
        every: Duration,
        shared: bool,
        since_unix_ms: u64,
    ) -> Keeper {
        cache.enable_persistence();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(keep(cache, store, every, shared, since_unix_ms, stopped));
        Keeper { stop, task }
    }

    /// Writes the last changes and stops.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn keep(
    cache: Arc<Tr069Cache>,
    store: Store,
    every: Duration,
    shared: bool,
    mut since: u64,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    tokio::pin!(stop);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = &mut stop => true,
        };
        let writes = cache.take_writes();
        if !writes.is_empty() {
            match store.write_tr069(&rows(&writes)).await {
                Ok(()) if failing => {
                    tracing::info!(store = %store.describe(), "the TR-069 cache is written again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        tracing::error!("TR-069 cache not written, kept for the next attempt: {e}");
                        failing = true;
                    }
                    cache.requeue(&writes);
                }
            }
        }
        if stopping {
            return;
        }
        if shared {
            match store.tr069_rows(since, true).await {
                Ok(rows) => {
                    let now = crate::clock::now_unix_ms() as u64;
                    for (address, cpe) in parsed(&store, rows) {
                        since = since.max(cpe.heard_unix_ms());
                        cache.merge(address, cpe, now);
                    }
                }
                Err(e) => tracing::debug!("the other hosts' TR-069 data not read: {e}"),
            }
        }
    }
}
