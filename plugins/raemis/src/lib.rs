//! raemis: the efi-poller source for a Druid Raemis EPC.
//!
//! Pull: `GET /api/data_session` joined with `GET /api/subscriber` on IMSI gives every UE's
//! address, IMEI, MSISDN and customer name. Push: Raemis POSTs form-encoded
//! `pdp_context_activated` / `pdp_context_deactivated` events; the host receives them at the
//! source's webhook path (and authenticates them) and this plugin parses them.

use efi_plugin_api::prelude::*;
use efi_plugin_api::source::{PushRequest, Session, SessionBatch, SessionEvent, SessionEventKind};
use efi_plugin_api::{ErrorKind, HttpRequest, Identity, Source, TlsPolicy};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;

/// The plugin.
pub struct RaemisPlugin;

impl Plugin for RaemisPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "raemis".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Druid Raemis EPC: UE sessions by pull and by event push".into(),
            kinds: vec![PluginKind::Source],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(RaemisPlugin)
    }

    fn new_source(&self, config: &PluginConfig) -> Result<Box<dyn Source>, PluginError> {
        let config: RaemisConfig = config.parse()?;
        efi_plugin_api::check_url("url", &config.url)?;
        Ok(Box::new(RaemisSource { config }))
    }
}

/// Settings of one Raemis source (`[sources.settings]` in the host config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaemisConfig {
    /// Base URL of the Raemis API, e.g. `https://epc.example.net`.
    pub url: String,
    /// Host credential set with the Raemis API user (`[credentials.<name>]`, Basic).
    pub credentials: Option<String>,
    /// Accept Raemis' self-signed certificate.
    #[serde(default)]
    pub accept_invalid_certs: bool,
    /// Only sessions on these APNs count (all when empty).
    #[serde(default)]
    pub apns: Vec<String>,
}

/// One Raemis source.
pub struct RaemisSource {
    config: RaemisConfig,
}

impl RaemisSource {
    /// A source with these settings (for tests and embedding).
    pub fn new(config: RaemisConfig) -> Self {
        RaemisSource { config }
    }

    fn get(&self, path: &str) -> IoRequest {
        let mut r = HttpRequest::get(format!("{}{path}", self.config.url.trim_end_matches('/')));
        r.headers.push(("accept".into(), "application/json".into()));
        if let Some(c) = &self.config.credentials {
            r = r.with_credentials(c.clone());
        }
        if self.config.accept_invalid_certs {
            r.tls = TlsPolicy::AcceptInvalid;
        }
        IoRequest::Http(r)
    }
}

impl Source for RaemisSource {
    fn poll(&self) -> BoxTask<SessionBatch> {
        Box::new(Pull {
            requests: vec![self.get("/api/subscriber"), self.get("/api/data_session")],
            apns: self.config.apns.clone(),
        })
    }

    fn parse_push(&self, request: &PushRequest) -> Result<Vec<SessionEvent>, PluginError> {
        check_content_type(request)?;
        parse_event(&request.body).map(|e| e.into_iter().collect())
    }
}

