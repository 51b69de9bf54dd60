//! HTTPS for the listener (`[server.tls]`): rustls with the certificate read again whenever
//! its files change (checked at most once a second, at a handshake), optional client
//! certificates required per route group (webhooks, API), and a plain-HTTP request on the
//! TLS port answered 400 instead of hanging in a failed handshake.

use crate::config::ListenerTls;
use axum::Router;
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Whether the connection presented a client certificate its CA accepted (an extension of
/// every request served over TLS).
#[derive(Debug, Clone, Copy)]
pub struct ClientCertificate(pub bool);

/// Route groups that may require a client certificate.
pub const ROUTE_GROUPS: [&str; 2] = ["webhooks", "api"];

/// The certificate and key, read again when either file changes.
#[derive(Debug)]
struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads a certificate chain and its key; the error names the file and what was wrong.
fn load_certified_key(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, String> {
    let cert_path = crate::config::resolve_path(cert_file)?;
    let key_path = crate::config::resolve_path(key_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| format!("[server.tls] cert_file {}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("[server.tls] cert_file {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "[server.tls] cert_file {}: no PEM certificate in it",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("[server.tls] key_file {}: {e}", key_path.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("[server.tls] key_file {}: {e}", key_path.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| {
        format!(
            "[server.tls] key_file {} does not belong to the certificate of cert_file {}: {e}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    Ok(certified)
}

impl ReloadingCert {
    fn new(tls: &ListenerTls) -> Result<ReloadingCert, String> {
        let key = load_certified_key(&tls.cert_file, &tls.key_file)?;
        Ok(ReloadingCert {
            cert_file: tls.cert_file.clone(),
            key_file: tls.key_file.clone(),
            state: Mutex::new(Loaded {
                key: Arc::new(key),
                stamps: (modified(&tls.cert_file), modified(&tls.key_file)),
                checked: Instant::now(),
            }),
        })
    }

    /// The current key, read again first when a file changed (checked once a second at
    /// most); a new file that does not load leaves the old certificate in service, logged.
    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock();
        if state.checked.elapsed() >= Duration::from_secs(1) {
            state.checked = Instant::now();
            let stamps = (modified(&self.cert_file), modified(&self.key_file));
            if stamps != state.stamps {
                match load_certified_key(&self.cert_file, &self.key_file) {
                    Ok(key) => {
                        tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate read again: it changed on disk");
                        state.key = Arc::new(key);
                        state.stamps = stamps;
                    }
                    // A renewal half written (the key replaced, not yet the certificate)
                    // is tried again at the next handshake.
                    Err(e) => tracing::warn!(
                        "TLS certificate not replaced: {e}; serving the previous one"
                    ),
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The rustls configuration of `[server.tls]`: TLS 1.2 and 1.3, HTTP/1.1, client
/// certificates from `client_ca_file` accepted (not required at the handshake: routes
/// decide).
pub fn server_config(tls: &ListenerTls) -> Result<Arc<rustls::ServerConfig>, String> {
    crate::engines::http::init_tls();
    let builder = rustls::ServerConfig::builder();
    let builder = match &tls.client_ca_file {
        Some(ca_file) => {
            let (roots, path) =
                crate::config::read_ca_roots("[server.tls] client_ca_file", ca_file)?;
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("[server.tls] client_ca_file {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(ReloadingCert::new(tls)?));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Refuses requests of the route groups in `required` that came without an accepted client
/// certificate (401, naming what is missing).
pub fn require_client_certificates(router: Router, required: &[String]) -> Router {
    let webhooks = required.iter().any(|g| g == "webhooks");
    let api = required.iter().any(|g| g == "api");
    if !webhooks && !api {
        return router;
    }
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let path = request.uri().path();
            let group_requires = if path.starts_with("/webhooks/") {
                webhooks
            } else {
                api && path != "/healthz"
            };
            let presented = request
                .extensions()
                .get::<ClientCertificate>()
                .is_some_and(|c| c.0);
            if group_requires && !presented {
                use axum::response::IntoResponse;
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({
                        "error": "this route needs a client certificate signed by a CA of [server.tls] client_ca_file"
                    })),
                )
                    .into_response();
            }
            next.run(request).await
        },
    ))
}

/// What a plain-HTTP client gets from the TLS port.
fn plain_http_refused() -> Vec<u8> {
    let body = "This port speaks HTTPS only ([server.tls]): use https://\n";
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` over TLS on `listener` until `stopped` resolves; connections in flight get
/// `grace` to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    stopped: impl std::future::Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stopped);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("HTTPS listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            if let Some(stream) = handshake(&acceptor, tcp, peer).await {
                let presented = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty());
                let app = app
                    .layer(axum::Extension(axum::extract::ConnectInfo(peer)))
                    .layer(axum::Extension(ClientCertificate(presented)));
                let service = hyper_util::service::TowerToHyperService::new(app);
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let connection =
                    builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = watcher.watch(connection.into_owned()).await;
            }
        });
    }
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("HTTPS listener: connections still open after 10 s; closed");
    }
}

/// The TLS handshake of one connection; a plain-HTTP request is answered 400 first.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(10), tcp.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] != 0x16 => {
            // Not a TLS handshake record: most likely `http://` to the HTTPS port.
            use tokio::io::AsyncWriteExt;
            let mut tcp = tcp;
            let _ = tcp.write_all(&plain_http_refused()).await;
            let _ = tcp.shutdown().await;
            tracing::debug!(%peer, "plain HTTP on the HTTPS port refused");
            return None;
        }
        Ok(Ok(_)) => {}
        _ => return None,
    }
    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            None
        }
        Err(_) => None,
    }
}
