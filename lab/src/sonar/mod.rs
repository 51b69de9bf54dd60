//! A Sonar v2 simulator: the GraphQL API (`POST /api/graphql`, Bearer tokens, every document
//! validated against Sonar's published schema, a stateful IPAM/inventory subset executed by
//! apollo-compiler), the 400-requests-per-minute limit, and the poller endpoints
//! (`/api/poller`, `/api/batch_poller`). Facts: shared/reference/sonar.md.
//!
//! Choices where the reference is silent: 401 `{"message":"Unauthenticated."}` without a valid
//! token; the limit answer is HTTP 429 with Sonar's documented body; a fixed 60-second window
//! per token starting at its first request; validation errors are HTTP 200 with `errors` and
//! no `data`; `/api/batch_poller` answers 422 `{"error":{"message":...}}` to a malformed body.

mod mutations;
mod resolve;
pub mod scenario;
pub mod store;

use crate::sim::{
    apply_fault, json_response, truncated_json, Clock, Fault, Faults, SimServer, SystemClock,
};
use apollo_compiler::resolvers::Execution;
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::post;
use axum::Router;
use scenario::Scenario;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use store::{Entity, Store};

/// The body Sonar documents for its rate limit.
pub fn limit_body(limit: u32) -> String {
    json!({ "error": format!("Request limit of {limit}/min reached.") }).to_string()
}

/// Sonar's schema (the published SDL, with the root operation types named: the SDL has an
/// ordinary entity type called `Subscription` that must not become the subscription root).
pub fn schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let sdl = format!(
            "schema {{ query: Query mutation: Mutation }}\n{}",
            include_str!("../../data/sonar-schema.graphql")
        );
        Schema::parse_and_validate(sdl, "sonar-schema.graphql").expect("Sonar's schema is valid")
    })
}

/// One GraphQL request as the simulator saw it.
#[derive(Debug, Clone)]
pub struct GraphqlCall {
    /// The token used.
    pub token: String,
    /// The document.
    pub query: String,
    /// The variables.
    pub variables: Value,
    /// HTTP status answered.
    pub status: u16,
    /// Whether the answer carried GraphQL errors.
    pub had_errors: bool,
}

struct Inner {
    store: Mutex<Store>,
    tokens: Vec<String>,
    limit: AtomicU32,
    windows: Mutex<HashMap<String, (u64, u32)>>,
    /// Per token, the times (ms) of the requests of the current rolling window.
    rolling: Option<Mutex<HashMap<String, std::collections::VecDeque<u64>>>>,
    window_ms: u64,
    /// Limit answers (429) given.
    refused: AtomicU32,
    clock: Arc<dyn Clock>,
    faults: Faults,
    calls: Mutex<Vec<GraphqlCall>>,
    poller_key: Mutex<Option<String>>,
    poller_work: Mutex<Value>,
    poller_fetches: AtomicU32,
    batch_reports: Mutex<Vec<Value>>,
    mutations: tokio::sync::watch::Sender<usize>,
}

/// A running Sonar simulator; stops when dropped.
pub struct SonarSim {
    inner: Arc<Inner>,
    server: SimServer,
}

impl SonarSim {
    /// Starts on `bind` (port 0 for an ephemeral port) with the real clock.
    pub async fn start(bind: SocketAddr, scenario: Scenario) -> std::io::Result<SonarSim> {
        Self::start_with_clock(bind, scenario, Arc::new(SystemClock)).await
    }