struct Pull {
    requests: Vec<IoRequest>,
    apns: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SubscriberRow {
    imsi: Option<String>,
    #[serde(default)]
    imei: Option<String>,
    #[serde(default)]
    msisdn: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SessionRow {
    imsi: Option<String>,
    ip: Option<String>,
    #[serde(default)]
    apn: Option<String>,
}

/// The body of a successful JSON answer, or an error naming the endpoint.
fn json_body<T: serde::de::DeserializeOwned>(
    endpoint: &str,
    response: Option<IoResponse>,
) -> Result<T, PluginError> {
    match response {
        Some(Ok(IoReply::Http(r))) if r.status == 200 => {
            serde_json::from_slice(&r.body).map_err(|e| {
                PluginError::protocol(format!(
                    "Raemis {endpoint}: the answer is not the expected JSON: {e}"
                ))
            })
        }
        Some(Ok(IoReply::Http(r))) => Err(PluginError::io(format!(
            "Raemis {endpoint} answered HTTP {}{}",
            r.status,
            if r.status == 401 {
                " (check the credentials)"
            } else {
                ""
            }
        ))),
        Some(Ok(_)) => Err(PluginError::protocol(format!(
            "Raemis {endpoint}: not an HTTP answer"
        ))),
        Some(Err(e)) => Err(PluginError::io(format!("Raemis {endpoint}: {e}"))),
        None => Err(PluginError::protocol(format!(
            "Raemis {endpoint}: no answer"
        ))),
    }
}

/// Trims whitespace and control characters (Raemis values may carry `\r`); empty is absent.
fn clean(s: Option<String>) -> Option<String> {
    s.map(|v| {
        v.trim_matches(|c: char| c.is_whitespace() || c.is_control())
            .to_owned()
    })
    .filter(|v| !v.is_empty())
}

impl Task for Pull {
    type Output = SessionBatch;

    fn start(&mut self) -> Step<SessionBatch> {
        Step::Requests(std::mem::take(&mut self.requests))
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<SessionBatch> {
        let mut it = responses.into_iter();
        let subscribers: Vec<SubscriberRow> = match json_body("/api/subscriber", it.next()) {
            Ok(v) => v,
            Err(e) => return Step::Failed(e),
        };
        let rows: Vec<SessionRow> = match json_body("/api/data_session", it.next()) {
            Ok(v) => v,
            Err(e) => return Step::Failed(e),
        };
        let by_imsi: HashMap<String, &SubscriberRow> = subscribers
            .iter()
            .filter_map(|s| Some((clean(s.imsi.clone())?, s)))
            .collect();
        let mut sessions = Vec::with_capacity(rows.len());
        let mut skipped = 0usize;
        for row in rows {
            let (Some(imsi), Some(ip)) = (clean(row.imsi), clean(row.ip)) else {
                skipped += 1;
                continue;
            };
            let Ok(ip) = ip.parse::<IpAddr>() else {
                efi_plugin_api::tracing::warn!(
                    imsi,
                    ip,
                    "data_session row with an unreadable address skipped"
                );
                skipped += 1;
                continue;
            };
            let apn = clean(row.apn);
            if !self.apns.is_empty() && !apn.as_ref().is_some_and(|a| self.apns.contains(a)) {
                continue;
            }
            let sub = by_imsi.get(&imsi);
            sessions.push(Session {
                identity: Identity {
                    imsi: Some(imsi.clone()),
                    imei: sub.and_then(|s| clean(s.imei.clone())),
                    ..Identity::default()
                },
                msisdn: sub.and_then(|s| clean(s.msisdn.clone())),
                subscriber_name: sub.and_then(|s| clean(s.name.clone())),
                ip: Some(ip),
                apn,
                connected: true,
                ..Session::default()
            });
        }
        if skipped > 0 {
            efi_plugin_api::tracing::warn!(
                skipped,
                "data_session rows without IMSI or address skipped"
            );
        }
        Step::Done(SessionBatch {
            sessions,
            complete: true,
            ..SessionBatch::default()
        })
    }
}

/// The media type Raemis posts its events in.
const FORM: &str = "application/x-www-form-urlencoded";

/// Refuses a push whose Content-Type is not form-encoded (the host answers 415): a body in
/// another format would be misread as a form.
fn check_content_type(request: &PushRequest) -> Result<(), PluginError> {
    let given = request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let media_type = given.map(|v| v.split(';').next().unwrap_or_default().trim());
    match media_type {
        Some(m) if m.eq_ignore_ascii_case(FORM) => Ok(()),
        Some(other) => Err(PluginError::new(
            ErrorKind::Unsupported,
            format!("Content-Type {other:?} is not {FORM} (Raemis posts its events form-encoded)"),
        )),
        None => Err(PluginError::new(
            ErrorKind::Unsupported,
            format!("the push has no Content-Type; Raemis events are {FORM}"),
        )),
    }
}

/// Parses one pushed event. Unknown event types are ignored (`None`); a body without `imsi`
/// or `event_type`, or an activation without a readable address, is an error.
pub fn parse_event(body: &[u8]) -> Result<Option<SessionEvent>, PluginError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| PluginError::protocol(format!("the event is not form-encoded: {e}")))?;
    // Fields may repeat; the first one counts, as Raemis listeners do.
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    let imsi = field("imsi")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| PluginError::protocol("the event has no imsi field"))?;
    if !imsi.chars().all(|c| c.is_ascii_digit()) {
        return Err(PluginError::protocol(format!(
            "imsi {imsi:?} is not digits"
        )));
    }
    let event_type = field("event_type")
        .map(|v| v.to_lowercase())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| PluginError::protocol("the event has no event_type field"))?;
    let kind = match event_type.as_str() {
        "pdp_context_activated" => SessionEventKind::Attach,
        "pdp_context_deactivated" => SessionEventKind::Detach,
        _ => return Ok(None),
    };
    let at_unix_us = match field("event_time").filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(parse_event_time(&text).ok_or_else(|| {
            PluginError::protocol(format!(
                "event_time {text:?} is not a time (YYYY-MM-DD HH:MM:SS[.ffffff], UTC)"
            ))
        })?),
    };
    let at_unix_s = at_unix_us.map(|us| us.div_euclid(1_000_000));
    let add_text: serde_json::Map<String, serde_json::Value> = match field("add_text")
        .filter(|t| !t.is_empty())
    {
        None => serde_json::Map::new(),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| PluginError::protocol(format!("add_text is not a JSON object: {e}")))?,
    };
    let get = |key: &str| {
        add_text
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_str())
            .map(|s| s.trim().to_owned())
    };
    let ip = match get("ip") {
        Some(text) => Some(text.parse::<IpAddr>().map_err(|_| {
            PluginError::protocol(format!("add_text ip {text:?} is not an IP address"))
        })?),
        None if kind == SessionEventKind::Attach => {
            return Err(PluginError::protocol(
                "pdp_context_activated without an ip in add_text",
            ))
        }
        None => None,
    };
    Ok(Some(SessionEvent {
        kind,
        session: Session {
            identity: Identity {
                imsi: Some(imsi),
                ..Identity::default()
            },
            ip,
            apn: get("apn"),
            connected: kind == SessionEventKind::Attach,
            since_unix_s: at_unix_us.map(|us| us.div_euclid(1_000_000)),
            ..Session::default()
        },
        at_unix_s,
        at_unix_us,
    }))
}

/// `2024-07-22 10:22:26.123456` (UTC) → Unix microseconds.
fn parse_event_time(text: &str) -> Option<i64> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text.trim(), f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}

efi_plugin_api::export_plugin!(RaemisPlugin);
