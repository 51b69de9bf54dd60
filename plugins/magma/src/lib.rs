//! magma: the efi-poller source for a Magma orchestrator (orc8r).
//!
//! `GET /magma/v1/lte/{network}/subscribers` walked page by page (`page_size`,
//! `next_page_token`), for every configured network; each subscriber's `state.mobility`
//! gives its addresses per APN. orc8r demands mutual TLS: the host presents the client
//! certificate of the configured credential set (`client_cert`, `ca_file`).

use efi_plugin_api::prelude::*;
use efi_plugin_api::source::{Session, SessionBatch};
use efi_plugin_api::{HttpRequest, Identity, Source};
use serde::Deserialize;
use serde_json::Value;
use std::net::IpAddr;

/// The plugin.
pub struct MagmaPlugin;

impl Plugin for MagmaPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "magma".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Magma orc8r: LTE subscribers and session addresses (mutual TLS)".into(),
            kinds: vec![PluginKind::Source],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(MagmaPlugin)
    }

    fn new_source(&self, config: &PluginConfig) -> Result<Box<dyn Source>, PluginError> {
        let config: MagmaConfig = config.parse()?;
        MagmaSource::new(config).map(|s| Box::new(s) as Box<dyn Source>)
    }
}

fn default_page_size() -> u32 {
    1000
}

/// Settings of one orc8r (`[sources.settings]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagmaConfig {
    /// The API base, e.g. `https://api.magma.example.net/magma/v1`.
    pub url: String,
    /// Host credential set with the operator certificate (`client_cert`) and orc8r's CA
    /// (`ca_file`).
    pub credentials: String,
    /// LTE networks to read.
    pub networks: Vec<String>,
    /// Subscribers per page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

/// One orc8r.
pub struct MagmaSource {
    config: MagmaConfig,
}

impl MagmaSource {
    /// A source with these settings.
    pub fn new(config: MagmaConfig) -> Result<Self, PluginError> {
        if !config.url.starts_with("https://") {
            return Err(PluginError::config(format!(
                "url {:?} must be https:// (orc8r requires mutual TLS)",
                config.url
            )));
        }
        if config.networks.is_empty() {
            return Err(PluginError::config(
                "networks is empty: name the LTE networks to read",
            ));
        }
        if !(1..=15_000).contains(&config.page_size) {
            return Err(PluginError::config("page_size must be between 1 and 15000"));
        }
        Ok(MagmaSource { config })
    }
}

impl Source for MagmaSource {
    fn poll(&self) -> BoxTask<SessionBatch> {
        Box::new(Pull {
            config: self.config.clone(),
            sessions: Vec::new(),
            pending: Vec::new(),
        })
    }
}

struct Pull {
    config: MagmaConfig,
    sessions: Vec<Session>,
    /// (network, page token) of the requests in flight.
    pending: Vec<(String, String)>,
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Pull {
    fn request(&self, network: &str, token: &str) -> IoRequest {
        let mut url = format!(
            "{}/lte/{}/subscribers?page_size={}",
            self.config.url.trim_end_matches('/'),
            urlencode(network),
            self.config.page_size
        );
        if !token.is_empty() {
            url.push_str(&format!("&page_token={}", urlencode(token)));
        }
        let mut r = HttpRequest::get(url).with_credentials(self.config.credentials.clone());
        r.headers.push(("accept".into(), "application/json".into()));
        IoRequest::Http(r)
    }

    fn next(&mut self, wanted: Vec<(String, String)>) -> Step<SessionBatch> {
        if wanted.is_empty() {
            return Step::Done(SessionBatch {
                sessions: std::mem::take(&mut self.sessions),
                complete: true,
                ..SessionBatch::default()
            });
        }
        let requests = wanted.iter().map(|(n, t)| self.request(n, t)).collect();
        self.pending = wanted;
        Step::Requests(requests)
    }
}

/// Sessions of one subscriber object: one per non-empty mobility address.
pub fn sessions_of(id: &str, sub: &Value) -> Vec<Session> {
    let imsi = id.strip_prefix("IMSI").unwrap_or(id).to_owned();
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let active = sub["lte"]["state"].as_str() != Some("INACTIVE");
    sub["state"]["mobility"]
        .as_array()
        .map(|m| m.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            // orc8r reports an IPv6 allocation as an empty ip: nothing to assign.
            let ip: IpAddr = text(&m["ip"])?.parse().ok()?;
            Some(Session {
                identity: Identity {
                    imsi: Some(imsi.clone()),
                    ..Identity::default()
                },
                msisdn: text(&sub["msisdn"]),
                subscriber_name: text(&sub["name"]),
                ip: Some(ip),
                apn: text(&m["apn"]),
                connected: active,
                ..Session::default()
            })
        })
        .collect()
}

impl Task for Pull {
    type Output = SessionBatch;

    fn start(&mut self) -> Step<SessionBatch> {
        let first = self
            .config
            .networks
            .iter()
            .map(|n| (n.clone(), String::new()))
            .collect();
        self.next(first)
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<SessionBatch> {
        let pending = std::mem::take(&mut self.pending);
        let mut more = Vec::new();
        for ((network, _), response) in pending.into_iter().zip(responses) {
            let page: Value = match response {
                Ok(IoReply::Http(r)) if r.status == 200 => match serde_json::from_slice(&r.body) {
                    Ok(v) => v,
                    Err(e) => {
                        return Step::Failed(PluginError::protocol(format!(
                            "orc8r network {network}: subscribers answer is not JSON: {e}"
                        )))
                    }
                },
                Ok(IoReply::Http(r)) => {
                    let message = serde_json::from_slice::<Value>(&r.body)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    return Step::Failed(PluginError::io(format!(
                        "orc8r network {network}: subscribers answered HTTP {} {message}",
                        r.status
                    )));
                }
                Ok(_) => return Step::Failed(PluginError::protocol("not an HTTP answer")),
                Err(e) => {
                    return Step::Failed(PluginError::io(format!("orc8r network {network}: {e}")))
                }
            };
            let Some(subs) = page["subscribers"].as_object() else {
                return Step::Failed(PluginError::protocol(format!(
                    "orc8r network {network}: the answer has no subscribers map (orc8r older than v1.7 is not supported)"
                )));
            };
            for (id, sub) in subs {
                self.sessions.extend(sessions_of(id, sub));
            }
            let token = page["next_page_token"].as_str().unwrap_or_default();
            if !token.is_empty() && !subs.is_empty() {
                more.push((network, token.to_owned()));
            }
        }
        self.next(more)
    }
}

efi_plugin_api::export_plugin!(MagmaPlugin);
