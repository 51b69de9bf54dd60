//! The CWMP snooping proxy: CPEs' ACS URL points here; each CPE connection gets its own
//! connection to the real ACS (GenieACS keeps session state per socket), every byte is
//! forwarded as it came (plus a `Forwarded: for=` line when configured), and the CPE's
//! Informs and GetParameterValuesResponses are read on the side into the TR-069 cache,
//! each once the ACS has accepted it (a 2xx answer: an Inform refused for want of
//! credentials teaches nothing).
//! It never answers for either side, except 502 when the ACS cannot be reached. TLS is
//! passed through unread. Facts: shared/reference/epc-acs-tr069.md section 4.3.

use super::cache::Tr069Cache;
use super::cwmp::{self, CwmpMessage};
use super::framing::{Piece, Request, Splitter};
use crate::config::Tr069Config;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; dropping it stops accepting (connections in flight finish).
pub struct Proxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Binds `config.listen` and proxies to `config.acs`, recording into `cache`.
    pub async fn start(config: &Tr069Config, cache: Arc<Tr069Cache>) -> anyhow::Result<Proxy> {
        let listen = config
            .listen
            .ok_or_else(|| anyhow::anyhow!("tr069.listen is not set"))?;
        let acs = config.acs.clone().ok_or_else(|| {
            anyhow::anyhow!("tr069.acs is not set: the proxy needs the real ACS (host:port)")
        })?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("tr069.listen {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let settings = Arc::new(Settings {
            acs,
            forwarded_header: config.forwarded_header,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms.max(1)),
            close_grace: Duration::from_millis(config.close_grace_ms),
            max_body_bytes: config.max_body_bytes,
        });
        let max_connections = config.max_connections.max(1);
        let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
        let task = tokio::spawn(async move {
            // Saturation is logged at most once a minute, however long it lasts.
            let mut warned_full: Option<std::time::Instant> = None;
            loop {
                // At the cap, accept nothing until a connection ends: the next CPEs wait
                // in the listen backlog.
                let slot = match slots.clone().try_acquire_owned() {
                    Ok(slot) => slot,
                    Err(_) => {
                        if warned_full.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                            warned_full = Some(std::time::Instant::now());
                            tracing::warn!("tr069 proxy: {max_connections} connections open (tr069.max_connections); new CPEs wait until one ends");
                        }
                        match slots.clone().acquire_owned().await {
                            Ok(slot) => slot,
                            Err(_) => return,
                        }
                    }
                };
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let cache = cache.clone();
                        let settings = settings.clone();
                        tokio::spawn(async move {
                            cache.counters.open.fetch_add(1, Ordering::Relaxed);
                            connection(stream, peer, &settings, &cache).await;
                            cache.counters.open.fetch_sub(1, Ordering::Relaxed);
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!("tr069 proxy: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tracing::info!(%addr, "TR-069 snooping proxy ready");
        Ok(Proxy { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

struct Settings {
    acs: String,
    forwarded_header: bool,
    connect_timeout: Duration,
    idle_timeout: Duration,
    close_grace: Duration,
    max_body_bytes: usize,
}

const BAD_GATEWAY: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

async fn connection(cpe: TcpStream, peer: SocketAddr, settings: &Settings, cache: &Tr069Cache) {
    cache.counters.connections.fetch_add(1, Ordering::Relaxed);
    let upstream =
        match tokio::time::timeout(settings.connect_timeout, TcpStream::connect(&settings.acs))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return unreachable_acs(cpe, peer, &settings.acs, &e.to_string(), cache).await
            }
            Err(_) => {
                return unreachable_acs(cpe, peer, &settings.acs, "connect timed out", cache).await
            }
        };
    let _ = cpe.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut cpe_read, mut cpe_write) = cpe.into_split();
    let (mut acs_read, mut acs_write) = upstream.into_split();
    let ip = peer.ip();
    let idle = settings.idle_timeout;
    let pairing = parking_lot::Mutex::new(Pairing::default());
    let up = async {
        let mut splitter = Splitter::new(
            settings.forwarded_header.then_some(ip),
            settings.max_body_bytes,
        );
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(idle, cpe_read.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            };
            for piece in splitter.feed(&buf[..n]) {
                match piece {
                    Piece::Forward(bytes) => {
                        if acs_write.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Piece::Request(request) => {
                        let message = read_message(ip, &request, settings, cache);
                        let paired = pairing.lock().on_request(message);
                        if let Some((message, status)) = paired {
                            record(ip, message, status, cache);
                        }
                    }
                    Piece::Response(_) => {}
                    Piece::GaveUp(why) => {
                        cache
                            .counters
                            .passed_through
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(cpe = %ip, "tr069 proxy: passing the connection through unread: {why}");
                    }
                }
            }
        }
        if let Some(rest) = splitter.flush() {
            let _ = acs_write.write_all(&rest).await;
        }
        let _ = acs_write.shutdown().await;
    };
    let down = async {
        let mut splitter = Splitter::responses();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(idle, acs_read.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            };
            // Recorded before the answer goes on: once the CPE has the ACS's answer, what
            // it said is in the cache.
            if !splitter.is_raw() {
                for piece in splitter.feed(&buf[..n]) {
                    // Interim (1xx) answers do not answer the request.
                    let Piece::Response(status @ 200..) = piece else {
                        continue;
                    };
                    let paired = pairing.lock().on_response(status);
                    if let Some((message, status)) = paired {
                        record(ip, message, status, cache);
                    }
                }
            }
            if cpe_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cpe_write.shutdown().await;
    };
    // Once one direction has ended, the other gets `close_grace` to finish.
    tokio::pin!(up, down);
    let grace = settings.close_grace;
    tokio::select! {
        () = &mut up => { let _ = tokio::time::timeout(grace, down).await; }
        () = &mut down => { let _ = tokio::time::timeout(grace, up).await; }
    }
}

async fn unreachable_acs(
    mut cpe: TcpStream,
    peer: SocketAddr,
    acs: &str,
    why: &str,
    cache: &Tr069Cache,
) {
    cache
        .counters
        .upstream_failures
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(cpe = %peer.ip(), "tr069 proxy: the ACS at {acs} cannot be reached ({why}); answered 502, the CPE will retry");
    // Read the CPE's request first (briefly): an HTTP client still sending when the answer
    // and the close come may never see the answer.
    let mut splitter = Splitter::new(None, 0);
    let mut buf = vec![0u8; 16 * 1024];
    let read_request = async {
        loop {
            match cpe.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let pieces = splitter.feed(&buf[..n]);
                    if splitter.is_raw() || pieces.iter().any(|p| matches!(p, Piece::Request(_))) {
                        return;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read_request).await;
    let _ = cpe.write_all(BAD_GATEWAY).await;
    let _ = cpe.shutdown().await;
}

/// Requests and final responses of one connection, paired by their order (HTTP/1.1): the
/// n-th request's message meets the n-th final response's status, whichever of the two is
/// read first. Every request takes its turn, also one with nothing worth recording, so
/// nothing waits for a partner that never comes.
#[derive(Default)]
struct Pairing {
    requests: u64,
    responses: u64,
    /// Requests read before their response (`None`: nothing to record).
    messages: std::collections::HashMap<u64, Option<CwmpMessage>>,
    /// Final statuses read before their request was.
    statuses: std::collections::HashMap<u64, u16>,
}

impl Pairing {
    /// The next request, read: its message and status, if the status came first.
    fn on_request(&mut self, message: Option<CwmpMessage>) -> Option<(CwmpMessage, u16)> {
        let k = self.requests;
        self.requests += 1;
        match self.statuses.remove(&k) {
            Some(status) => message.map(|m| (m, status)),
            None => {
                self.messages.insert(k, message);
                None
            }
        }
    }

    /// The next final response's status: with its request's message, if that came first.
    fn on_response(&mut self, status: u16) -> Option<(CwmpMessage, u16)> {
        let k = self.responses;
        self.responses += 1;
        match self.messages.remove(&k) {
            Some(message) => message.map(|m| (m, status)),
            None => {
                self.statuses.insert(k, status);
                None
            }
        }
    }

    /// Requests or statuses still waiting for their partner.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.messages.len() + self.statuses.len()
    }
}

/// Reads one finished CPE request: the CWMP message worth recording, if any. Unreadable
/// bodies are counted and logged with the CPE's address and what was wrong; they were
/// forwarded all the same.
fn read_message(
    ip: IpAddr,
    request: &Request,
    settings: &Settings,
    cache: &Tr069Cache,
) -> Option<CwmpMessage> {
    let Some(body) = &request.body else {
        tracing::debug!(cpe = %ip, "tr069 proxy: a body over {} bytes was forwarded unread", settings.max_body_bytes);
        return None;
    };
    if body.is_empty() || request.method != "POST" {
        return None;
    }
    let read = cwmp::decode_body(
        body,
        request.content_type.as_deref(),
        request.content_encoding.as_deref(),
        settings.max_body_bytes,
    )
    .and_then(|text| cwmp::parse(&text));
    match read {
        Ok(Some(m @ (CwmpMessage::Inform(_) | CwmpMessage::ParameterValues(_)))) => Some(m),
        Ok(Some(CwmpMessage::Fault(f))) => {
            tracing::debug!(cpe = %ip, "tr069: the CPE answered its ACS with a fault: {f}");
            None
        }
        Ok(_) => None,
        Err(e) => {
            cache.counters.unreadable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(cpe = %ip, target = %request.target, "tr069 proxy: a CWMP message could not be read (forwarded unchanged): {e}");
            None
        }
    }
}

/// Records a message the ACS answered with `status` (only a 2xx counts).
fn record(ip: IpAddr, message: CwmpMessage, status: u16, cache: &Tr069Cache) {
    if !(200..300).contains(&status) {
        tracing::debug!(cpe = %ip, status, "tr069: the ACS did not accept the message; not recorded");
        return;
    }
    let now = crate::clock::now_unix_ms() as u64;
    match message {
        CwmpMessage::Inform(inform) => {
            tracing::debug!(cpe = %ip, device = %inform.device_id.genieacs_id(), events = ?inform.events, params = inform.params.len(), "tr069: Inform");
            cache.record_inform(ip, &inform, now);
        }
        CwmpMessage::ParameterValues(params) => {
            tracing::debug!(cpe = %ip, params = params.len(), "tr069: GetParameterValuesResponse");
            cache.record_values(ip, &params, now);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: &str) -> Option<CwmpMessage> {
        Some(CwmpMessage::ParameterValues(vec![
            efi_plugin_api::Tr069Param {
                path: n.into(),
                value: "v".into(),
                xsd_type: None,
            },
        ]))
    }

    fn path(paired: Option<(CwmpMessage, u16)>) -> Option<(String, u16)> {
        paired.map(|(m, status)| match m {
            CwmpMessage::ParameterValues(p) => (p[0].path.clone(), status),
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn requests_and_responses_pair_in_order_whichever_comes_first() {
        let mut p = Pairing::default();
        assert_eq!(path(p.on_request(values("A"))), None);
        assert_eq!(path(p.on_response(200)), Some(("A".into(), 200)));
        // The ACS's answer read before the request it answers.
        assert_eq!(path(p.on_response(401)), None);
        assert_eq!(path(p.on_request(values("B"))), Some(("B".into(), 401)));
        // Pipelined: two requests, then their two answers.
        assert_eq!(path(p.on_request(values("C"))), None);
        assert_eq!(path(p.on_request(values("D"))), None);
        assert_eq!(path(p.on_response(204)), Some(("C".into(), 204)));
        assert_eq!(path(p.on_response(200)), Some(("D".into(), 200)));
        assert_eq!(p.waiting(), 0);
    }

    #[test]
    fn a_request_with_nothing_to_record_still_takes_its_turn() {
        let mut p = Pairing::default();
        // The session's empty POST, answered 204: nothing recorded, nothing left waiting.
        assert_eq!(path(p.on_response(204)), None);
        assert_eq!(path(p.on_request(None)), None);
        assert_eq!(path(p.on_request(None)), None);
        assert_eq!(path(p.on_response(204)), None);
        assert_eq!(p.waiting(), 0);
        // The next message pairs with the next answer, not an earlier one.
        assert_eq!(path(p.on_request(values("E"))), None);
        assert_eq!(path(p.on_response(200)), Some(("E".into(), 200)));
    }
}
