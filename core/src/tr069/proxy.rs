//! The CWMP snooping proxy: CPEs' ACS URL points here; each CPE connection gets its own
//! connection to the real ACS (GenieACS keeps session state per socket), every byte is
//! forwarded as it came (plus a `Forwarded: for=` line when configured), and the CPE's
//! Informs and GetParameterValuesResponses are read on the side into the TR-069 cache.
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
                    Piece::Request(request) => snoop(ip, &request, settings, cache),
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
        let _ = acs_write.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(idle, acs_read.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            };
            if cpe_write.write_all(&buf[..n]).await.is_err() {
                break;
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
    let _ = cpe.write_all(BAD_GATEWAY).await;
    let _ = cpe.shutdown().await;
}

/// Reads one finished CPE request into the cache. Unreadable bodies are counted and logged
/// with the CPE's address and what was wrong; they were forwarded all the same.
fn snoop(ip: IpAddr, request: &Request, settings: &Settings, cache: &Tr069Cache) {
    let Some(body) = &request.body else {
        tracing::debug!(cpe = %ip, "tr069 proxy: a body over {} bytes was forwarded unread", settings.max_body_bytes);
        return;
    };
    if body.is_empty() || request.method != "POST" {
        return;
    }
    let read = cwmp::decode_body(
        body,
        request.content_type.as_deref(),
        request.content_encoding.as_deref(),
        settings.max_body_bytes,
    )
    .and_then(|text| cwmp::parse(&text));
    let now = efi_plugin_api::now_unix_ms();
    match read {
        Ok(Some(CwmpMessage::Inform(inform))) => {
            tracing::debug!(cpe = %ip, device = %inform.device_id.genieacs_id(), events = ?inform.events, params = inform.params.len(), "tr069: Inform");
            cache.record_inform(ip, &inform, now);
        }
        Ok(Some(CwmpMessage::ParameterValues(params))) => {
            tracing::debug!(cpe = %ip, params = params.len(), "tr069: GetParameterValuesResponse");
            cache.record_values(ip, &params, now);
        }
        Ok(Some(CwmpMessage::Fault(f))) => {
            tracing::debug!(cpe = %ip, "tr069: the CPE answered its ACS with a fault: {f}");
        }
        Ok(_) => {}
        Err(e) => {
            cache.counters.unreadable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(cpe = %ip, target = %request.target, "tr069 proxy: a CWMP message could not be read (forwarded unchanged): {e}");
        }
    }
}
