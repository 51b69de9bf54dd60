//! ICMP echo engine: `fping -C count` semantics (one slot per probe, lost probes counted,
//! never mistaken for a latency) over one socket per address family for every target.
//!
//! Sockets are unprivileged datagram ICMP sockets where `net.ipv4.ping_group_range` allows
//! them and raw sockets otherwise (root or CAP_NET_RAW); surge-ping demultiplexes the
//! answers of thousands of targets in flight by address, identifier and sequence number.

use crate::config::IcmpConfig;
use efi_plugin_api::{IcmpStats, IoError, IoErrorKind};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use surge_ping::{Client, PingIdentifier, PingSequence, SurgeError, ICMP};
use tokio::sync::OnceCell;

/// The ICMP engine. Sockets are opened on first use, so a host that never pings needs no
/// privilege.
pub struct IcmpEngine {
    config: IcmpConfig,
    v4: OnceCell<Client>,
    v6: OnceCell<Client>,
    next_ident: AtomicU16,
    next_sequence: AtomicU16,
}

impl IcmpEngine {
    /// An engine with these settings.
    pub fn new(config: IcmpConfig) -> Self {
        IcmpEngine {
            config,
            v4: OnceCell::new(),
            v6: OnceCell::new(),
            next_ident: AtomicU16::new(std::process::id() as u16),
            next_sequence: AtomicU16::new(0),
        }
    }

    /// The settings this engine runs with.
    pub fn config(&self) -> &IcmpConfig {
        &self.config
    }

    /// Sends `count` echo requests to `address`, `interval_ms` apart, and waits up to
    /// `timeout_ms` for each answer. A probe that gets no answer in time, or that the
    /// network refuses (host unreachable), is a lost probe. Only a socket that cannot be
    /// opened is an error.
    pub async fn probe(&self, address: IpAddr, count: u32) -> Result<IcmpStats, IoError> {
        let client = self.client(address).await?;
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let interval = Duration::from_millis(self.config.interval_ms);
        let payload = vec![0x5a_u8; self.config.payload_bytes];
        let ident = PingIdentifier(self.next_ident.fetch_add(1, Ordering::Relaxed));
        // Sequence numbers are unique across concurrent probes of one address (datagram
        // sockets match answers by address and sequence only; the kernel owns the id).
        let first = self
            .next_sequence
            .fetch_add(count.min(u16::MAX as u32) as u16, Ordering::Relaxed);
        let start = tokio::time::Instant::now();
        // Never clone the Client: dropping any clone marks surge-ping's reply map destroyed
        // (0.8.4), which would fail every later probe.
        let probes = (0..count).map(|i| {
            let payload = &payload;
            async move {
                tokio::time::sleep_until(start + interval * i).await;
                let mut pinger = client.pinger(address, ident).await;
                pinger.timeout(timeout);
                let seq = PingSequence(first.wrapping_add(i as u16));
                match pinger.ping(seq, payload).await {
                    Ok((_, rtt)) => Some(rtt.as_secs_f64() * 1000.0),
                    Err(SurgeError::Timeout { .. }) => None,
                    Err(e) => {
                        tracing::trace!(%address, error = %e, "ICMP probe failed; counted as lost");
                        None
                    }
                }
            }
        });
        let rtts_ms = futures::future::join_all(probes).await;
        Ok(IcmpStats { rtts_ms })
    }

    async fn client(&self, address: IpAddr) -> Result<&Client, IoError> {
        let (cell, kind) = match address {
            IpAddr::V4(_) => (&self.v4, ICMP::V4),
            IpAddr::V6(_) => (&self.v6, ICMP::V6),
        };
        cell.get_or_try_init(|| async {
            let config = surge_ping::Config::builder()
                .kind(kind)
                .sock_type_hint(socket2::Type::DGRAM)
                .build();
            let client = Client::new(&config).map_err(|e| {
                IoError::new(
                    IoErrorKind::Other,
                    format!(
                        "cannot open an ICMP{} socket: {e} (datagram ICMP sockets need the \
                         process's group in sysctl net.ipv4.ping_group_range; raw sockets need \
                         root or CAP_NET_RAW)",
                        if matches!(kind, ICMP::V6) { "v6" } else { "" }
                    ),
                )
            })?;
            if self.config.receive_buffer_bytes > 0 {
                let fd = client.get_socket().get_native_sock();
                set_receive_buffer(fd, self.config.receive_buffer_bytes);
            }
            Ok(client)
        })
        .await
    }
}

/// Asks for a larger receive buffer so a burst of answers from thousands of targets is not
/// dropped by the kernel (which would read as loss). The kernel caps it at
/// net.core.rmem_max unless the process may raise it (SO_RCVBUFFORCE).
fn set_receive_buffer(fd: std::os::fd::RawFd, bytes: usize) {
    let size = bytes.min(i32::MAX as usize) as libc::c_int;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ptr = &size as *const libc::c_int as *const libc::c_void;
    // SAFETY: fd is the engine's own open socket; the option value is a c_int that outlives
    // the calls.
    unsafe {
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, ptr, len) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, ptr, len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> IcmpConfig {
        IcmpConfig {
            timeout_ms: 1000,
            interval_ms: 10,
            ..IcmpConfig::default()
        }
    }

    #[tokio::test]
    async fn loopback_answers_every_probe_v4_and_v6() {
        let engine = IcmpEngine::new(quick());
        for address in ["127.0.0.1", "127.31.0.7", "::1"] {
            let stats = engine.probe(address.parse().unwrap(), 3).await.unwrap();
            assert_eq!(stats.sent(), 3, "{address}");
            assert_eq!(stats.received(), 3, "{address}: {stats:?}");
            assert!(stats.min_ms().unwrap() <= stats.max_ms().unwrap());
        }
    }

    #[tokio::test]
    async fn concurrent_probes_of_one_address_do_not_collide() {
        let engine = IcmpEngine::new(quick());
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        let results = futures::future::join_all((0..20).map(|_| engine.probe(address, 2))).await;
        for stats in results {
            assert_eq!(stats.unwrap().received(), 2);
        }
    }
}
