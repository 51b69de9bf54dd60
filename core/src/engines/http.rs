//! HTTP engine: reqwest clients per TLS policy and credential set, host-held credentials
//! (Basic, Bearer, client certificates, or filled into a login form), cookies kept per
//! device, a pace per rate class (never more than its count in any window), retries of
//! overload answers (and, for reads, of 500s and dropped answers) with backoff, a
//! body-size cap.

use crate::config::{CredentialConfig, HttpConfig};
use efi_plugin_api::{
    percent_encode, HttpRequest, HttpResponse, IoError, IoErrorKind, IoReply, IoResponse, TlsPolicy,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Installs the process-wide TLS provider (ring) once.
pub fn init_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The pace of one rate class: never more than `limit` requests in any window of `window`
/// (a log of send times, so a service that counts a rolling window never refuses us), and no
/// more than the bucket's burst back to back.
struct Pace {
    bucket: Bucket,
    sent: std::collections::VecDeque<Instant>,
    limit: usize,
    /// The window plus a margin for requests that arrive closer together than they left.
    window: Duration,
}

impl Pace {
    fn new(limit: &crate::config::RateLimit) -> Pace {
        let per_window = limit.per_minute.max(1);
        let window = Duration::from_secs(limit.window_secs.unwrap_or(60).max(1));
        let capacity = f64::from(limit.burst.unwrap_or((per_window / 6).max(1)));
        Pace {
            bucket: Bucket {
                tokens: capacity,
                capacity,
                per_sec: f64::from(per_window) / window.as_secs_f64(),
                last: Instant::now(),
            },
            sent: Default::default(),
            limit: per_window as usize,
            window: window + (window / 50).max(Duration::from_millis(100)),
        }
    }

    /// Records a send now, or says how long until one may go.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.limit {
            let oldest = *self.sent.front().expect("the log is full");
            return Some((oldest + self.window).saturating_duration_since(now));
        }
        let wait = self.bucket.take(now);
        if wait.is_none() {
            self.sent.push_back(now);
        }
        wait
    }
}

struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec))
        }
    }
}

/// The HTTP engine.
pub struct HttpEngine {
    config: HttpConfig,
    credentials: BTreeMap<String, CredentialConfig>,
    clients: Mutex<HashMap<(bool, Option<String>), reqwest::Client>>,
    paces: Mutex<HashMap<String, Pace>>,
    /// One cookie store for every client: cookies are kept per device because a cookie set
    /// by one address is only ever sent back to that address (RFC 6265 host-only cookies),
    /// whichever TLS policy or credential set a later request uses.
    cookies: std::sync::Arc<reqwest::cookie::Jar>,
    /// Counters by rate class ("unclassed" for requests without one), for `/metrics`.
    stats: Mutex<BTreeMap<String, ClassStats>>,
}

/// What happened to the requests of one rate class.
#[derive(Debug, Default, Clone)]
struct ClassStats {
    /// Requests sent (each retry counts).
    sent: u64,
    /// Answers saying the service is overloaded or limiting us (429, 502, 503, 504).
    limited: u64,
    /// Requests that waited for this host's own token bucket.
    throttled: u64,
    /// Requests that got no answer (connection, TLS, timeout).
    failed: u64,
}

/// Reads and parses a PEM file of credential set `set` (`key` is its setting); the error
/// names the set, the setting, the file and what was wrong.
fn read_pem<T>(
    set: &str,
    key: &str,
    path: &std::path::Path,
    parse: impl FnOnce(&[u8]) -> reqwest::Result<T>,
) -> Result<T, IoError> {
    let resolved = crate::config::resolve_path(path)
        .map_err(|e| err(IoErrorKind::Other, format!("credentials {set}: {key} {e}")))?;
    let pem = std::fs::read(&resolved).map_err(|e| {
        err(
            IoErrorKind::Other,
            format!(
                "credentials {set}: {key} {}",
                crate::config::unreadable(&resolved, &e)
            ),
        )
    })?;
    parse(&pem).map_err(|e| {
        err(
            IoErrorKind::Other,
            format!("credentials {set}: {key} {}: {e}", path.display()),
        )
    })
}

