//! The host's HTTP listener: EPC webhooks (`POST /webhooks/<source>`), the read-only REST API
//! (`GET /api/v1/...`: devices, their history, sessions, the last plan, the outbox, plugins;
//! described by `/api/openapi.json`), the dashboard (`/dashboard/`), `/metrics` and
//! `/healthz`.
//!
//! Every webhook is authenticated unless a source is explicitly configured without it:
//! HTTP Basic from a credential set, or a shared secret in a header, both compared in
//! constant time, and optionally a sender allowlist. Bodies are capped. A refused request
//! gets the reason and changes nothing.

use crate::arbiter::{Arbiter, PushError};
use crate::config::{Config, Secret, WebhookConfig};
use crate::host::Host;
use crate::poller::states::DeviceStates;
use crate::sonar_poller::status::PollerStatus;
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use efi_plugin_api::source::PushRequest;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the listener serves. Parts a process does not run are absent, and their routes
/// answer 404 saying so.
pub struct Api {
    /// The host (plugins, engines).
    pub host: Arc<Host>,
    /// The configuration.
    pub config: Arc<Config>,
    /// The IPAM arbiter (webhooks, sessions, plan, outbox).
    pub arbiter: Option<Arc<Arbiter>>,
    /// Every polled device's current state.
    pub devices: Arc<DeviceStates>,
    /// The durable store (device history).
    pub store: Option<Store>,
    /// The Sonar poller role's state.
    pub sonar_poller: Option<Arc<PollerStatus>>,
    /// This host's membership of a cluster.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

type AppState = Api;

/// The 404 of a route whose part does not run in this process.
fn not_here(what: &str, why: &str) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        format!("{what} does not run in this process ({why})"),
    )
}

const NO_ARBITER: &str = "the IPAM arbiter";
const NO_ARBITER_WHY: &str = "`efi-poller run` with [arbiter] managed_subnets runs it";

/// Equal in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": reason.into()}))).into_response()
}

fn authorised(config: &Config, hook: &WebhookConfig, headers: &HeaderMap) -> Result<(), String> {
    if let (Some(name), Some(expected)) = (&hook.secret_header, &hook.secret) {
        let given = headers
            .get(name.as_str())
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected.expose().as_bytes()) {
            return Ok(());
        }
    }
    if let Some(c) = hook
        .credentials
        .as_ref()
        .and_then(|c| config.credentials.get(c))
    {
        use base64::Engine as _;
        let user = c.username.as_deref().unwrap_or_default();
        let pass = c.password.as_ref().map(|p| p.expose()).unwrap_or_default();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let given = headers
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected.as_bytes()) {
            return Ok(());
        }
    }
    if hook.insecure_no_auth {
        return Ok(());
    }
    Err("missing or wrong webhook credentials".into())
}

async fn webhook(
    State(app): State<Arc<AppState>>,
    Path(source): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(arbiter) = app.arbiter.as_ref() else {
        return not_here(NO_ARBITER, NO_ARBITER_WHY);
    };
    if let Some(c) = app.cluster.as_ref().filter(|c| !c.is_arbiter()) {
        // Refused before reading: the sender retries (Raemis does), and the arbiter's next
        // pull reconciles whatever it does not resend.
        let mut r = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "host {:?} is not the cluster's arbiter now; send events to the arbiter (GET /api/v1/status says which host is)",
                c.host_id()
            ),
        );
        r.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        return r;
    }
    let Some(hook) = app
        .config
        .sources
        .iter()
        .find(|s| s.name == source)
        .and_then(|s| s.webhook.as_ref())
    else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no source named {source:?} accepts pushes"),
        );
    };
    if !hook.allow_from.is_empty() && !hook.allow_from.contains(&peer.ip()) {
        tracing::warn!(source, peer = %peer.ip(), "webhook from an address not in allow_from refused");
        return refuse(
            StatusCode::FORBIDDEN,
            format!("{} may not push to {source}", peer.ip()),
        );
    }
    if let Err(reason) = authorised(&app.config, hook, &headers) {
        tracing::warn!(source, peer = %peer.ip(), "webhook refused: {reason}");
        arbiter.count_refused(&source);
        let mut r = refuse(StatusCode::UNAUTHORIZED, reason);
        // A wrong secret or password counts towards slowing its peer down; none at all
        // (a misconfigured sender) does not.
        let presented = hook
            .secret_header
            .as_deref()
            .is_some_and(|h| headers.contains_key(h))
            || headers.contains_key("authorization");
        if presented {
            r.extensions_mut()
                .insert(crate::auth_guard::WrongCredentials);
        }
        r.headers_mut().insert(
            "www-authenticate",
            "Basic realm=\"efi-poller\"".parse().expect("static header"),
        );
        return r;
    }
    let request = PushRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        remote: Some(peer.ip()),
    };
    match arbiter.push(&source, &request).await {
        Ok(o) => (StatusCode::OK, Json(o)).into_response(),
        Err(PushError::UnknownSource(s)) => {
            refuse(StatusCode::NOT_FOUND, format!("no source named {s:?}"))
        }
        Err(PushError::Malformed(reason)) => {
            tracing::warn!(source, peer = %peer.ip(), "malformed webhook refused: {reason}");
            refuse(StatusCode::BAD_REQUEST, reason)
        }
        Err(PushError::UnsupportedMediaType(reason)) => {
            tracing::warn!(source, peer = %peer.ip(), "webhook in an unreadable format refused: {reason}");
            refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason)
        }
        Err(PushError::Storage(reason)) => {
            tracing::error!("webhook not stored: {reason}");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not stored, retry: {reason}"),
            )
        }
    }
}

