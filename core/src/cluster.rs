//! Several `efi-poller run` hosts on one PostgreSQL store: heartbeats (a host's lease on its
//! membership), the arbiter role (a PostgreSQL advisory lock held on a connection of its
//! own: exactly one holder, released by PostgreSQL the moment the holder's connection dies),
//! the addresses in use published by the arbiter, and each host's share of them by
//! rendezvous hashing over the live hosts.

use crate::config::ClusterConfig;
use crate::store::sql::{Column, Database, Statement, Value};
use crate::store::Store;
use efi_plugin_api::Target;
use parking_lot::RwLock;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The advisory lock whose holder is the arbiter.
const ARBITER_LOCK: i64 = 0x00ef_1d00_0002;

/// What this host knows of the cluster.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClusterView {
    /// This host.
    pub host_id: String,
    /// The hosts whose lease is current, sorted.
    pub live_hosts: Vec<String>,
    /// Whether this host holds the arbiter role.
    pub arbiter: bool,
    /// Addresses in use, as the arbiter last published them.
    pub targets: usize,
}

/// This host's membership.
pub struct Cluster {
    db: Database,
    config: ClusterConfig,
    host_id: String,
    arbiter: AtomicBool,
    view: RwLock<ClusterView>,
    targets: RwLock<Vec<Target>>,
    role_changed: tokio::sync::Notify,
}

/// The machine's hostname (the default host ID).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are valid; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    if rc == 0 && end > 0 {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        format!("host-{}", std::process::id())
    }
}

/// A stable 64-bit hash (FNV-1a, then a SplitMix64 finaliser to spread close inputs); the
/// same on every host and every build, unlike std's hasher.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The host that polls `address` among `hosts`: the highest rendezvous score. When a host
/// leaves, only its own addresses move; when one joins, it takes about 1/n from each.
pub fn owner(address: IpAddr, hosts: &[String]) -> Option<&str> {
    let a = address.to_string();
    hosts
        .iter()
        .max_by_key(|h| (stable_hash(&[h.as_bytes(), a.as_bytes()]), h.as_str()))
        .map(String::as_str)
}

impl Cluster {
    /// Joins the cluster of `store` (which must be PostgreSQL) and starts heartbeating.
    pub async fn join(store: &Store, config: ClusterConfig) -> anyhow::Result<Arc<Cluster>> {
        let db = store.database().clone();
        anyhow::ensure!(
            db.kind() == "postgres",
            "[cluster] needs a PostgreSQL store ([store] url = \"postgres://...\")"
        );
        let host_id = config.host_id.clone().unwrap_or_else(hostname);
        let cluster = Arc::new(Cluster {
            db,
            host_id: host_id.clone(),
            arbiter: AtomicBool::new(false),
            view: RwLock::new(ClusterView {
                host_id,
                ..Default::default()
            }),
            targets: RwLock::new(Vec::new()),
            role_changed: tokio::sync::Notify::new(),
            config,
        });
        // One beat now, so this host counts before its first poll.
        cluster.beat().await?;
        Ok(cluster)
    }