    /// Starts with an injectable clock (the rate-limit window and timestamps follow it).
    pub async fn start_with_clock(
        bind: SocketAddr,
        scenario: Scenario,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<SonarSim> {
        let store = Store::from_scenario(&scenario, clock.clone()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("scenario: {e}"))
        })?;
        let _ = schema();
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            tokens: scenario.tokens.clone(),
            limit: AtomicU32::new(scenario.rate_limit_per_minute.unwrap_or(400)),
            windows: Mutex::new(HashMap::new()),
            rolling: scenario
                .rate_limit_rolling
                .then(|| Mutex::new(HashMap::new())),
            window_ms: scenario.rate_limit_window_ms.unwrap_or(60_000).max(1),
            refused: AtomicU32::new(0),
            clock,
            faults: Faults::default(),
            calls: Mutex::new(Vec::new()),
            poller_key: Mutex::new(scenario.poller.as_ref().map(|p| p.api_key.clone())),
            poller_work: Mutex::new(
                scenario
                    .poller
                    .as_ref()
                    .map(|p| p.work.clone())
                    .unwrap_or_else(|| json!({"hosts": {}, "monitoring_templates": {}})),
            ),
            poller_fetches: AtomicU32::new(0),
            batch_reports: Mutex::new(Vec::new()),
            mutations: tokio::sync::watch::channel(0).0,
        });
        let router = Router::new()
            .route("/api/graphql", post(graphql))
            .route("/api/poller", post(poller))
            // Sonar's web server caps request bodies; 8 MB is a common PHP/nginx limit and
            // what the simulator enforces (the poller splits larger cycles).
            .route(
                "/api/batch_poller",
                post(batch_poller).layer(axum::extract::DefaultBodyLimit::max(8 << 20)),
            )
            .with_state(inner.clone());
        let server = SimServer::start(bind, router).await?;
        Ok(SonarSim { inner, server })
    }

    /// `http://addr`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `http://addr/api/graphql`.
    pub fn graphql_url(&self) -> String {
        format!("{}/api/graphql", self.base_url())
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Fault injection; endpoints are `graphql` (every document), `mutation` (mutation
    /// documents only), `poller`, `batch_poller`.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// How many requests were refused with the limit answer (429) for being over the rate
    /// limit (injected faults not counted).
    pub fn limit_refusals(&self) -> u32 {
        self.inner.refused.load(Ordering::SeqCst)
    }

    /// Changes the per-token limit.
    pub fn set_rate_limit(&self, per_minute: u32) {
        self.inner.limit.store(per_minute, Ordering::SeqCst);
    }

    /// Every GraphQL request so far.
    pub fn calls(&self) -> Vec<GraphqlCall> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// Reads the state (for assertions).
    pub fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.inner.store.lock().unwrap())
    }

    /// Every entity of a type (IDs as numbers).
    pub fn entities(&self, type_name: &str) -> Vec<Entity> {
        self.with_store(|s| s.all(type_name).into_iter().cloned().collect())
    }

    /// Replaces the poller work document's `data` member.
    pub fn set_poller_work(&self, work: Value) {
        *self.inner.poller_work.lock().unwrap() = work;
    }

    /// How often `/api/poller` handed out work.
    pub fn poller_fetches(&self) -> u32 {
        self.inner.poller_fetches.load(Ordering::SeqCst)
    }

    /// Resolves once at least `n` mutation documents have been executed.
    pub async fn mutations_reached(&self, n: usize) {
        let mut rx = self.inner.mutations.subscribe();
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// Every accepted `/api/batch_poller` body.
    pub fn batch_reports(&self) -> Vec<Value> {
        self.inner.batch_reports.lock().unwrap().clone()
    }
}

/// Counts a request against the token's window; false when over the limit.
fn within_limit(inner: &Inner, token: &str) -> bool {
    let now = inner.clock.now_ms();
    let limit = inner.limit.load(Ordering::SeqCst);
    let within = match &inner.rolling {
        Some(rolling) => {
            let mut rolling = rolling.lock().unwrap();
            let times = rolling.entry(token.to_owned()).or_default();
            while times.front().is_some_and(|t| now >= t + inner.window_ms) {
                times.pop_front();
            }
            let within = times.len() < limit as usize;
            if within {
                times.push_back(now);
            }
            within
        }
        None => {
            let mut windows = inner.windows.lock().unwrap();
            let w = windows.entry(token.to_owned()).or_insert((now, 0));
            if now >= w.0 + inner.window_ms {
                *w = (now, 0);
            }
            let within = w.1 < limit;
            w.1 += u32::from(within);
            within
        }
    };
    if !within {
        inner.refused.fetch_add(1, Ordering::SeqCst);
    }
    within
}

