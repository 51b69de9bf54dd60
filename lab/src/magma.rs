//! A Magma orchestrator (orc8r) simulator: the northbound REST API under `/magma/v1` behind
//! mutual TLS, with networks, paginated LTE subscribers (keyset pages, `page_size`,
//! `page_token`), subscriber state with mobility IPs, MSISDN and IP lookups, and Magma's error
//! body `{"message": ...}`. Facts: shared/reference/epc-acs-tr069.md section 2 (≥ v1.7 shapes).
//!
//! Choices where the reference is silent: unknown network or subscriber is 404
//! `{"message":"Not Found"}`; the page token is standard base64 of the last IMSI of the page;
//! a token that does not decode is 500, as orc8r answers.

use crate::pki::TestPki;
use crate::sim::{apply_fault, Faults, SimServer};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Response, StatusCode};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// The most subscribers one page holds (orc8r's `maxEntityLoadSize`).
pub const MAX_PAGE_SIZE: usize = 15_000;

#[derive(Debug, Clone)]
struct Sub {
    name: String,
    msisdn: String,
    active: bool,
    /// apn → (ip, session start epoch seconds)
    sessions: BTreeMap<String, (Option<IpAddr>, i64)>,
}

#[derive(Default)]
struct Networks(BTreeMap<String, BTreeMap<String, Sub>>);

struct Inner {
    networks: Mutex<Networks>,
    faults: Faults,
}

/// A running Magma simulator; stops when dropped.
pub struct MagmaSim {
    inner: Arc<Inner>,
    server: SimServer,
    pki: TestPki,
}

impl MagmaSim {
    /// Starts on `bind` behind mutual TLS with a freshly generated PKI.
    pub async fn start(bind: SocketAddr) -> std::io::Result<MagmaSim> {
        crate::init_tls();
        let pki = TestPki::generate("efi-lab Magma test CA");
        let inner = Arc::new(Inner {
            networks: Mutex::new(Networks::default()),
            faults: Faults::default(),
        });
        let router = Router::new()
            .route("/magma/v1/networks", get(networks))
            .route("/magma/v1/lte", get(networks))
            .route("/magma/v1/lte/{network}/subscribers", get(subscribers))
            .route("/magma/v1/lte/{network}/subscribers/{id}", get(subscriber))
            .route("/magma/v1/lte/{network}/subscriber_state", get(all_state))
            .route(
                "/magma/v1/lte/{network}/subscriber_state/{id}",
                get(one_state),
            )
            .route("/magma/v1/lte/{network}/msisdns", get(msisdns))
            .with_state(inner.clone());
        let server = SimServer::start_tls(bind, router, pki.server_config(true)).await?;
        Ok(MagmaSim { inner, server, pki })
    }

    /// `https://addr/magma/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/magma/v1", self.server.base_url())
    }

    /// The PKI: trust `ca_pem`, present `client(...)`.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// Fault injection; endpoint `subscribers`, `subscriber_state`.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Adds an LTE network.
    pub fn add_network(&self, id: &str) {
        self.inner
            .networks
            .lock()
            .unwrap()
            .0
            .entry(id.to_owned())
            .or_default();
    }

    /// Adds a subscriber (`imsi` digits; the API shows `IMSI<digits>`).
    pub fn add_subscriber(&self, network: &str, imsi: &str, name: &str, msisdn: &str) {
        self.inner
            .networks
            .lock()
            .unwrap()
            .0
            .entry(network.to_owned())
            .or_default()
            .insert(
                format!("IMSI{imsi}"),
                Sub {
                    name: name.into(),
                    msisdn: msisdn.into(),
                    active: true,
                    sessions: BTreeMap::new(),
                },
            );
    }

    /// The UE gets `ip` on `apn` (an IPv6 address shows as an empty `ip`, as orc8r does).
    pub fn attach(
        &self,
        network: &str,
        imsi: &str,
        apn: &str,
        ip: IpAddr,
        start_unix_s: i64,
    ) -> bool {
        let mut n = self.inner.networks.lock().unwrap();
        let Some(sub) =
            n.0.get_mut(network)
                .and_then(|s| s.get_mut(&format!("IMSI{imsi}")))
        else {
            return false;
        };
        sub.sessions
            .insert(apn.to_owned(), (Some(ip), start_unix_s));
        true
    }

    /// The UE's sessions end.
    pub fn detach(&self, network: &str, imsi: &str) -> bool {
        let mut n = self.inner.networks.lock().unwrap();
        match n
            .0
            .get_mut(network)
            .and_then(|s| s.get_mut(&format!("IMSI{imsi}")))
        {
            Some(sub) => {
                sub.sessions.clear();
                true
            }
            None => false,
        }
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("static response")
}