    /// This host's ID.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Time between two heartbeats.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.config.heartbeat_ms)
    }

    /// True while this host holds the arbiter role.
    pub fn is_arbiter(&self) -> bool {
        self.arbiter.load(Ordering::Acquire)
    }

    /// Resolves when this host gains or loses the arbiter role.
    pub async fn role_changed(&self) {
        self.role_changed.notified().await
    }

    /// What this host knows of the cluster.
    pub fn view(&self) -> ClusterView {
        self.view.read().clone()
    }

    /// The addresses in use that this host polls: those whose rendezvous owner among the
    /// live hosts is this one.
    pub fn my_targets(&self) -> Vec<Target> {
        let view = self.view();
        let targets = self.targets.read();
        targets
            .iter()
            .filter(|t| owner(t.address, &view.live_hosts) == Some(self.host_id.as_str()))
            .cloned()
            .collect()
    }

    /// Publishes the addresses in use (the arbiter, after each cycle) and removes the stored
    /// state of devices no longer in use (no single poller forgets them in a cluster).
    pub async fn publish_targets(&self, targets: &[Target]) -> anyhow::Result<()> {
        let mut statements: Vec<Statement> = vec![("DELETE FROM cluster_targets", vec![])];
        for t in targets {
            statements.push((
                "INSERT INTO cluster_targets (address, target) VALUES ($1, $2)",
                vec![
                    Value::Text(Some(t.address.to_string())),
                    Value::Text(Some(serde_json::to_string(t)?)),
                ],
            ));
        }
        statements.push((
            "DELETE FROM devices WHERE address NOT IN (SELECT address FROM cluster_targets)",
            vec![],
        ));
        self.db
            .transaction("publishing the addresses in use", None, statements)
            .await?;
        *self.targets.write() = targets.to_vec();
        Ok(())
    }

    /// One heartbeat: renew this host's lease, read the live hosts and the published
    /// addresses, and try for (or check) the arbiter role.
    async fn beat(&self) -> anyhow::Result<()> {
        let now = crate::clock::now_unix_ms();
        self.db
            .execute(
                "renewing this host's lease",
                "INSERT INTO cluster_hosts (host_id, heartbeat_unix_ms, started_unix_ms) VALUES ($1, $2, $2)
                 ON CONFLICT (host_id) DO UPDATE SET heartbeat_unix_ms = excluded.heartbeat_unix_ms",
                vec![Value::Text(Some(self.host_id.clone())), Value::Int(Some(now))],
            )
            .await?;
        let rows = self
            .db
            .query(
                "reading the live hosts",
                "SELECT host_id FROM cluster_hosts WHERE heartbeat_unix_ms >= $1 ORDER BY host_id",
                vec![Value::Int(Some(now - self.config.lease_ms as i64))],
                &[Column::Text],
            )
            .await?;
        let live_hosts: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().and_then(Value::text))
            .collect();
        if !self.is_arbiter() {
            let rows = self
                .db
                .query(
                    "reading the addresses in use",
                    "SELECT target FROM cluster_targets",
                    vec![],
                    &[Column::Text],
                )
                .await?;
            let targets: Vec<Target> = rows
                .into_iter()
                .filter_map(|r| r.into_iter().next().and_then(Value::text))
                .filter_map(|json| serde_json::from_str(&json).ok())
                .collect();
            *self.targets.write() = targets;
        }
        let mut view = self.view.write();
        view.live_hosts = live_hosts;
        view.arbiter = self.is_arbiter();
        view.targets = self.targets.read().len();
        Ok(())
    }

    /// Heartbeats and holds (or waits for) the arbiter role until `stop` resolves; then
    /// leaves: the lease row is deleted and the role released, so the others take over at
    /// once rather than after `lease_ms`.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.config.heartbeat_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lock: Option<tokio_postgres::Client> = None;
        let mut failing = false;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => break,
            }
            // The role is held exactly as long as the lock's connection lives.
            if lock.as_ref().is_some_and(|c| c.is_closed()) {
                lock = None;
                self.set_arbiter(false);
            }
            if lock.is_none() {
                match self.try_lock().await {
                    Ok(held) => {
                        lock = held;
                        self.set_arbiter(lock.is_some());
                    }
                    Err(e) => tracing::warn!("cluster: the arbiter lock could not be tried: {e}"),
                }
            }
            match self.beat().await {
                Ok(()) if failing => {
                    tracing::info!("cluster: heartbeats are written again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        tracing::error!("cluster: heartbeat failed (the others will take this host's devices after {} ms): {e}", self.config.lease_ms);
                    }
                    failing = true;
                }
            }
        }
        drop(lock);
        self.set_arbiter(false);
        let _ = self
            .db
            .execute(
                "leaving the cluster",
                "DELETE FROM cluster_hosts WHERE host_id = $1",
                vec![Value::Text(Some(self.host_id.clone()))],
            )
            .await;
    }

    /// A connection holding the arbiter lock, or `None` when another host holds it.
    async fn try_lock(&self) -> anyhow::Result<Option<tokio_postgres::Client>> {
        let Some(client) = self.db.dedicated().await? else {
            return Ok(None);
        };
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&ARBITER_LOCK])
            .await?;
        Ok(row.get::<_, bool>(0).then_some(client))
    }

    fn set_arbiter(&self, arbiter: bool) {
        if self.arbiter.swap(arbiter, Ordering::AcqRel) != arbiter {
            if arbiter {
                tracing::info!(host = %self.host_id, "cluster: this host is now the arbiter");
            } else {
                tracing::warn!(host = %self.host_id, "cluster: this host is no longer the arbiter");
            }
            self.view.write().arbiter = arbiter;
            // A permit, not a broadcast: the run loop may not be waiting yet.
            self.role_changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("host-{i}")).collect()
    }

    #[test]
    fn every_address_has_one_owner_and_the_fleet_is_spread() {
        let three = hosts(3);
        let mut counts = std::collections::HashMap::new();
        for i in 0..3000u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a2d_0000 + i));
            *counts.entry(owner(a, &three).unwrap()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 3);
        for (h, n) in &counts {
            assert!((800..1200).contains(n), "{h} owns {n} of 3000");
        }
    }

    #[test]
    fn when_a_host_leaves_only_its_addresses_move() {
        let three = hosts(3);
        let two: Vec<String> = vec![three[0].clone(), three[2].clone()];
        for i in 0..1000u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a2d_0000 + i));
            let before = owner(a, &three).unwrap();
            let after = owner(a, &two).unwrap();
            if before != "host-1" {
                assert_eq!(before, after, "{a} moved though its owner stayed");
            }
        }
        assert_eq!(owner("10.0.0.1".parse().unwrap(), &[]), None);
    }
}