fn err(kind: IoErrorKind, message: impl Into<String>) -> IoError {
    IoError::new(kind, message)
}

impl HttpEngine {
    /// An engine with these settings and credential sets.
    pub fn new(config: HttpConfig, credentials: BTreeMap<String, CredentialConfig>) -> Self {
        init_tls();
        HttpEngine {
            config,
            credentials,
            clients: Mutex::new(HashMap::new()),
            paces: Mutex::new(HashMap::new()),
            cookies: Default::default(),
            stats: Mutex::new(BTreeMap::new()),
        }
    }

    fn count(&self, class: Option<&str>, f: impl FnOnce(&mut ClassStats)) {
        let mut stats = self.stats.lock();
        f(stats
            .entry(class.unwrap_or("unclassed").to_owned())
            .or_default());
    }

    /// Requests, limit answers, throttling and failures by rate class (`class="sonar"` is
    /// Sonar's API).
    pub fn encode_metrics(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        let stats = self.stats.lock().clone();
        type Field = fn(&ClassStats) -> u64;
        let families: [(&str, &str, Field); 4] = [
            ("efi_http_requests", "HTTP requests sent, by rate class (retries count).", |s| s.sent),
            ("efi_http_limited", "Answers saying the service is overloaded or rate-limiting (429, 502, 503, 504), by rate class.", |s| s.limited),
            ("efi_http_throttled", "Requests that waited for this host's own rate limit ([http.rate_limits]), by rate class.", |s| s.throttled),
            ("efi_http_failed", "Requests that got no answer (connection, TLS, timeout), by rate class.", |s| s.failed),
        ];
        for (name, help, field) in families {
            let samples = stats
                .iter()
                .map(|(class, s)| ([("class", class.as_str())], field(s)));
            crate::metrics::counters(encoder, name, help, samples)?;
        }
        Ok(())
    }

    fn client(
        &self,
        insecure: bool,
        credentials: Option<&str>,
    ) -> Result<reqwest::Client, IoError> {
        let key = (insecure, credentials.map(str::to_owned));
        if let Some(c) = self.clients.lock().get(&key) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .pool_max_idle_per_host(4)
            .pool_idle_timeout(Duration::from_secs(30))
            .cookie_provider(self.cookies.clone())
            .user_agent(concat!("efi-poller/", env!("CARGO_PKG_VERSION")));
        if insecure {
            b = b
                .tls_danger_accept_invalid_certs(true)
                .tls_danger_accept_invalid_hostnames(true);
        }
        if let Some(name) = credentials {
            let cred = self.credential(name)?;
            if let Some(ca) = &cred.ca_file {
                let cert = read_pem(name, "ca_file", ca, reqwest::Certificate::from_pem)?;
                b = b.tls_certs_only([cert]);
            }
            if let Some(path) = &cred.client_cert {
                b = b.identity(read_pem(
                    name,
                    "client_cert",
                    path,
                    reqwest::Identity::from_pem,
                )?);
            }
        }
        let client = b.build().map_err(|e| {
            err(
                IoErrorKind::Other,
                format!("cannot build an HTTP client: {e}"),
            )
        })?;
        self.clients.lock().insert(key, client.clone());
        Ok(client)
    }

    fn credential(&self, name: &str) -> Result<&CredentialConfig, IoError> {
        self.credentials.get(name).ok_or_else(|| {
            err(
                IoErrorKind::Auth,
                format!("no credential set named {name:?} in [credentials]"),
            )
        })
    }

