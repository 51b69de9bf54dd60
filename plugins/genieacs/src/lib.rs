//! genieacs: an information source for GenieACS. It reads every CPE the ACS knows from
//! the NBI (`GET /devices/` in pages of `page_size`, sorted by `_id`, `total` header) and
//! hands the host each CPE's address, TR-069 DeviceId and parameters for its TR-069 cache,
//! the cache drivers read and identification uses. It never decides IPAM: its plugin info
//! says `information_only`, so nothing is assigned or removed because of it and its being
//! down never holds back the EPC's detaches. Facts: shared/reference/epc-acs-tr069.md
//! section 3 (NBI, device documents, `_value` leaves).

use efi_plugin_api::prelude::*;
use efi_plugin_api::source::{AcsDevice, SessionBatch};
use efi_plugin_api::{percent_encode, HttpRequest, Source, TlsPolicy};
use serde::Deserialize;
use serde_json::Value;
use std::net::IpAddr;

/// The plugin.
pub struct GenieAcsPlugin;

impl Plugin for GenieAcsPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "genieacs".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "GenieACS NBI: every CPE the ACS knows, into the TR-069 cache".into(),
            kinds: vec![PluginKind::Source],
            information_only: true,
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(GenieAcsPlugin)
    }

    fn new_source(&self, config: &PluginConfig) -> Result<Box<dyn Source>, PluginError> {
        let config: GenieAcsConfig = config.parse()?;
        efi_plugin_api::check_url("url", &config.url)?;
        if config.page_size == 0 {
            return Err(PluginError::config("page_size must be at least 1"));
        }
        Ok(Box::new(GenieAcsSource { config }))
    }
}

fn default_page_size() -> u32 {
    500
}

fn default_trees() -> Vec<String> {
    vec!["InternetGatewayDevice".into(), "Device".into()]
}

/// Settings of one GenieACS source (`[sources.settings]` in the host config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenieAcsConfig {
    /// Base URL of the NBI (`genieacs-nbi`, port 7557), e.g. `http://acs.example:7557`.
    pub url: String,
    /// Host credential set, for an NBI behind a reverse proxy with Basic auth or a token
    /// (the NBI itself has no authentication: keep it off untrusted networks).
    pub credentials: Option<String>,
    /// Accept a self-signed certificate on an HTTPS NBI.
    #[serde(default)]
    pub accept_invalid_certs: bool,
    /// Devices per request.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The parameter trees read (the NBI `projection`); the DeviceId and `_lastInform` are
    /// always read.
    #[serde(default = "default_trees")]
    pub trees: Vec<String>,
}

/// One GenieACS source.
pub struct GenieAcsSource {
    config: GenieAcsConfig,
}

impl GenieAcsSource {
    /// A source with these settings (for tests and embedding).
    pub fn new(config: GenieAcsConfig) -> Self {
        GenieAcsSource { config }
    }
}

impl Source for GenieAcsSource {
    fn poll(&self) -> BoxTask<SessionBatch> {
        Box::new(Pull {
            config: self.config.clone(),
            skip: 0,
            devices: Vec::new(),
            unaddressed: 0,
        })
    }
}

struct Pull {
    config: GenieAcsConfig,
    skip: u64,
    devices: Vec<AcsDevice>,
    unaddressed: usize,
}