fn not_found() -> Response<Body> {
    reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}

fn state_json(id: &str, sub: &Sub) -> Option<Value> {
    if sub.sessions.is_empty() {
        return None;
    }
    let mobility: Vec<Value> = sub
        .sessions
        .iter()
        .map(|(apn, (ip, _))| {
            let ip = match ip {
                Some(IpAddr::V4(a)) => a.to_string(),
                _ => String::new(),
            };
            json!({"apn": apn, "ip": ip})
        })
        .collect();
    let mut sessions = Map::new();
    for (apn, (ip, start)) in &sub.sessions {
        let ipv4 = match ip {
            Some(IpAddr::V4(a)) => a.to_string(),
            _ => String::new(),
        };
        sessions.insert(
            apn.clone(),
            json!([{
                "session_id": format!("{id}-{}", start % 1_000_000), "msisdn": "", "apn": apn, "ipv4": ipv4,
                "lifecycle_state": "SESSION_ACTIVE", "session_start_time": start.to_string(),
                "active_duration_sec": 0, "active_policy_rules": []
            }]),
        );
    }
    Some(json!({
        "mobility": mobility,
        "directory": {"location_history": ["agw-lab-1"]},
        "subscriber_state": sessions, "mme": {}, "s1ap": {}, "spgw": {}
    }))
}

fn subscriber_json(id: &str, sub: &Sub) -> Value {
    let lte = json!({
        "state": if sub.active { "ACTIVE" } else { "INACTIVE" }, "auth_algo": "MILENAGE",
        "auth_key": "AAAAAAAAAAAAAAAAAAAAAA==", "auth_opc": "AAAAAAAAAAAAAAAAAAAAAA==", "sub_profile": "default"
    });
    let mut v = json!({
        "id": id, "name": sub.name, "msisdn": sub.msisdn, "lte": lte.clone(),
        "config": {"lte": lte, "static_ips": {}},
        "active_apns": ["internet"], "active_base_names": [], "active_policies": [],
        "active_policies_by_apn": {}, "forbidden_network_types": []
    });
    if let Some(state) = state_json(id, sub) {
        v["state"] = state;
    }
    v
}

async fn networks(State(inner): State<Arc<Inner>>) -> Response<Body> {
    let n = inner.networks.lock().unwrap();
    reply(StatusCode::OK, json!(n.0.keys().collect::<Vec<_>>()))
}