/// The query of `GET /metrics`.
#[derive(Debug, Default, serde::Deserialize)]
struct MetricsQuery {
    /// `false` leaves out the per-device gauges (`efi_device_*`, 9 series a device): for a
    /// frequent health scrape of a large fleet beside a slower full one.
    per_device: Option<bool>,
}

/// `GET /metrics[?per_device=false]`.
async fn metrics(
    State(app): State<Arc<AppState>>,
    guard: Option<axum::Extension<Arc<crate::auth_guard::AuthGuard>>>,
    query: Result<axum::extract::Query<MetricsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let per_device = match query {
        Ok(q) => q.0.per_device.unwrap_or(true),
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("query: {e}")),
    };
    let mut page = crate::metrics::Page::new();
    if let Some(axum::Extension(guard)) = guard {
        page.add("auth", move |e| guard.encode_metrics(e));
    }
    if let Some(arbiter) = &app.arbiter {
        // Read before encoding: the store answers asynchronously, the encoder is not.
        let outbox = arbiter.outbox_counts().await;
        let arbiter = arbiter.clone();
        page.add("arbiter", move |e| arbiter.encode_metrics(&outbox, e));
    }
    let devices = app.devices.clone();
    page.add("devices", move |e| devices.encode_metrics(e, per_device));
    let engines = app.host.runner.engines().clone();
    page.add("engines", move |e| engines.encode_metrics(e));
    if let Some(p) = app.sonar_poller.clone() {
        page.add("sonar_poller", move |e| p.encode_metrics(e));
    }
    (
        [("content-type", crate::metrics::CONTENT_TYPE)],
        page.render(),
    )
        .into_response()
}

/// `GET /api/v1/sonar-poller`: the Sonar poller role's last cycle, posts and each host's
/// latest result.
async fn sonar_poller_state(State(status): State<Arc<PollerStatus>>) -> Response {
    Json(status.to_json()).into_response()
}

/// The routes of the Sonar poller role alone (`efi-poller sonar-poller`): `/healthz`,
/// `/metrics`, `/api/v1/sonar-poller`, `/api/openapi.json`, behind `token` when given.
pub fn sonar_poller_router(status: Arc<PollerStatus>, token: Option<Secret>) -> Router {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(|State(s): State<Arc<PollerStatus>>| async move {
                let mut page = crate::metrics::Page::new();
                page.add("sonar_poller", move |e| s.encode_metrics(e));
                (
                    [("content-type", crate::metrics::CONTENT_TYPE)],
                    page.render(),
                )
                    .into_response()
            }),
        )
        .route("/api/v1/sonar-poller", get(sonar_poller_state))
        .route("/api/openapi.json", get(openapi))
        .with_state(status);
    require_token(app, token)
}

/// `GET /api/v1/sessions`: the live picture of the EPC sessions.
async fn sessions(State(app): State<Arc<AppState>>) -> Response {
    let Some(arbiter) = app.arbiter.as_ref() else {
        return not_here(NO_ARBITER, NO_ARBITER_WHY);
    };
    let (mut sessions, complete) = arbiter.live_sessions();
    sessions.sort_by(|a, b| {
        a.ip.cmp(&b.ip)
            .then_with(|| a.identity.imsi.cmp(&b.identity.imsi))
    });
    Json(serde_json::json!({"complete": complete, "sessions": sessions})).into_response()
}

