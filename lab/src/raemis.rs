//! A Druid Raemis EPC simulator: the REST API (`/api/subscriber`, `/api/data_session`,
//! `/api/count/<object>`, `/api/session` login) behind Basic auth or a session cookie, and the
//! event push (`pdp_context_activated` / `pdp_context_deactivated`, form-encoded POSTs) to a
//! configured URL. Facts: shared/reference/epc-acs-tr069.md section 1.
//!
//! Where the reference is silent, the choices are: 401 with `WWW-Authenticate: Basic` for bad
//! credentials, cookie `raemis_session`, rows ordered by `id`, unknown filter fields match
//! nothing, unknown objects are 404. Pushes can be paused, dropped, duplicated and reordered
//! to exercise at-least-once handling.

use crate::sim::{
    apply_fault, basic_auth_matches, cookie_values, json_response, truncated_json, Clock, Fault,
    Faults, SimServer, SystemClock,
};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// A subscriber row (`GET /api/subscriber`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    /// Row id.
    #[serde(default)]
    pub id: i64,
    /// IMSI (15 digits, a string: leading zeros matter).
    pub imsi: String,
    /// IMEI (may be empty).
    #[serde(default)]
    pub imei: String,
    /// MSISDN.
    #[serde(default)]
    pub msisdn: String,
    /// `ATTACHED` or `DETACHED`.
    #[serde(default = "detached")]
    pub local_ps_attachment: String,
    /// Operator free text: the customer's name.
    #[serde(default)]
    pub name: String,
    /// Cell, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_id: Option<String>,
    /// TMSI.
    #[serde(default)]
    pub tmsi: String,
    /// P-TMSI.
    #[serde(default)]
    pub ptmsi: String,
    /// MNO PS attachment.
    #[serde(default = "detached")]
    pub mno_ps_attachment: String,
    /// MNO attachment.
    #[serde(default = "detached")]
    pub mno_attachment: String,
    /// SIP client attachment.
    #[serde(default = "detached")]
    pub sip_client_attachment: String,
    /// Domain.
    #[serde(default)]
    pub domain: String,
}

fn detached() -> String {
    "DETACHED".into()
}

impl Subscriber {
    /// A detached subscriber.
    pub fn new(imsi: &str, imei: &str, msisdn: &str, name: &str) -> Self {
        Subscriber {
            id: 0,
            imsi: imsi.into(),
            imei: imei.into(),
            msisdn: msisdn.into(),
            local_ps_attachment: detached(),
            name: name.into(),
            cell_id: None,
            tmsi: String::new(),
            ptmsi: String::new(),
            mno_ps_attachment: detached(),
            mno_attachment: detached(),
            sip_client_attachment: detached(),
            domain: String::new(),
        }
    }
}

/// A PDN session row (`GET /api/data_session`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSession {
    /// Row id.
    pub id: i64,
    /// IMSI.
    pub imsi: String,
    /// IPv4 address of the session.
    pub ip: String,
    /// APN.
    pub apn: String,
}

/// One pushed event, as sent (form fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEvent {
    /// IMSI.
    pub imsi: String,
    /// `pdp_context_activated` or `pdp_context_deactivated`.
    pub event_type: String,
    /// `YYYY-MM-DD HH:MM:SS.ffffff`, UTC, no zone.
    pub event_time: String,
    /// A JSON object as text: `{"ip":"10.45.0.10","apn":"internet"}`.
    pub add_text: String,
}

/// Where and how events are pushed.
#[derive(Debug, Clone)]
pub struct PushTarget {
    /// The URL events are POSTed to.
    pub url: String,
    /// Basic credentials to send, when the listener wants them.
    pub basic: Option<(String, String)>,
    /// Extra headers (e.g. a shared-secret header).
    pub headers: Vec<(String, String)>,
}

/// What happens to the next pushes.
#[derive(Debug, Default)]
struct PushControl {
    target: Option<PushTarget>,
    paused: bool,
    queued: VecDeque<PushEvent>,
    drop_next: usize,
    duplicate_next: usize,
    sent: Vec<(PushEvent, Result<u16, String>)>,
}

/// Credentials and knobs of the simulator.
#[derive(Debug, Clone)]
pub struct RaemisOptions {
    /// Basic-auth user (also the `/api/session` login).
    pub username: String,
    /// Password.
    pub password: String,
}