impl Pull {
    fn page(&self) -> IoRequest {
        let mut projection = vec!["_id", "_deviceId", "_lastInform"];
        projection.extend(self.config.trees.iter().map(String::as_str));
        let url = format!(
            "{}/devices/?query={}&projection={}&sort={}&skip={}&limit={}",
            self.config.url.trim_end_matches('/'),
            percent_encode("{}"),
            percent_encode(&projection.join(",")),
            percent_encode(r#"{"_id":1}"#),
            self.skip,
            self.config.page_size
        );
        let mut r = HttpRequest::get(url);
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

impl Task for Pull {
    type Output = SessionBatch;

    fn start(&mut self) -> Step<SessionBatch> {
        Step::Requests(vec![self.page()])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<SessionBatch> {
        let what = format!("GenieACS /devices/ (skip {})", self.skip);
        let (docs, total) = match responses.into_iter().next() {
            Some(Ok(IoReply::Http(r))) if r.status == 200 => {
                let total = r
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("total"))
                    .and_then(|(_, v)| v.trim().parse::<u64>().ok());
                match serde_json::from_slice::<Vec<Value>>(&r.body) {
                    Ok(docs) => (docs, total),
                    Err(e) => {
                        return Step::Failed(PluginError::protocol(format!(
                            "{what}: the answer is not a JSON array of devices: {e}"
                        )))
                    }
                }
            }
            Some(Ok(IoReply::Http(r))) => {
                return Step::Failed(PluginError::io(format!(
                    "{what} answered HTTP {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body[..r.body.len().min(200)]).trim()
                )))
            }
            Some(Ok(_)) | None => {
                return Step::Failed(PluginError::protocol(format!("{what}: no HTTP answer")))
            }
            Some(Err(e)) => return Step::Failed(PluginError::io(format!("{what}: {e}"))),
        };
        let got = docs.len() as u64;
        for doc in &docs {
            match device(doc) {
                Some(d) => {
                    if d.address.is_none() {
                        self.unaddressed += 1;
                    }
                    self.devices.push(d);
                }
                None => efi_plugin_api::tracing::warn!(
                    id = doc["_id"].as_str().unwrap_or("?"),
                    "GenieACS device without a DeviceId OUI and serial skipped"
                ),
            }
        }
        self.skip += got;
        // A full page may have more behind it; `total` (when sent) says for sure.
        let more = got == u64::from(self.config.page_size) && total.is_none_or(|t| self.skip < t);
        if more {
            return Step::Requests(vec![self.page()]);
        }
        if self.unaddressed > 0 {
            efi_plugin_api::tracing::warn!(
                devices = self.unaddressed,
                "GenieACS devices without a WAN address, APN address or connection-request host: not matched to a UE"
            );
        }
        Step::Done(SessionBatch {
            complete: true,
            acs_devices: std::mem::take(&mut self.devices),
            ..SessionBatch::default()
        })
    }
}

/// One device document as the host's cache takes it; `None` without OUI and serial.
pub fn device(doc: &Value) -> Option<AcsDevice> {
    let id = &doc["_deviceId"];
    let field = |k: &str| {
        id[k]
            .as_str()
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let (oui, serial) = (field("_OUI"), field("_SerialNumber"));
    if oui.is_empty() || serial.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    flatten(doc, "", &mut params);
    Some(AcsDevice {
        address: address(&params),
        manufacturer: field("_Manufacturer"),
        oui,
        product_class: field("_ProductClass"),
        serial,
        last_inform_unix_ms: doc["_lastInform"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| u64::try_from(t.timestamp_millis()).ok()),
        params,
    })
}

/// Every leaf with a `_value`, by full path; values as text (numbers and booleans as JSON
/// writes them), types from `_type`.
fn flatten(node: &Value, path: &str, out: &mut Vec<Tr069Param>) {
    let Some(map) = node.as_object() else { return };
    if let Some(v) = map.get("_value") {
        out.push(Tr069Param {
            path: path.to_owned(),
            value: match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            },
            xsd_type: map.get("_type").and_then(Value::as_str).map(str::to_owned),
        });
        return;
    }
    for (k, child) in map {
        if k.starts_with('_') {
            continue;
        }
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        flatten(child, &p, out);
    }
}

/// The CPE's management address, the UE's address on LTE: a TR-098 WAN connection's
/// `ExternalIPAddress`, the Baicells APN address, else the connection-request URL's host.
fn address(params: &[Tr069Param]) -> Option<IpAddr> {
    let ip = |p: &Tr069Param| {
        p.value
            .trim()
            .parse::<IpAddr>()
            .ok()
            .filter(|a| !a.is_unspecified())
    };
    let wan = params
        .iter()
        .filter(|p| {
            p.path.ends_with(".ExternalIPAddress")
                && (p.path.contains(".WANIPConnection.") || p.path.contains(".WANPPPConnection."))
        })
        .find_map(ip);
    let apn = || {
        params
            .iter()
            .filter(|p| p.path.contains(".LTEStatus.APNList.") && p.path.ends_with(".IPAddress"))
            .find_map(ip)
    };
    let request_url = || {
        params
            .iter()
            .filter(|p| p.path.ends_with("ManagementServer.ConnectionRequestURL"))
            .find_map(|p| {
                let rest = p.value.split_once("://")?.1;
                let authority = rest.split('/').next()?;
                let host = match authority.strip_prefix('[') {
                    Some(v6) => v6.split(']').next()?,
                    None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
                };
                host.parse::<IpAddr>().ok()
            })
    };
    wan.or_else(apn).or_else(request_url)
}

efi_plugin_api::export_plugin!(GenieAcsPlugin);