    fn authorization(&self, name: &str) -> Result<Option<String>, IoError> {
        use base64::Engine as _;
        let c = self.credential(name)?;
        if let Some(user) = &c.username {
            let password = c.password.as_ref().map(|p| p.expose()).unwrap_or_default();
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            return Ok(Some(format!("Basic {token}")));
        }
        if let Some(token) = &c.bearer {
            return Ok(Some(format!("Bearer {}", token.expose())));
        }
        if let Some(path) = &c.bearer_file {
            let token = crate::config::read_file(path).map_err(|e| {
                err(
                    IoErrorKind::Auth,
                    format!("credentials {name}: bearer_file {e}"),
                )
            })?;
            return Ok(Some(format!("Bearer {}", token.trim())));
        }
        Ok(None)
    }

    async fn wait_for_token(&self, class: &str) {
        let mut waited = false;
        loop {
            let wait = {
                let mut paces = self.paces.lock();
                let Some(limit) = self.config.rate_limits.get(class) else {
                    return;
                };
                paces
                    .entry(class.to_owned())
                    .or_insert_with(|| Pace::new(limit))
                    .take(Instant::now())
            };
            match wait {
                None => return,
                Some(d) => {
                    if !waited {
                        waited = true;
                        self.count(Some(class), |s| s.throttled += 1);
                    }
                    tokio::time::sleep(d).await
                }
            }
        }
    }

    /// Runs one HTTP request.
    pub async fn execute(&self, request: &HttpRequest) -> IoResponse {
        let insecure =
            match request.tls {
                TlsPolicy::Verify => false,
                TlsPolicy::AcceptInvalid if self.config.allow_invalid_certs => true,
                TlsPolicy::AcceptInvalid => return Err(err(
                    IoErrorKind::Unsupported,
                    "accepting invalid certificates is disabled (http.allow_invalid_certs = false)",
                )),
            };
        let client = self.client(insecure, request.credentials.as_deref())?;
        let (url, body, auth) = match &request.credentials {
            Some(name) if request.credentials_in_form => {
                let c = self.credential(name)?;
                let fill = |text: &str| {
                    text.replace(
                        "{username}",
                        &percent_encode(c.username.as_deref().unwrap_or_default()),
                    )
                    .replace(
                        "{password}",
                        &percent_encode(
                            c.password.as_ref().map(|p| p.expose()).unwrap_or_default(),
                        ),
                    )
                };
                let body = match std::str::from_utf8(&request.body) {
                    Ok(text) => fill(text).into_bytes(),
                    Err(_) => request.body.clone(),
                };
                (fill(&request.url), body, None)
            }
            Some(name) => (
                request.url.clone(),
                request.body.clone(),
                self.authorization(name)?,
            ),
            None => (request.url.clone(), request.body.clone(), None),
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            err(
                IoErrorKind::Protocol,
                format!("bad HTTP method {:?}", request.method),
            )
        })?;
        let timeout = Duration::from_millis(
            request
                .timeout_ms
                .map(u64::from)
                .unwrap_or(self.config.timeout_ms),
        );
        let mut attempt = 0u32;
        loop {
            if let Some(class) = &request.rate_class {
                self.wait_for_token(class).await;
            }
            let mut rb = client
                .request(method.clone(), &url)
                .timeout(timeout)
                .body(body.clone());
            for (k, v) in &request.headers {
                rb = rb.header(k, v);
            }
            if let Some(a) = &auth {
                rb = rb.header("authorization", a);
            }
            let class = request.rate_class.as_deref();
            let may_retry = attempt < self.config.max_retries;
            let backoff = Duration::from_millis(
                self.config
                    .retry_base_ms
                    .saturating_mul(1 << attempt.min(16)),
            )
            .min(Duration::from_secs(30));
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    self.count(class, |s| {
                        s.sent += 1;
                        s.failed += 1;
                    });
                    let e = classify(&request.url, e);
                    if request.idempotent && may_retry {
                        attempt += 1;
                        tracing::debug!(url = %request.url, attempt, "no answer to a read ({e}); retrying");
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                    return Err(e);
                }
            };
            let status = resp.status().as_u16();
            let overloaded = matches!(status, 429 | 502 | 503 | 504);
            self.count(class, |s| {
                s.sent += 1;
                s.limited += u64::from(overloaded);
            });
            let retry_overload = request.retry_overload || request.idempotent;
            if may_retry
                && ((retry_overload && overloaded) || (request.idempotent && status == 500))
            {
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                attempt += 1;
                tracing::debug!(url = %request.url, status, attempt, "answer that asks to retry; retrying");
                tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
                continue;
            }
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = match read_capped(resp, self.config.max_body_bytes, &request.url).await {
                Ok(body) => body,
                Err(BodyError::CutOff(e)) if request.idempotent && may_retry => {
                    attempt += 1;
                    tracing::debug!(url = %request.url, attempt, "answer to a read cut off ({e}); retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(BodyError::CutOff(e) | BodyError::TooLarge(e)) => return Err(e),
            };
            if request.idempotent && may_retry && status == 200 && cut_short_json(&headers, &body) {
                attempt += 1;
                tracing::debug!(url = %request.url, attempt, "JSON answer to a read cut short; retrying");
                tokio::time::sleep(backoff).await;
                continue;
            }
            return Ok(IoReply::Http(HttpResponse {
                status,
                headers,
                body,
            }));
        }
    }
}