/// `GET /api/v1/outbox`: the outbox counts.
async fn outbox(State(app): State<Arc<AppState>>) -> Response {
    let Some(arbiter) = app.arbiter.as_ref() else {
        return not_here(NO_ARBITER, NO_ARBITER_WHY);
    };
    match arbiter.outbox().stats().await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reading the outbox: {e}"),
        ),
    }
}

/// The query of `GET /api/v1/plans`.
#[derive(Debug, serde::Deserialize)]
struct PlansQuery {
    /// Most plans returned, newest first (default 50, at most 1000).
    limit: Option<u32>,
}

/// `GET /api/v1/plans`: the latest recorded plans (applied, held or superseded), newest
/// first, with their change counts.
async fn plans(
    State(app): State<Arc<AppState>>,
    query: Result<axum::extract::Query<PlansQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query {
        Ok(q) => q.0,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("query: {e}")),
    };
    let Some(arbiter) = app.arbiter.as_ref() else {
        return not_here(NO_ARBITER, NO_ARBITER_WHY);
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    match arbiter.outbox().recent_plans(limit).await {
        Ok(plans) => Json(serde_json::json!({ "plans": plans })).into_response(),
        Err(e) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reading the outbox: {e}"),
        ),
    }
}

/// `GET /api/v1/plans/{id}`: one recorded plan's changes and what became of each.
async fn plan_changes(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Some(arbiter) = app.arbiter.as_ref() else {
        return not_here(NO_ARBITER, NO_ARBITER_WHY);
    };
    match arbiter.outbox().plan_changes(&id).await {
        Ok(Some(changes)) => {
            Json(serde_json::json!({ "id": id, "changes": changes })).into_response()
        }
        Ok(None) => refuse(
            StatusCode::NOT_FOUND,
            format!(
                "no plan {id:?} in the outbox (plans older than store.journal_days are pruned)"
            ),
        ),
        Err(e) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reading the outbox: {e}"),
        ),
    }
}