async fn graphql(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let limit = inner.limit.load(Ordering::SeqCst);
    let fault = inner.faults.take("graphql");
    if let Some(r) = apply_fault(fault.clone(), &limit_body(limit)).await {
        return r;
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if token.is_empty() || !inner.tokens.contains(&token) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthenticated."}).to_string(),
        );
    }
    if !within_limit(&inner, &token) {
        return json_response(StatusCode::TOO_MANY_REQUESTS, limit_body(limit));
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"errors": [{"message": format!("request body is not JSON: {e}")}]})
                    .to_string(),
            )
        }
    };
    let query = request
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if query.trim_start().starts_with("mutation") {
        if let Some(r) = apply_fault(inner.faults.take("mutation"), &limit_body(limit)).await {
            return r;
        }
    }
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    let operation_name = request
        .get("operationName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let answer = execute(&inner, &query, &variables, operation_name.as_deref());
    let had_errors = answer
        .get("errors")
        .is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty()));
    if query.trim_start().starts_with("mutation") {
        inner.mutations.send_modify(|n| *n += 1);
    }
    inner.calls.lock().unwrap().push(GraphqlCall {
        token,
        query,
        variables,
        status: 200,
        had_errors,
    });
    let text = answer.to_string();
    match fault {
        Some(Fault::Truncated) => truncated_json(&text),
        _ => json_response(StatusCode::OK, text),
    }
}

/// Validates and executes one document; returns the GraphQL response object.
fn execute(inner: &Inner, query: &str, variables: &Value, operation_name: Option<&str>) -> Value {
    let schema = schema();
    let document = match ExecutableDocument::parse_and_validate(schema, query, "request.graphql") {
        Ok(d) => d,
        Err(with_errors) => {
            let errors: Vec<Value> = with_errors
                .errors
                .iter()
                .map(|d| serde_json::to_value(d.to_json()).unwrap_or_default())
                .collect();
            return json!({ "errors": errors });
        }
    };
    let vars: JsonMap = match variables {
        Value::Null => JsonMap::new(),
        Value::Object(_) => serde_json::from_value(variables.clone()).unwrap_or_default(),
        _ => return json!({"errors": [{"message": "variables must be an object"}]}),
    };
    let request_error = |e: apollo_compiler::request::RequestError| json!({"errors": [serde_json::to_value(e.to_graphql_error(&document.sources)).unwrap_or_default()]});
    let operation = match document.operations.get(operation_name) {
        Ok(op) => op,
        Err(e) => return request_error(e),
    };
    let execution = Execution::new(schema, &document)
        .operation(operation)
        .raw_variable_values(&vars);
    let response = match operation.operation_type {
        apollo_compiler::executable::OperationType::Mutation => {
            execution.execute_sync(&resolve::MutationRoot {
                store: &inner.store,
            })
        }
        _ => execution.execute_sync(&resolve::QueryRoot {
            store: &inner.store,
        }),
    };
    match response {
        Ok(r) => serde_json::to_value(r).unwrap_or_default(),
        Err(e) => request_error(e),
    }
}

fn poller_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, json!({"error": {"message": message}}).to_string())
}

/// The 401 answer when the body's `api_key` is not the poller's.
fn check_key(inner: &Inner, body: &Value) -> Option<Response<Body>> {
    let expected = inner.poller_key.lock().unwrap().clone();
    let given = body.get("api_key").and_then(Value::as_str);
    match (expected, given) {
        (Some(e), Some(g)) if e == g => None,
        _ => Some(poller_error(StatusCode::UNAUTHORIZED, "Invalid API key.")),
    }
}