/// True when the answer says it is JSON and its body does not parse: cut short on the way.
fn cut_short_json(headers: &[(String, String)], body: &[u8]) -> bool {
    let json = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json")
    });
    json && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
}

/// Why a body could not be read.
enum BodyError {
    /// The connection failed mid-body: sending a read again may succeed.
    CutOff(IoError),
    /// Larger than the cap: final.
    TooLarge(IoError),
}

async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    url: &str,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::CutOff(classify(url, e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge(err(
                IoErrorKind::Protocol,
                format!("{url}: response body larger than {cap} bytes"),
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An I/O error naming the URL and the whole cause chain (TLS causes included).
pub fn classify(url: &str, e: reqwest::Error) -> IoError {
    let kind = if e.is_timeout() {
        IoErrorKind::Timeout
    } else if e.is_connect() {
        IoErrorKind::Refused
    } else if e.is_body() || e.is_decode() {
        IoErrorKind::Protocol
    } else {
        IoErrorKind::Other
    };
    // reqwest's Display of a request error includes the URL it sent, which may carry a
    // filled-in credential; name the URL the plugin gave instead, and add the source chain
    // for TLS causes.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    if !message.contains(url) {
        message = format!("{url}: {message}");
    }
    err(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_never_sends_more_than_its_count_in_any_window() {
        // A sender that goes as soon as the pace lets it, for ten windows.
        let limit = crate::config::RateLimit {
            per_minute: 40,
            burst: Some(40),
            window_secs: Some(1),
        };
        let mut pace = Pace::new(&limit);
        let start = Instant::now();
        let mut now = start;
        let mut sent = Vec::new();
        while now < start + Duration::from_secs(10) {
            match pace.take(now) {
                None => sent.push(now),
                Some(wait) => now += wait.max(Duration::from_micros(1)),
            }
        }
        let window = Duration::from_secs(1);
        let most = sent
            .iter()
            .map(|t| {
                sent.iter()
                    .filter(|u| **u >= *t && **u < *t + window)
                    .count()
            })
            .max()
            .unwrap();
        assert_eq!(most, 40, "the full count goes in a window, never more");
        // And the pace is kept: about 40 a second over the run (the margin costs a little).
        assert!(sent.len() > 360 && sent.len() <= 400, "{}", sent.len());
    }

    #[test]
    fn bucket_refills_at_its_rate() {
        let start = Instant::now();
        let mut b = Bucket {
            tokens: 2.0,
            capacity: 2.0,
            per_sec: 1.0,
            last: start,
        };
        assert!(b.take(start).is_none());
        assert!(b.take(start).is_none());
        let wait = b.take(start).unwrap();
        // Two tokens gone, none refilled (the clock did not move): one full token at 1/s.
        assert_eq!(wait, Duration::from_secs(1));
        assert!(b.take(start + Duration::from_millis(1500)).is_none());
    }
}