/// `GET /api/openapi.json`: the description of this API.
async fn openapi() -> Response {
    (
        [("content-type", "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

/// Every device: this host's in memory, or in a cluster the whole fleet from the store
/// (each host holds only its share in memory).
async fn fleet(app: &AppState) -> Result<Vec<crate::store::DeviceState>, Response> {
    match (&app.cluster, &app.store) {
        (Some(_), Some(store)) => store.devices().await.map_err(|e| {
            tracing::warn!("devices: {e}");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("reading the fleet from the store: {e}"),
            )
        }),
        _ => Ok(app.devices.list()),
    }
}

/// The query of `GET /api/v1/devices`.
#[derive(Debug, serde::Deserialize)]
struct DevicesQuery {
    /// `here`: only the devices this host polls (in a cluster, its share).
    scope: Option<String>,
}

/// `GET /api/v1/devices[?scope=here]`: every polled device's current state.
async fn devices(
    State(app): State<Arc<AppState>>,
    query: Result<axum::extract::Query<DevicesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let here = match query.map(|q| q.0.scope) {
        Ok(None) => false,
        Ok(Some(s)) if s == "here" => true,
        Ok(Some(other)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("scope {other:?}: the only scope is \"here\""),
            )
        }
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("query: {e}")),
    };
    if here {
        return Json(app.devices.list()).into_response();
    }
    match fleet(&app).await {
        Ok(list) => Json(list).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v1/devices/<address>`: one device, 404 when it is not polled.
async fn device(State(app): State<Arc<AppState>>, Path(address): Path<String>) -> Response {
    let Ok(ip) = address.parse::<std::net::IpAddr>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{address:?} is not an IP address"),
        );
    };
    let found = match app.devices.get(ip) {
        Some(d) => Some(d),
        None if app.cluster.is_some() => match fleet(&app).await {
            Ok(list) => list.into_iter().find(|d| d.address == ip),
            Err(r) => return r,
        },
        None => None,
    };
    match found {
        Some(d) => Json(d).into_response(),
        None => refuse(
            StatusCode::NOT_FOUND,
            format!("{ip} is not among the polled devices"),
        ),
    }
}

/// `GET /api/v1/tr069`: every CPE the TR-069 cache holds (fed by the snooping proxy and by
/// information-only sources such as GenieACS), on this host.
async fn tr069_cpes(State(app): State<Arc<AppState>>) -> Response {
    let cache = app.host.runner.engines().tr069();
    Json(serde_json::json!({
        "max_age_secs": cache.max_age_secs(),
        "cpes": cache.summaries(),
    }))
    .into_response()
}

/// `GET /api/v1/tr069/{address}`: what the TR-069 cache holds for the CPE at `address`.
async fn tr069_cpe(State(app): State<Arc<AppState>>, Path(address): Path<String>) -> Response {
    let Ok(ip) = address.parse::<std::net::IpAddr>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{address:?} is not an IP address"),
        );
    };
    let now = crate::clock::now_unix_ms() as u64;
    match app.host.runner.engines().tr069().detail(ip, now) {
        Some(d) => Json(d).into_response(),
        None => refuse(
            StatusCode::NOT_FOUND,
            format!("the TR-069 cache of this host holds nothing for {ip}"),
        ),
    }
}

/// `GET /api/v1/plan`: the latest cycle's plan and what became of it.
async fn last_plan(State(app): State<Arc<AppState>>) -> Response {
    let Some(arbiter) = app.arbiter.as_ref() else {
        return not_here(NO_ARBITER, NO_ARBITER_WHY);
    };
    Json(serde_json::json!({ "last_cycle": arbiter.last_cycle() })).into_response()
}

/// `GET /api/v1/plugins`: every file in the plugins directory, loaded or not, and why.
async fn plugins(State(app): State<Arc<AppState>>) -> Response {
    Json(app.host.registry.listing()).into_response()
}

/// `GET /api/v1/status`: what runs here, for the dashboard's header.
async fn status(State(app): State<Arc<AppState>>) -> Response {
    let devices = match fleet(&app).await {
        Ok(list) => list,
        Err(r) => return r,
    };
    let up = devices.iter().filter(|d| d.up()).count();
    let outbox = match &app.arbiter {
        Some(a) => a.outbox().stats().await.ok(),
        None => None,
    };
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "devices": devices.len(),
        "up": up,
        "down": devices.len() - up,
        "arbiter": app.arbiter.is_some(),
        "sonar_poller": app.sonar_poller.is_some(),
        "store": app.store.as_ref().map(|s| s.describe()),
        "cluster": app.cluster.as_ref().map(|c| c.view()),
        "outbox": outbox,
    }))
    .into_response()
}

/// The query of `GET /api/v1/devices/<address>/history`.
#[derive(Debug, serde::Deserialize)]
struct HistoryQuery {
    /// Hours back from now (default 24).
    hours: Option<u32>,
    /// Most points returned, newest first (default 1000, at most 10000).
    limit: Option<u32>,
}

/// `GET /api/v1/devices/<address>/history?hours=&limit=`: the device's recent polls.
async fn history(
    State(app): State<Arc<AppState>>,
    Path(address): Path<String>,
    query: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(ip) = address.parse::<std::net::IpAddr>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{address:?} is not an IP address"),
        );
    };
    let query = match query {
        Ok(q) => q.0,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("query: {e}")),
    };
    let Some(store) = app.store.as_ref() else {
        return not_here("the device store", "`efi-poller run` keeps one");
    };
    let hours = query.hours.unwrap_or(24);
    let limit = query.limit.unwrap_or(1000).min(10_000);
    let now = crate::clock::now_unix_s();
    match store
        .history(ip, now - i64::from(hours) * 3600, limit)
        .await
    {
        Ok(points) => Json(serde_json::json!({
            "address": ip,
            "hours": hours,
            "points": points,
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!("history of {ip}: {e}");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("reading history: {e}"),
            )
        }
    }
}

/// Requires `Authorization: Bearer <token>` on everything but `/healthz`, the webhooks
/// (which authenticate on their own) and the dashboard's static files (which hold no data:
/// the page asks for the token and sends it with its API calls), compared in constant
/// time. `None`: no token.
pub fn require_token(router: Router, token: Option<Secret>) -> Router {
    let Some(token) = token else { return router };
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let token = token.clone();
            async move {
                let path = request.uri().path();
                if path == "/healthz"
                    || path == "/"
                    || path.starts_with("/webhooks/")
                    || path.starts_with("/dashboard")
                {
                    return next.run(request).await;
                }
                let given = request
                    .headers()
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.expose().as_bytes()))
                {
                    return next.run(request).await;
                }
                let mut response = refuse(
                    StatusCode::UNAUTHORIZED,
                    "this API needs `Authorization: Bearer <token>` ([server] api_token_file)",
                );
                if given.is_some() {
                    // A wrong token, not a missing one (a dashboard not signed in yet).
                    response
                        .extensions_mut()
                        .insert(crate::auth_guard::WrongCredentials);
                }
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
                response
            }
        },
    ))
}

/// The token of `[server]`, failing closed: a token that cannot be read is logged and
/// replaced by one nobody has (callers check [`ServerConfig::api_token`] at start-up).
fn configured_token(config: &Config) -> Option<Secret> {
    match config.server.api_token() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}; the API refuses every request until this is fixed");
            Some(Secret::new(format!("unusable-{}", std::process::id())))
        }
    }
}

/// The router of an arbiter and its devices, with no store and no Sonar poller role.
pub fn router(arbiter: Arc<Arbiter>, config: Arc<Config>, devices: Arc<DeviceStates>) -> Router {
    api_router(Api {
        host: arbiter.host().clone(),
        config,
        arbiter: Some(arbiter),
        devices,
        store: None,
        sonar_poller: None,
        cluster: None,
    })
}

/// The router of everything `api` holds.
pub fn api_router(api: Api) -> Router {
    let config = api.config.clone();
    let limit = config.server.max_body_bytes;
    let sonar_poller = api.sonar_poller.clone();
    let poller_routes = match &sonar_poller {
        Some(status) => Router::new()
            .route("/api/v1/sonar-poller", get(sonar_poller_state))
            .with_state(status.clone()),
        None => Router::new().route(
            "/api/v1/sonar-poller",
            get(|| async {
                refuse(
                    StatusCode::NOT_FOUND,
                    "the Sonar poller role does not run here ([sonar_poller] enabled = false)",
                )
            }),
        ),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/devices", get(self::devices))
        .route("/api/v1/devices/{address}", get(device))
        .route("/api/v1/devices/{address}/history", get(history))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/outbox", get(outbox))
        .route("/api/v1/plan", get(last_plan))
        .route("/api/v1/plans", get(plans))
        .route("/api/v1/plans/{id}", get(plan_changes))
        .route("/api/v1/plugins", get(plugins))
        .route("/api/v1/status", get(status))
        .route("/api/v1/tr069", get(tr069_cpes))
        .route("/api/v1/tr069/{address}", get(tr069_cpe))
        .route("/api/openapi.json", get(openapi))
        .route("/webhooks/{source}", post(webhook))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(api))
        .merge(poller_routes)
        .merge(crate::dashboard::routes());
    let guard = Arc::new(crate::auth_guard::AuthGuard::default());
    let app = require_token(app, configured_token(&config));
    let app = match &config.server.tls {
        Some(tls) => crate::https::require_client_certificates(app, &tls.client_certificate_for),
        None => app,
    };
    crate::auth_guard::layer(app, guard.clone()).layer(axum::Extension(guard))
}

/// A listener that can be stopped gracefully (SIGHUP's restart): requests in flight finish,
/// then the port is free again.
pub struct Listener {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Binds `listen` and serves `app` over HTTP.
    pub async fn start(app: Router, listen: SocketAddr) -> std::io::Result<Listener> {
        Listener::start_with(app, listen, None).await
    }

    /// Binds `listen` and serves `app`, over HTTPS with `tls` (`[server.tls]`).
    pub async fn start_with(
        app: Router,
        listen: SocketAddr,
        tls: Option<&crate::config::ListenerTls>,
    ) -> std::io::Result<Listener> {
        let tls = tls
            .map(crate::https::server_config)
            .transpose()
            .map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some(tls) = tls {
            let task = tokio::spawn(crate::https::serve(listener, app, tls, async move {
                let _ = stopped.await;
            }));
            tracing::info!(%addr, "HTTPS listener ready");
            return Ok(Listener { addr, stop, task });
        }
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            {
                tracing::error!("HTTP listener stopped: {e}");
            }
        });
        tracing::info!(%addr, "HTTP listener ready");
        Ok(Listener { addr, stop, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets the requests in flight finish, and closes the port.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Binds and serves `app` (see [`router`]) until the task is dropped; returns the bound
/// address.
pub async fn serve(
    app: Router,
    listen: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        {
            tracing::error!("HTTP listener stopped: {e}");
        }
    });
    tracing::info!(%addr, "HTTP listener ready");
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_comparison() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secret", b"secreT"));
        assert!(!super::constant_time_eq(b"secret", b"secre"));
    }
}