impl Default for RaemisOptions {
    fn default() -> Self {
        RaemisOptions {
            username: "raemis".into(),
            password: "raemis-lab".into(),
        }
    }
}

#[derive(Default)]
struct Tables {
    next_id: i64,
    subscribers: BTreeMap<i64, Subscriber>,
    sessions: BTreeMap<i64, DataSession>,
    cookies: HashSet<String>,
}

struct Inner {
    options: RaemisOptions,
    tables: Mutex<Tables>,
    push: Mutex<PushControl>,
    faults: Faults,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

/// A running Raemis simulator; stops when dropped.
pub struct RaemisSim {
    inner: Arc<Inner>,
    server: SimServer,
}

/// Why a library call on the simulator failed.
#[derive(Debug, thiserror::Error)]
pub enum RaemisError {
    /// No subscriber with that IMSI.
    #[error("no subscriber with IMSI {0}")]
    UnknownImsi(String),
}

impl RaemisSim {
    /// Starts the simulator on `bind` (port 0 for an ephemeral port).
    pub async fn start(bind: SocketAddr, options: RaemisOptions) -> std::io::Result<RaemisSim> {
        Self::start_with_clock(bind, options, Arc::new(SystemClock)).await
    }

    /// Starts with an injectable clock (event times come from it).
    pub async fn start_with_clock(
        bind: SocketAddr,
        options: RaemisOptions,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<RaemisSim> {
        let inner = Arc::new(Inner {
            options,
            tables: Mutex::new(Tables::default()),
            push: Mutex::new(PushControl::default()),
            faults: Faults::default(),
            clock,
            http: crate::http_client(),
        });
        let router = Router::new()
            .route("/api/session", post(login))
            .route("/api/count/{object}", get(count))
            .route("/api/{object}", get(list))
            .with_state(inner.clone());
        let server = SimServer::start(bind, router).await?;
        Ok(RaemisSim { inner, server })
    }

    /// `http://addr`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Fault injection; endpoints are `subscriber`, `data_session`, `session`.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Adds a subscriber (detached); returns its row id.
    pub fn add_subscriber(&self, mut subscriber: Subscriber) -> i64 {
        let mut t = self.inner.tables.lock().unwrap();
        t.next_id += 1;
        subscriber.id = t.next_id;
        t.subscribers.insert(subscriber.id, subscriber);
        t.next_id
    }

    /// Renames a subscriber (the customer name an operator types into Raemis).
    pub fn rename(&self, imsi: &str, name: &str) -> Result<(), RaemisError> {
        let mut t = self.inner.tables.lock().unwrap();
        let sub = t
            .subscribers
            .values_mut()
            .find(|s| s.imsi == imsi)
            .ok_or_else(|| RaemisError::UnknownImsi(imsi.into()))?;
        sub.name = name.into();
        Ok(())
    }

    /// The UE attaches and gets `ip` on `apn`: the data session appears and a
    /// `pdp_context_activated` event is pushed (when a push target is set).
    pub async fn attach(&self, imsi: &str, ip: IpAddr, apn: &str) -> Result<(), RaemisError> {
        {
            let mut t = self.inner.tables.lock().unwrap();
            let sub = t
                .subscribers
                .values_mut()
                .find(|s| s.imsi == imsi)
                .ok_or_else(|| RaemisError::UnknownImsi(imsi.into()))?;
            sub.local_ps_attachment = "ATTACHED".into();
            t.sessions.retain(|_, s| !(s.imsi == imsi && s.apn == apn));
            t.next_id += 1;
            let id = t.next_id;
            t.sessions.insert(
                id,
                DataSession {
                    id,
                    imsi: imsi.into(),
                    ip: ip.to_string(),
                    apn: apn.into(),
                },
            );
        }
        let add_text = serde_json::json!({ "ip": ip.to_string(), "apn": apn }).to_string();
        self.emit(imsi, "pdp_context_activated", add_text).await;
        Ok(())
    }

    /// The UE detaches: its sessions go away and a `pdp_context_deactivated` event is pushed
    /// (with the last IP in `add_text`).
    pub async fn detach(&self, imsi: &str) -> Result<(), RaemisError> {
        let last = {
            let mut t = self.inner.tables.lock().unwrap();
            let sub = t
                .subscribers
                .values_mut()
                .find(|s| s.imsi == imsi)
                .ok_or_else(|| RaemisError::UnknownImsi(imsi.into()))?;
            sub.local_ps_attachment = "DETACHED".into();
            let last = t.sessions.values().find(|s| s.imsi == imsi).cloned();
            t.sessions.retain(|_, s| s.imsi != imsi);
            last
        };
        let add_text = match last {
            Some(s) => serde_json::json!({ "ip": s.ip, "apn": s.apn }).to_string(),
            None => "{}".into(),
        };
        self.emit(imsi, "pdp_context_deactivated", add_text).await;
        Ok(())
    }

    /// Current sessions (what a full pull returns).
    pub fn sessions(&self) -> Vec<DataSession> {
        self.inner
            .tables
            .lock()
            .unwrap()
            .sessions
            .values()
            .cloned()
            .collect()
    }

    /// Sets where events go; `None` stops pushing.
    pub fn set_push_target(&self, target: Option<PushTarget>) {
        self.inner.push.lock().unwrap().target = target;
    }

    /// Holds events instead of sending them, until [`RaemisSim::release`].
    pub fn pause_pushes(&self) {
        self.inner.push.lock().unwrap().paused = true;
    }

    /// Sends held events, in order or reversed (out-of-order delivery).
    pub async fn release(&self, reversed: bool) {
        let events: Vec<PushEvent> = {
            let mut p = self.inner.push.lock().unwrap();
            p.paused = false;
            let mut v: Vec<_> = p.queued.drain(..).collect();
            if reversed {
                v.reverse();
            }
            v
        };
        for e in events {
            self.deliver(e).await;
        }
    }

    /// The next `n` events are lost (never sent).
    pub fn drop_next_pushes(&self, n: usize) {
        self.inner.push.lock().unwrap().drop_next += n;
    }

    /// The next `n` events are sent twice.
    pub fn duplicate_next_pushes(&self, n: usize) {
        self.inner.push.lock().unwrap().duplicate_next += n;
    }

    /// Every push attempt so far with the listener's status (or the transport error).
    pub fn pushes(&self) -> Vec<(PushEvent, Result<u16, String>)> {
        self.inner.push.lock().unwrap().sent.clone()
    }

    async fn emit(&self, imsi: &str, event_type: &str, add_text: String) {
        let event = PushEvent {
            imsi: imsi.into(),
            event_type: event_type.into(),
            event_time: format_event_time(self.inner.clock.now_ms()),
            add_text,
        };
        {
            let mut p = self.inner.push.lock().unwrap();
            if p.target.is_none() {
                return;
            }
            if p.drop_next > 0 {
                p.drop_next -= 1;
                return;
            }
            if p.paused {
                p.queued.push_back(event);
                return;
            }
        }
        self.deliver(event).await;
    }

    async fn deliver(&self, event: PushEvent) {
        let (target, copies) = {
            let mut p = self.inner.push.lock().unwrap();
            let Some(target) = p.target.clone() else {
                return;
            };
            let copies = if p.duplicate_next > 0 {
                p.duplicate_next -= 1;
                2
            } else {
                1
            };
            (target, copies)
        };
        for _ in 0..copies {
            let body = serde_urlencoded::to_string(&event).unwrap_or_default();
            let mut req = self
                .inner
                .http
                .post(&target.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            if let Some((u, p)) = &target.basic {
                req = req.basic_auth(u, Some(p));
            }
            for (k, v) in &target.headers {
                req = req.header(k, v);
            }
            let outcome = req
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string());
            self.inner
                .push
                .lock()
                .unwrap()
                .sent
                .push((event.clone(), outcome));
        }
    }
}

/// `2024-07-22 10:22:26.123456` (UTC, no zone), as Raemis writes `event_time`.
pub fn format_event_time(unix_ms: u64) -> String {
    let dt = chrono::DateTime::from_timestamp_millis(unix_ms as i64).unwrap_or_default();
    dt.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn authorised(inner: &Inner, headers: &HeaderMap) -> bool {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if basic_auth_matches(auth, &inner.options.username, &inner.options.password) {
        return true;
    }
    let t = inner.tables.lock().unwrap();
    cookie_values(headers, "raemis_session").any(|token| t.cookies.contains(token))
}

fn unauthorised() -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header("www-authenticate", "Basic realm=\"raemis\"")
        .body(Body::empty())
        .expect("static response")
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(inner): State<Arc<Inner>>, Form(login): Form<Login>) -> Response<Body> {
    if let Some(r) = apply_fault(inner.faults.take("session"), "[]").await {
        return r;
    }
    if login.username != inner.options.username || login.password != inner.options.password {
        return unauthorised();
    }
    let token = format!("{:032x}", rand::random::<u128>());
    inner.tables.lock().unwrap().cookies.insert(token.clone());
    Response::builder()
        .status(StatusCode::OK)
        .header(
            "set-cookie",
            format!("raemis_session={token}; Path=/; HttpOnly"),
        )
        .body(Body::empty())
        .expect("static response")
}

/// Rows of a table as JSON objects, filtered by exact match (`?imsi=...`) or SQL-like
/// match (`?like_imsi=0010%`).
fn rows(
    inner: &Inner,
    object: &str,
    filters: &BTreeMap<String, String>,
) -> Option<Vec<serde_json::Value>> {
    let t = inner.tables.lock().unwrap();
    let all: Vec<serde_json::Value> = match object {
        "subscriber" => t
            .subscribers
            .values()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect(),
        "data_session" => t
            .sessions
            .values()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect(),
        _ => return None,
    };
    Some(
        all.into_iter()
            .filter(|row| matches_filters(row, filters))
            .collect(),
    )
}

fn matches_filters(row: &serde_json::Value, filters: &BTreeMap<String, String>) -> bool {
    filters.iter().all(|(key, wanted)| {
        let (field, like) = match key.strip_prefix("like_") {
            Some(f) => (f, true),
            None => (key.as_str(), false),
        };
        let value = match row.get(field) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => return false,
            Some(other) => other.to_string(),
        };
        if like {
            like_match(&value, wanted)
        } else {
            &value == wanted
        }
    })
}

/// SQL LIKE with `%` (any run) and `_` (one character).
fn like_match(value: &str, pattern: &str) -> bool {
    fn go(v: &[char], p: &[char]) -> bool {
        match p.first() {
            None => v.is_empty(),
            Some('%') => (0..=v.len()).any(|i| go(&v[i..], &p[1..])),
            Some('_') => !v.is_empty() && go(&v[1..], &p[1..]),
            Some(c) => v.first() == Some(c) && go(&v[1..], &p[1..]),
        }
    }
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&v, &p)
}