async fn subscribers(
    State(inner): State<Arc<Inner>>,
    Path(network): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response<Body> {
    if let Some(r) = apply_fault(inner.faults.take("subscribers"), "{}").await {
        return r;
    }
    let n = inner.networks.lock().unwrap();
    let Some(subs) = n.0.get(&network) else {
        return not_found();
    };
    let verbose = q.get("verbose").is_none_or(|v| v != "false");
    let show = |id: &String, s: &Sub| {
        if verbose {
            subscriber_json(id, s)
        } else {
            json!(id)
        }
    };
    if let Some(ip) = q.get("ip") {
        let hits = subs.iter().filter(|(_, s)| {
            s.sessions
                .values()
                .any(|(addr, _)| addr.map(|a| a.to_string()).as_deref() == Some(ip.as_str()))
        });
        return plain(hits, verbose, show);
    }
    if let Some(msisdn) = q.get("msisdn") {
        let hits: Vec<_> = subs.iter().filter(|(_, s)| &s.msisdn == msisdn).collect();
        if hits.is_empty() {
            return not_found();
        }
        return plain(hits.into_iter(), verbose, show);
    }
    let page_size = match q.get("page_size").map(|p| p.parse::<u32>()) {
        None => MAX_PAGE_SIZE,
        Some(Ok(0)) => MAX_PAGE_SIZE,
        Some(Ok(p)) => (p as usize).min(MAX_PAGE_SIZE),
        Some(Err(e)) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"message": format!("invalid page size parameter: {e}")}),
            )
        }
    };
    let after = match q.get("page_token").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match base64::engine::general_purpose::STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| s.starts_with("IMSI"))
        {
            Some(last) => Some(last),
            None => {
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "rpc error: code = Internal desc = failed to decode page token"}),
                )
            }
        },
    };
    let page: Vec<(&String, &Sub)> = subs
        .iter()
        .filter(|(id, _)| after.as_ref().is_none_or(|a| *id > a))
        .take(page_size)
        .collect();
    let next = if page.len() == page_size {
        page.last()
            .map(|(id, _)| base64::engine::general_purpose::STANDARD.encode(id.as_bytes()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let list: Value = if verbose {
        Value::Object(
            page.iter()
                .map(|(id, s)| ((*id).clone(), subscriber_json(id, s)))
                .collect(),
        )
    } else {
        json!(page.iter().map(|(id, _)| id).collect::<Vec<_>>())
    };
    reply(
        StatusCode::OK,
        json!({"total_count": subs.len(), "next_page_token": next, "subscribers": list}),
    )
}

fn plain<'a>(
    hits: impl Iterator<Item = (&'a String, &'a Sub)>,
    verbose: bool,
    show: impl Fn(&String, &Sub) -> Value,
) -> Response<Body> {
    if verbose {
        reply(
            StatusCode::OK,
            Value::Object(hits.map(|(id, s)| (id.clone(), show(id, s))).collect()),
        )
    } else {
        reply(
            StatusCode::OK,
            json!(hits.map(|(id, _)| id.clone()).collect::<Vec<_>>()),
        )
    }
}

async fn subscriber(
    State(inner): State<Arc<Inner>>,
    Path((network, id)): Path<(String, String)>,
) -> Response<Body> {
    let n = inner.networks.lock().unwrap();
    match n.0.get(&network).and_then(|s| s.get(&id)) {
        Some(sub) => reply(StatusCode::OK, subscriber_json(&id, sub)),
        None => not_found(),
    }
}

async fn all_state(State(inner): State<Arc<Inner>>, Path(network): Path<String>) -> Response<Body> {
    if let Some(r) = apply_fault(inner.faults.take("subscriber_state"), "{}").await {
        return r;
    }
    let n = inner.networks.lock().unwrap();
    let Some(subs) = n.0.get(&network) else {
        return not_found();
    };
    let states: Map<String, Value> = subs
        .iter()
        .filter_map(|(id, s)| state_json(id, s).map(|st| (id.clone(), st)))
        .collect();
    reply(StatusCode::OK, Value::Object(states))
}

async fn one_state(
    State(inner): State<Arc<Inner>>,
    Path((network, id)): Path<(String, String)>,
) -> Response<Body> {
    let n = inner.networks.lock().unwrap();
    let Some(subs) = n.0.get(&network) else {
        return not_found();
    };
    reply(
        StatusCode::OK,
        subs.get(&id)
            .and_then(|s| state_json(&id, s))
            .unwrap_or(json!({})),
    )
}

async fn msisdns(State(inner): State<Arc<Inner>>, Path(network): Path<String>) -> Response<Body> {
    let n = inner.networks.lock().unwrap();
    let Some(subs) = n.0.get(&network) else {
        return not_found();
    };
    let map: Map<String, Value> = subs
        .iter()
        .filter(|(_, s)| !s.msisdn.is_empty())
        .map(|(id, s)| (s.msisdn.clone(), json!(id)))
        .collect();
    reply(StatusCode::OK, Value::Object(map))
}
