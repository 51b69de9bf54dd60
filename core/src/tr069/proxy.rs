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
            max_body_bytes: config.max_body_bytes,
        });
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let cache = cache.clone();
                        let settings = settings.clone();
                        tokio::spawn(async move {
                            connection(stream, peer, &settings, &cache).await;
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
    // Requests and responses pair up in order (HTTP/1.1): the n-th request's message is
    // recorded when the n-th final response is a 2xx, whichever of the two is read first.
    let pairing = std::sync::Mutex::new(Pairing::default());
    let up = async {
        let mut splitter = Splitter::new(
            settings.forwarded_header.then_some(ip),
            settings.max_body_bytes,
        );
        let mut buf = vec![0u8; 16 * 1024];
        let mut n_requests = 0u64;
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
                        let k = n_requests;
                        n_requests += 1;
                        if let Some(message) = read_message(ip, &request, settings, cache) {
                            let status = {
                                let mut p = pairing.lock().unwrap_or_else(|e| e.into_inner());
                                match p.statuses.remove(&k) {
                                    Some(status) => Some(status),
                                    None => {
                                        p.messages.insert(k, message.clone());
                                        None
                                    }
                                }
                            };
                            if let Some(status) = status {
                                record(ip, message, status, cache);
                            }
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
        let mut n_responses = 0u64;
        loop {
            let n = match tokio::time::timeout(idle, acs_read.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            };
            if cpe_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            if splitter.is_raw() {
                continue;
            }
            for piece in splitter.feed(&buf[..n]) {
                // Interim (1xx) answers do not answer the request.
                let Piece::Response(status @ 200..) = piece else {
                    continue;
                };
                let k = n_responses;
                n_responses += 1;
                let message = {
                    let mut p = pairing.lock().unwrap_or_else(|e| e.into_inner());
                    match p.messages.remove(&k) {
                        Some(m) => Some(m),
                        None => {
                            p.statuses.insert(k, status);
                            None
                        }
                    }
                };
                if let Some(message) = message {
                    record(ip, message, status, cache);
                }
            }
        }
        let _ = cpe_write.shutdown().await;
    };
    tokio::join!(up, down);
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

/// Messages read and statuses seen on one connection, by their order, until paired.
#[derive(Default)]
struct Pairing {
    messages: std::collections::HashMap<u64, CwmpMessage>,
    statuses: std::collections::HashMap<u64, u16>,
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
    let now = efi_plugin_api::now_unix_ms();
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