async fn list(
    State(inner): State<Arc<Inner>>,
    Path(object): Path<String>,
    Query(filters): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response<Body> {
    if !authorised(&inner, &headers) {
        return unauthorised();
    }
    let fault = inner.faults.take(&object);
    if let Some(r) = apply_fault(fault.clone(), "[]").await {
        return r;
    }
    let Some(rows) = rows(&inner, &object, &filters) else {
        return json_response(
            StatusCode::NOT_FOUND,
            format!("{{\"error\":\"unknown object {object}\"}}"),
        );
    };
    let body = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
    match fault {
        Some(Fault::EmptyList) => json_response(StatusCode::OK, "[]".into()),
        Some(Fault::Truncated) => truncated_json(&body),
        _ => json_response(StatusCode::OK, body),
    }
}

async fn count(
    State(inner): State<Arc<Inner>>,
    Path(object): Path<String>,
    Query(filters): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response<Body> {
    if !authorised(&inner, &headers) {
        return unauthorised();
    }
    match rows(&inner, &object, &filters) {
        Some(rows) => json_response(StatusCode::OK, format!("[{}]", rows.len())),
        None => json_response(
            StatusCode::NOT_FOUND,
            format!("{{\"error\":\"unknown object {object}\"}}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like_match("SMF:2:0:17", "SMF:2:0:%"));
        assert!(like_match("001010000000001", "00101%"));
        assert!(like_match("abc", "a_c"));
        assert!(!like_match("abcd", "a_c"));
    }

    #[test]
    fn event_time_format() {
        assert_eq!(
            format_event_time(1_721_643_746_123),
            "2024-07-22 10:22:26.123000"
        );
    }
}
