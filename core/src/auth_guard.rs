//! Slows down guessing of the listener's credentials (webhook secrets and passwords, the API
//! token): failed authentications (401 answers to requests that presented credentials, which
//! the handlers mark with [`WrongCredentials`]; a request with none is no guess) are counted
//! per peer address; past a few,
//! the peer is answered 429 with Retry-After — its credentials not even checked — for a
//! time that doubles with each further failure. Other peers are never affected. Logged once
//! per burst, with the peer; counted on `/metrics`.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failures a peer may make before it is slowed down.
const FREE_FAILURES: u32 = 5;
/// The first block; each further failure doubles it.
const FIRST_BLOCK: Duration = Duration::from_millis(200);
/// The longest block.
const LONGEST_BLOCK: Duration = Duration::from_secs(60);
/// A peer quiet this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Most peers remembered (the quietest are forgotten first beyond it).
const MAX_PEERS: usize = 10_000;

/// What is known of one peer's failures.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

/// Marks a 401 answer to a request whose credentials were wrong (not missing).
#[derive(Debug, Clone, Copy)]
pub struct WrongCredentials;

/// The failure counts of every peer, shared by the whole listener.
#[derive(Debug, Default)]
pub struct AuthGuard {
    peers: Mutex<HashMap<IpAddr, Strikes>>,
    failures: AtomicU64,
    throttled: AtomicU64,
}

impl AuthGuard {
    /// How long `peer` must still wait, when it is blocked now.
    pub fn blocked(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        let peers = self.peers.lock();
        let until = peers.get(&peer)?.blocked_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Records a failed authentication by `peer`; returns the block it earned, if any.
    pub fn failed(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut peers = self.peers.lock();
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            forget_quiet(&mut peers, now);
        }
        let strikes = peers.entry(peer).or_insert(Strikes {
            failures: 0,
            last_failure: now,
            blocked_until: None,
        });
        if now.saturating_duration_since(strikes.last_failure) >= FORGET_AFTER {
            strikes.failures = 0;
            strikes.blocked_until = None;
        }
        strikes.failures += 1;
        strikes.last_failure = now;
        let over = strikes
            .failures
            .checked_sub(FREE_FAILURES)
            .filter(|n| *n > 0)?;
        let block = FIRST_BLOCK
            .saturating_mul(1u32 << (over - 1).min(16))
            .min(LONGEST_BLOCK);
        let first_of_burst = strikes.blocked_until.is_none();
        strikes.blocked_until = Some(now + block);
        if first_of_burst {
            tracing::warn!(
                %peer,
                "{} failed authentications from {peer}: slowed down (answered 429 for {} ms, doubling with each further failure)",
                strikes.failures,
                block.as_millis()
            );
        }
        Some(block)
    }

    /// Counts a request refused because its peer was blocked.
    fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// `efi_auth_failures_total` and `efi_auth_throttled_total`.
    pub fn encode_metrics(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        crate::metrics::counter(
            encoder,
            "efi_auth_failures",
            "Failed authentications on the listener (webhooks and API), every peer.",
            self.failures.load(Ordering::Relaxed),
        )?;
        crate::metrics::counter(
            encoder,
            "efi_auth_throttled",
            "Requests answered 429 because their peer failed authentication too often.",
            self.throttled.load(Ordering::Relaxed),
        )
    }
}

/// Drops the peers quiet longest, down to three quarters of the bound.
fn forget_quiet(peers: &mut HashMap<IpAddr, Strikes>, now: Instant) {
    peers.retain(|_, s| now.saturating_duration_since(s.last_failure) < FORGET_AFTER);
    if peers.len() >= MAX_PEERS {
        let mut by_age: Vec<(IpAddr, Instant)> =
            peers.iter().map(|(a, s)| (*a, s.last_failure)).collect();
        by_age.sort_by_key(|(_, t)| *t);
        for (a, _) in by_age.into_iter().take(peers.len() - MAX_PEERS * 3 / 4) {
            peers.remove(&a);
        }
    }
}

/// The listener's layer: a blocked peer is answered 429 at once; a 401 answer counts as a
/// failure of its peer.
pub fn layer(router: axum::Router, guard: Arc<AuthGuard>) -> axum::Router {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let guard = guard.clone();
            async move {
                let peer = request
                    .extensions()
                    .get::<axum::extract::ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                let Some(peer) = peer else {
                    return next.run(request).await;
                };
                if let Some(wait) = guard.blocked(peer, Instant::now()) {
                    guard.throttled();
                    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                    let mut response = (
                        StatusCode::TOO_MANY_REQUESTS,
                        axum::Json(serde_json::json!({
                            "error": format!("too many failed authentications from {peer}; retry in {secs} s")
                        })),
                    )
                        .into_response();
                    response.headers_mut().insert(
                        axum::http::header::RETRY_AFTER,
                        axum::http::HeaderValue::from(secs),
                    );
                    return response;
                }
                let response = next.run(request).await;
                if response.extensions().get::<WrongCredentials>().is_some() {
                    guard.failed(peer, Instant::now());
                }
                response
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guesser_is_blocked_for_doubling_times_and_other_peers_are_not() {
        let guard = AuthGuard::default();
        let (guesser, other): (IpAddr, IpAddr) =
            ("192.0.2.9".parse().unwrap(), "192.0.2.10".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(guard.failed(guesser, t0), None);
        }
        assert_eq!(guard.failed(guesser, t0), Some(FIRST_BLOCK));
        assert_eq!(guard.failed(guesser, t0), Some(FIRST_BLOCK * 2));
        assert_eq!(guard.blocked(guesser, t0), Some(FIRST_BLOCK * 2));
        assert_eq!(guard.blocked(other, t0), None);
        assert_eq!(guard.failed(other, t0), None, "its own count");
        // The block ends; a long quiet forgets the peer.
        assert_eq!(guard.blocked(guesser, t0 + FIRST_BLOCK * 2), None);
        let later = t0 + FORGET_AFTER;
        assert_eq!(guard.failed(guesser, later), None);
        // Blocks never grow past the longest.
        for _ in 0..64 {
            guard.failed(other, t0);
        }
        assert_eq!(guard.blocked(other, t0), Some(LONGEST_BLOCK));
    }
}