async fn poller(State(inner): State<Arc<Inner>>, body: Bytes) -> Response<Body> {
    let fault = inner.faults.take("poller");
    if let Some(r) = apply_fault(
        fault.clone(),
        &limit_body(inner.limit.load(Ordering::SeqCst)),
    )
    .await
    {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return poller_error(StatusCode::BAD_REQUEST, "The request body must be JSON.");
    };
    if let Some(r) = check_key(&inner, &body) {
        return r;
    }
    inner.poller_fetches.fetch_add(1, Ordering::SeqCst);
    let text = json!({"data": inner.poller_work.lock().unwrap().clone()}).to_string();
    match fault {
        Some(Fault::Truncated) => truncated_json(&text),
        _ => json_response(StatusCode::OK, text),
    }
}

async fn batch_poller(State(inner): State<Arc<Inner>>, body: Bytes) -> Response<Body> {
    if let Some(r) = apply_fault(
        inner.faults.take("batch_poller"),
        &limit_body(inner.limit.load(Ordering::SeqCst)),
    )
    .await
    {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return poller_error(StatusCode::BAD_REQUEST, "The request body must be JSON.");
    };
    if let Some(r) = check_key(&inner, &body) {
        return r;
    }
    if let Err(problem) = validate_batch(&body) {
        return poller_error(StatusCode::UNPROCESSABLE_ENTITY, &problem);
    }
    inner.batch_reports.lock().unwrap().push(body);
    json_response(
        StatusCode::OK,
        json!({"data": {"success": true}}).to_string(),
    )
}

/// Checks a `/api/batch_poller` body against the documented result format.
pub fn validate_batch(body: &Value) -> Result<(), String> {
    if !body.get("version").is_some_and(Value::is_string) {
        return Err("version must be a string".into());
    }
    if body.get("time_taken").and_then(Value::as_u64).is_none() {
        return Err("time_taken must be a whole number of seconds".into());
    }
    let results = body
        .get("results")
        .and_then(Value::as_object)
        .ok_or("results must be an object keyed by inventory item ID")?;
    for (id, r) in results {
        if id.parse::<i64>().is_err() {
            return Err(format!("results key {id:?} is not an inventory item ID"));
        }
        let r = r
            .as_object()
            .ok_or_else(|| format!("results.{id} must be an object"))?;
        match r.get("icmp") {
            None | Some(Value::Null) => {}
            Some(Value::Object(icmp)) => {
                for k in ["low", "high", "median"] {
                    match icmp.get(k) {
                        Some(Value::Null) | None => {}
                        Some(v) if v.is_number() => {}
                        _ => {
                            return Err(format!(
                                "results.{id}.icmp.{k} must be milliseconds or null"
                            ))
                        }
                    }
                }
                let loss = icmp
                    .get("loss_percentage")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("results.{id}.icmp.loss_percentage must be a number"))?;
                if !(0.0..=100.0).contains(&loss) {
                    return Err(format!(
                        "results.{id}.icmp.loss_percentage {loss} is outside 0..100"
                    ));
                }
            }
            _ => return Err(format!("results.{id}.icmp must be an object or null")),
        }
        match r.get("snmp") {
            None | Some(Value::Null) => {}
            Some(Value::Object(snmp)) => {
                if !snmp.get("up").is_some_and(Value::is_boolean) {
                    return Err(format!("results.{id}.snmp.up must be a boolean"));
                }
                for k in ["interfaces", "results"] {
                    match snmp.get(k) {
                        Some(Value::Object(_)) | None => {}
                        Some(Value::Array(a)) if a.is_empty() => {}
                        _ => {
                            return Err(format!(
                                "results.{id}.snmp.{k} must be an object (or [] when empty)"
                            ))
                        }
                    }
                }
            }
            _ => return Err(format!("results.{id}.snmp must be an object or null")),
        }
    }
    Ok(())
}
