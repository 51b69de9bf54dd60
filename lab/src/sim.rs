//! Pieces every HTTP simulator shares: a server on a loopback port, an injectable clock,
//! and per-endpoint fault injection (5xx, rate-limit answers, slow answers, dropped
//! connections).

use axum::body::Body;
use axum::http::{Response, StatusCode};
use axum::Router;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// Time as a simulator sees it; tests use [`ManualClock`] so they never sleep.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The real clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// Starts at `start_ms`.
    pub fn new(start_ms: u64) -> Arc<Self> {
        Arc::new(ManualClock(AtomicU64::new(start_ms)))
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A misbehaviour of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a short JSON error body.
    Status(u16),
    /// Answer as the service does when its rate limit is hit.
    RateLimited,
    /// Answer normally, after this delay.
    Slow(Duration),
    /// Send the status line and headers, then drop the connection before the body.
    Drop,
    /// Answer 200 with a body cut in the middle (JSON that does not parse).
    Truncated,
    /// Answer 200 with an empty collection (`[]`), as an EPC with a glitch does.
    EmptyList,
}

/// Faults queued per endpoint name; each queued fault applies to one request. An endpoint
/// may also be in a storm: a share of its requests (beyond the queued ones) answered with
/// faults in turn, chosen by a seeded generator so a run can be repeated.
#[derive(Debug, Default, Clone)]
pub struct Faults(
    Arc<Mutex<HashMap<String, VecDeque<Fault>>>>,
    Arc<Mutex<HashMap<String, Storm>>>,
);

/// A share of an endpoint's requests answered with faults.
#[derive(Debug)]
struct Storm {
    per_mille: u64,
    faults: Vec<Fault>,
    state: u64,
    next: usize,
    /// Faults given so far.
    given: usize,
}

impl Storm {
    /// The next fault, or none for this request (xorshift64*: repeatable, good enough).
    fn take(&mut self) -> Option<Fault> {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let roll = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % 1000;
        if roll >= self.per_mille || self.faults.is_empty() {
            return None;
        }
        self.next = (self.next + 1) % self.faults.len();
        self.given += 1;
        Some(self.faults[self.next].clone())
    }
}

impl Faults {
    /// Answers `per_mille` of `endpoint`'s requests (after any queued faults) with `faults`
    /// in turn, until [`Faults::clear`]; `seed` makes the run repeatable.
    pub fn storm(&self, endpoint: &str, per_mille: u64, faults: Vec<Fault>, seed: u64) {
        self.1.lock().unwrap().insert(
            endpoint.to_owned(),
            Storm {
                per_mille,
                faults,
                state: seed.max(1),
                next: 0,
                given: 0,
            },
        );
    }

    /// Queues `fault` for the next `times` requests to `endpoint`.
    pub fn inject(&self, endpoint: &str, fault: Fault, times: usize) {
        let mut map = self.0.lock().unwrap();
        let queue = map.entry(endpoint.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Faults the storm on `endpoint` has given so far.
    pub fn stormed(&self, endpoint: &str) -> usize {
        self.1.lock().unwrap().get(endpoint).map_or(0, |s| s.given)
    }

    /// Removes every queued fault.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
        self.1.lock().unwrap().clear();
    }

    /// Faults queued and not yet taken, over every endpoint.
    pub fn pending(&self) -> usize {
        self.0.lock().unwrap().values().map(VecDeque::len).sum()
    }

    /// Takes the fault for this request, if any.
    pub fn take(&self, endpoint: &str) -> Option<Fault> {
        let queued = self
            .0
            .lock()
            .unwrap()
            .get_mut(endpoint)
            .and_then(VecDeque::pop_front);
        queued.or_else(|| self.1.lock().unwrap().get_mut(endpoint)?.take())
    }
}

/// A response whose body fails after the headers: the client sees the connection drop.
pub fn dropped_connection() -> Response<Body> {
    let stream = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .expect("static response")
}

/// A JSON answer with this status.
pub fn json_response(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("static response")
}

/// A 200 answer whose JSON body stops half way.
pub fn truncated_json(full: &str) -> Response<Body> {
    let cut = &full[..full.len() / 2];
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(cut.to_owned()))
        .expect("static response")
}

/// A running HTTP(S) simulator; stops when dropped.
pub struct SimServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
    scheme: &'static str,
}

impl SimServer {
    /// Serves `router` on `bind` (port 0 for an ephemeral port).
    pub async fn start(bind: SocketAddr, router: Router) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Ok(SimServer {
            addr,
            task,
            scheme: "http",
        })
    }

    /// Serves `router` over TLS with `tls` (which may demand client certificates: a client
    /// without an acceptable one fails in the handshake and never reaches the router).
    pub async fn start_tls(
        bind: SocketAddr,
        router: Router,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _peer)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        Ok(SimServer {
            addr,
            task,
            scheme: "https",
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr` or `https://addr`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The values of every cookie called `name` in a request's `Cookie` headers, in order.
pub fn cookie_values<'a>(
    headers: &'a axum::http::HeaderMap,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Checks HTTP Basic credentials in an `Authorization` header value.
pub fn basic_auth_matches(header: Option<&str>, user: &str, password: &str) -> bool {
    use base64::Engine as _;
    let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    decoded == format!("{user}:{password}").as_bytes()
}

/// The answer for a fault that does not depend on the endpoint's payload, or `None` when the
/// request should be served (after sleeping for [`Fault::Slow`]).
pub async fn apply_fault(fault: Option<Fault>, limit_body: &str) -> Option<Response<Body>> {
    match fault? {
        Fault::Status(code) => Some(
            Response::builder()
                .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header("content-type", "application/json")
                .body(Body::from(format!(
                    "{{\"error\":{{\"message\":\"simulated failure {code}\"}}}}"
                )))
                .expect("static response"),
        ),
        Fault::RateLimited => Some(
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("content-type", "application/json")
                .body(Body::from(limit_body.to_owned()))
                .expect("static response"),
        ),
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        Fault::Drop => Some(dropped_connection()),
        Fault::Truncated | Fault::EmptyList => None,
    }
}
