//! A GenieACS NBI simulator (`GET`/`HEAD /devices/?query=&projection=&sort=&skip=&limit=`)
//! serving device documents of the CPE models in shared/reference/devices.md, with GenieACS's
//! query expansion (`._value` appended to parameter paths, string values also matched as
//! numbers), inclusion projections, the `total` header and its streamed array layout.
//! Facts: shared/reference/epc-acs-tr069.md section 3.

use crate::sim::{apply_fault, Faults, SimServer};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Method, Response, StatusCode};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The version GenieACS reports in its `GenieACS-Version` header.
pub const VERSION: &str = "1.2.16";

/// Escapes one `_id` component as GenieACS does: every character outside `[A-Za-z0-9_]`
/// becomes `%XX` (upper-case hex of its UTF-8 bytes).
pub fn escape_id_part(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// A device document under construction.
#[derive(Debug, Clone)]
pub struct DeviceDoc(Value);

impl DeviceDoc {
    /// A device with its DeviceId; `_id` follows GenieACS's escaping.
    pub fn new(
        manufacturer: &str,
        oui: &str,
        product_class: &str,
        serial: &str,
        last_inform: &str,
    ) -> Self {
        let id = if product_class.is_empty() {
            format!("{}-{}", escape_id_part(oui), escape_id_part(serial))
        } else {
            format!(
                "{}-{}-{}",
                escape_id_part(oui),
                escape_id_part(product_class),
                escape_id_part(serial)
            )
        };
        DeviceDoc(json!({
            "_id": id,
            "_deviceId": {"_Manufacturer": manufacturer, "_OUI": oui, "_ProductClass": product_class, "_SerialNumber": serial},
            "_registered": last_inform, "_lastInform": last_inform, "_lastBoot": last_inform,
        }))
    }

    /// The `_id`.
    pub fn id(&self) -> &str {
        self.0["_id"].as_str().unwrap_or_default()
    }

    /// Sets a parameter leaf (`xsd:string`, `xsd:unsignedInt`, `xsd:boolean`, ...).
    pub fn param(mut self, path: &str, value: Value, xsd_type: &str, writable: bool) -> Self {
        let timestamp = self.0["_lastInform"].clone();
        let parts: Vec<&str> = path.split('.').collect();
        let mut node = &mut self.0;
        for part in &parts[..parts.len() - 1] {
            if node.get(*part).is_none() {
                node[*part] = json!({"_object": true, "_writable": false, "_timestamp": timestamp});
            }
            node = &mut node[*part];
        }
        node[parts[parts.len() - 1]] = json!({
            "_value": value, "_type": xsd_type, "_timestamp": timestamp, "_writable": writable, "_object": false
        });
        self
    }

    /// A string parameter, read-only.
    pub fn s(self, path: &str, value: &str) -> Self {
        self.param(path, Value::from(value), "xsd:string", false)
    }

    /// Adds tags.
    pub fn tags(mut self, tags: &[&str]) -> Self {
        self.0["_tags"] = json!(tags);
        self
    }

    /// The document.
    pub fn into_value(self) -> Value {
        self.0
    }
}

struct Inner {
    devices: Mutex<Vec<Value>>,
    faults: Faults,
}

/// A running GenieACS NBI simulator; stops when dropped.
pub struct GenieAcsSim {
    inner: Arc<Inner>,
    server: SimServer,
}

impl GenieAcsSim {
    /// Starts on `bind` with these device documents (insertion order is natural order).
    pub async fn start(bind: SocketAddr, devices: Vec<Value>) -> std::io::Result<GenieAcsSim> {
        let inner = Arc::new(Inner {
            devices: Mutex::new(devices),
            faults: Faults::default(),
        });
        let router = Router::new()
            .route("/{collection}", any(collection))
            .route("/{collection}/", any(collection))
            .fallback(|| async { text(StatusCode::NOT_FOUND, "404 Not Found") })
            .with_state(inner.clone());
        let server = SimServer::start(bind, router).await?;
        Ok(GenieAcsSim { inner, server })
    }

    /// `http://addr`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Fault injection; endpoint `devices`.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Adds or replaces a device (by `_id`).
    pub fn upsert(&self, device: Value) {
        let mut d = self.inner.devices.lock().unwrap();
        match d.iter_mut().find(|x| x["_id"] == device["_id"]) {
            Some(slot) => *slot = device,
            None => d.push(device),
        }
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("GenieACS-Version", VERSION)
        .body(Body::from(body.to_owned()))
        .expect("static response")
}

async fn collection(
    State(inner): State<Arc<Inner>>,
    method: Method,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response<Body> {
    let known = [
        "tasks",
        "devices",
        "presets",
        "objects",
        "files",
        "provisions",
        "virtual_parameters",
        "faults",
    ];
    if !known.contains(&name.as_str()) {
        return text(StatusCode::NOT_FOUND, "404 Not Found");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed");
        r.headers_mut()
            .insert("allow", "GET, HEAD".parse().expect("static header"));
        return r;
    }
    if let Some(r) = apply_fault(inner.faults.take(&name), "").await {
        return r;
    }
    let query: Value = match q.get("query") {
        None => json!({}),
        Some(t) => match serde_json::from_str(t) {
            Ok(v) => v,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("SyntaxError: {e}")),
        },
    };
    let sort: Option<Value> = match q.get("sort") {
        None => None,
        Some(t) => match serde_json::from_str(t) {
            Ok(v) => Some(v),
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("SyntaxError: {e}")),
        },
    };
    let docs: Vec<Value> = if name == "devices" {
        inner.devices.lock().unwrap().clone()
    } else {
        Vec::new()
    };
    let expanded = if name == "devices" {
        expand(&query)
    } else {
        query
    };
    let mut hits: Vec<Value> = docs.into_iter().filter(|d| matches(d, &expanded)).collect();
    if let Some(Value::Object(sort)) = sort {
        for (key, dir) in sort.iter().rev() {
            let path = if name == "devices" {
                value_path(key)
            } else {
                key.clone()
            };
            let desc = dir.as_i64() == Some(-1);
            hits.sort_by(|a, b| {
                let o = cmp(lookup(a, &path), lookup(b, &path));
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
    let total = hits.len();
    let skip = q
        .get("skip")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let projection: Option<Vec<String>> = q.get("projection").map(|p| {
        p.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let items: Vec<String> = hits
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(|d| match &projection {
            Some(p) => project(&d, p).to_string(),
            None => d.to_string(),
        })
        .collect();
    let body = if method == Method::HEAD {
        String::new()
    } else {
        format!("[\n{}\n]", items.join(",\n"))
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("GenieACS-Version", VERSION)
        .header("total", total.to_string())
        .body(Body::from(body))
        .expect("static response")
}

/// Appends `._value` unless the last segment starts with `_`.
fn value_path(key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    if last.starts_with('_') {
        key.to_owned()
    } else {
        format!("{key}._value")
    }
}

/// GenieACS's query expansion for `devices`: parameter paths get `._value`, and a string
/// value also matches its numeric reading.
fn expand(query: &Value) -> Value {
    let Value::Object(map) = query else {
        return query.clone();
    };
    let mut and = Vec::new();
    for (k, v) in map {
        if k.starts_with('$') {
            let parts: Vec<Value> = v
                .as_array()
                .map(|a| a.iter().map(expand).collect())
                .unwrap_or_default();
            and.push(json!({ k.clone(): parts }));
            continue;
        }
        let path = value_path(k);
        let alternatives: Vec<Value> = match v {
            Value::String(s) => {
                let mut alts = vec![v.clone()];
                if let Ok(n) = s.parse::<f64>() {
                    alts.push(json!(n));
                }
                alts
            }
            _ => vec![v.clone()],
        };
        if alternatives.len() == 1 {
            and.push(json!({ path: alternatives[0].clone() }));
        } else {
            let or: Vec<Value> = alternatives
                .into_iter()
                .map(|a| json!({ path.clone(): a }))
                .collect();
            and.push(json!({"$or": or}));
        }
    }
    json!({"$and": and})
}

fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = doc;
    for part in path.split('.') {
        node = node.get(part)?;
    }
    Some(node)
}

fn cmp(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(x), Some(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p.total_cmp(&q),
            _ => x.to_string().cmp(&y.to_string()),
        },
    }
}

fn equal(have: Option<&Value>, want: &Value) -> bool {
    match (have, want) {
        (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Some(Value::Array(items)), w) => items.iter().any(|i| equal(Some(i), w)),
        (Some(h), w) => h == w,
        (None, Value::Null) => true,
        (None, _) => false,
    }
}

/// Mongo-style matching for the operators clients use.
fn matches(doc: &Value, query: &Value) -> bool {
    let Value::Object(map) = query else {
        return true;
    };
    map.iter().all(|(k, v)| match k.as_str() {
        "$and" => v
            .as_array()
            .is_some_and(|a| a.iter().all(|q| matches(doc, q))),
        "$or" => v
            .as_array()
            .is_some_and(|a| a.iter().any(|q| matches(doc, q))),
        "$nor" => v
            .as_array()
            .is_some_and(|a| !a.iter().any(|q| matches(doc, q))),
        path => {
            let have = lookup(doc, path);
            match v {
                Value::Object(ops) if ops.keys().all(|o| o.starts_with('$')) => {
                    ops.iter().all(|(op, arg)| {
                        use std::cmp::Ordering::*;
                        match op.as_str() {
                            "$eq" => equal(have, arg),
                            "$ne" => !equal(have, arg),
                            "$gt" => have.is_some() && cmp(have, Some(arg)) == Greater,
                            "$gte" => have.is_some() && cmp(have, Some(arg)) != Less,
                            "$lt" => have.is_some() && cmp(have, Some(arg)) == Less,
                            "$lte" => have.is_some() && cmp(have, Some(arg)) != Greater,
                            "$in" => arg
                                .as_array()
                                .is_some_and(|a| a.iter().any(|x| equal(have, x))),
                            "$nin" => !arg
                                .as_array()
                                .is_some_and(|a| a.iter().any(|x| equal(have, x))),
                            "$exists" => have.is_some() == arg.as_bool().unwrap_or(true),
                            _ => false,
                        }
                    })
                }
                want => equal(have, want),
            }
        }
    })
}

/// An inclusion projection: `_id` plus each projected path's subtree.
fn project(doc: &Value, paths: &[String]) -> Value {
    let mut out = Map::new();
    out.insert("_id".into(), doc["_id"].clone());
    let mut out = Value::Object(out);
    for p in paths {
        let Some(v) = lookup(doc, p) else { continue };
        let parts: Vec<&str> = p.split('.').collect();
        let mut node = &mut out;
        for part in &parts[..parts.len() - 1] {
            if node.get(*part).is_none() {
                node[*part] = json!({});
            }
            node = &mut node[*part];
        }
        node[parts[parts.len() - 1]] = v.clone();
    }
    out
}

/// Device documents of every CPE family, with the quirks of devices.md section 7 (placeholder
/// identifiers only). `ips` are the UE addresses to report, one per device in this order:
/// BEC RidgeWave 6900, Baicells ODU, Baicells IDU, Telrad CPE12000SG, Telrad CPE12300XG.
pub fn model_fleet(ips: [&str; 5], last_inform: &str) -> Vec<Value> {
    let odu = baicells(
        "ODU/EG7010AM11/GDM7243QT",
        "EG7010A_M11_Ver.B",
        "1203000AQ0000000001",
        "20",
        ips[1],
        Some("43"),
        last_inform,
    );
    let idu = baicells(
        "IDU/EG2013BM11/GDM7243QT",
        "EG2013B_M11",
        "1203000AQ0000000002",
        "20000",
        ips[2],
        None,
        last_inform,
    );
    vec![
        ridgewave_6900(ips[0], last_inform),
        odu,
        idu,
        cpe12000sg(ips[3], last_inform),
        cpe12300xg(ips[4], last_inform),
    ]
    .into_iter()
    .map(DeviceDoc::into_value)
    .collect()
}

/// The root of the TR-069 data model these CPEs use.
const IGD: &str = "InternetGatewayDevice";

/// A BEC RidgeWave 6900: its `X_BEC_COM_ModuleA` tree (hex CellID, IMEI ending in `\r`).
fn ridgewave_6900(ip: &str, last_inform: &str) -> DeviceDoc {
    let igd = IGD;
    DeviceDoc::new(
        "BEC",
        "600347",
        "RidgeWave 6900",
        "600347A1B2C3",
        last_inform,
    )
    .s(&format!("{igd}.DeviceInfo.Manufacturer"), "BEC")
    .s(
        &format!("{igd}.DeviceInfo.ModelName"),
        "4G/LTE Outdoor Router",
    )
    .s(&format!("{igd}.DeviceInfo.SerialNumber"), "600347A1B2C3")
    .s(
        &format!("{igd}.DeviceInfo.SoftwareVersion"),
        "1.04.1.560.cbsd\n",
    )
    .param(
        &format!("{igd}.DeviceInfo.UpTime"),
        json!(86400),
        "xsd:unsignedInt",
        false,
    )
    .s(
        &format!("{igd}.WANDevice.X_BEC_COM_ModuleA.MainRSRP"),
        "-104",
    )
    .s(&format!("{igd}.WANDevice.X_BEC_COM_ModuleA.MainRSRQ"), "-7")
    .s(
        &format!("{igd}.WANDevice.X_BEC_COM_ModuleA.MainSINR"),
        "18.4",
    )
    .s(&format!("{igd}.WANDevice.X_BEC_COM_ModuleA.CellID"), "A621")
    .s(
        &format!("{igd}.WANDevice.X_BEC_COM_ModuleA.PhyCellID"),
        "451",
    )
    .s(&format!("{igd}.WANDevice.X_BEC_COM_ModuleA.PLMN"), "001010")
    .s(
        &format!("{igd}.WANDevice.X_BEC_COM_ModuleA.IMEI"),
        "869910040000001\r",
    )
    .s(
        &format!("{igd}.WANDevice.X_BEC_COM_ModuleA.IMSI"),
        "001010000000101",
    )
    .s(
        &format!("{igd}.WANDevice.1.WANConnectionDevice.12.WANPPPConnection.1.ExternalIPAddress"),
        ip,
    )
    .s(
        &format!("{igd}.LANDevice.1.LANEthernetInterfaceConfig.1.MACAddress"),
        "60:03:47:A1:B2:C3",
    )
    .tags(&["tower7"])
}

/// A Telrad CPE12000SG: its `WEB_GUI.Status` tree (local CellID and eNodeBID apart, kHz
/// bandwidth, a "4.320 kbps" rate, a text uptime).
fn cpe12000sg(ip: &str, last_inform: &str) -> DeviceDoc {
    let igd = IGD;
    DeviceDoc::new(
        "Generic",
        "20107A",
        "CPE12000SG",
        "TLR000000001",
        last_inform,
    )
    .s(&format!("{igd}.DeviceInfo.ModelName"), "WLTGG-122")
    .s(
        &format!("{igd}.DeviceInfo.Description"),
        "Outdoor CPE CAT12",
    )
    .s(&format!("{igd}.DeviceInfo.SoftwareVersion"), "01.02.01.035")
    .param(
        &format!("{igd}.DeviceInfo.UpTime"),
        json!(745_500),
        "xsd:unsignedInt",
        false,
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.LTE_Status.LTE_System.Bandwidth"),
        "20000",
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.LTE_Status.LTE_System.CellID"),
        "33",
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.LTE_Status.LTE_System.eNodeBID"),
        "166",
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.LTE_Status.LTE_System.RSRP.RSRP0"),
        "-90",
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.LTE_Status.LTE_RX.DataRate"),
        "4.320 kbps",
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.Device_Status.Device_Status.IMEI"),
        "357498100000003",
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.Device_Status.Device_Status.IMSI"),
        "001010000000103",
    )
    .s(
        &format!("{igd}.WEB_GUI.Status.System_Status.System_Information.Device_Up_Time"),
        "8 days 14 hours 45 minutes",
    )
    .s(
        &format!("{igd}.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress"),
        ip,
    )
}

/// A Telrad CPE12300XG: its `WANNetConfigInfo` tree (7-hex-digit ECI, "20MHz", a `0.0`
/// antenna, a 32-bit byte counter).
fn cpe12300xg(ip: &str, last_inform: &str) -> DeviceDoc {
    let igd = IGD;
    DeviceDoc::new("Telrad", "34BA9A", "CPE12300", "00000000001", last_inform)
        .s(&format!("{igd}.DeviceInfo.ModelName"), "CPE12300XG")
        .s(
            &format!("{igd}.DeviceInfo.SoftwareVersion"),
            "KT2A_OTE722_TRD_1.0.1.110",
        )
        .param(
            &format!("{igd}.DeviceInfo.UpTime"),
            json!(7200),
            "xsd:unsignedInt",
            false,
        )
        .s(&format!("{igd}.WANDevice.1.WANNetConfigInfo.RSRP"), "-93")
        .s(
            &format!("{igd}.WANDevice.1.WANNetConfigInfo.ANTX3.RSRP"),
            "0.0",
        )
        .s(
            &format!("{igd}.WANDevice.1.WANNetConfigInfo.Bandwidth"),
            "20MHz",
        )
        .s(
            &format!("{igd}.WANDevice.1.WANNetConfigInfo.ECI"),
            "000A617",
        )
        .s(&format!("{igd}.WANDevice.1.WANNetConfigInfo.CellId"), "23")
        .s(
            &format!("{igd}.WANDevice.1.WANNetConfigInfo.PLMN"),
            "001010",
        )
        .s(
            &format!("{igd}.WANDevice.1.WANNetConfigInfo.IMEI"),
            "866301030000004",
        )
        .s(
            &format!("{igd}.WANDevice.1.WANNetConfigInfo.IMSI"),
            "001010000000104",
        )
        .param(
            &format!("{igd}.WANDevice.1.WANCommonInterfaceConfig.TotalBytesReceived"),
            json!(4_294_967_000u64),
            "xsd:unsignedInt",
            false,
        )
        .s(
            &format!("{igd}.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress"),
            ip,
        )
        .s(
            &format!("{igd}.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.MACAddress"),
            "34:BA:9A:00:00:04",
        )
}

/// A Baicells Atom (ODU or IDU by `class`): its `WEB_GUI` tree (bandwidth in MHz or kHz,
/// decimal cell ID, two antennas).
fn baicells(
    class: &str,
    model: &str,
    serial: &str,
    bandwidth: &str,
    ip: &str,
    band: Option<&str>,
    last_inform: &str,
) -> DeviceDoc {
    let igd = IGD;
    let mut d = DeviceDoc::new("Baicells", "48BF74", class, serial, last_inform)
        .s(&format!("{igd}.DeviceInfo.ModelName"), model)
        .s(&format!("{igd}.DeviceInfo.SerialNumber"), serial)
        .s(
            &format!("{igd}.DeviceInfo.SoftwareVersion"),
            "BaiCE_BG_1.6.16",
        )
        .s(
            &format!("{igd}.DeviceInfo.ModemFirmwareVersion"),
            "0.3.3.12",
        )
        .param(
            &format!("{igd}.DeviceInfo.UpTime"),
            json!(3600),
            "xsd:unsignedInt",
            false,
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.Bandwidth"),
            bandwidth,
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.EARFCN"),
            "43690",
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.RSRP0"),
            "-95",
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.RSRP1"),
            "-97",
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.SINR"),
            "21",
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.PCI"),
            "451",
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.Cell_ID"),
            "42529",
        )
        .s(
            &format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.eNB_ID"),
            "166",
        )
        .s(
            &format!("{igd}.WEB_GUI.Overview.DeviceInfo.IMEI"),
            &format!(
                "{}0000002",
                if class.starts_with("ODU") {
                    "86794504"
                } else {
                    "86628803"
                }
            ),
        )
        .s(
            &format!("{igd}.WEB_GUI.Overview.DeviceInfo.IMSI"),
            "001010000000102",
        )
        .s(
            &format!("{igd}.WEB_GUI.Overview.LANStatus.MacAddress"),
            "48:BF:74:00:00:02",
        )
        .s(
            &format!("{igd}.WEB_GUI.Overview.LTEStatus.APNList.1.IPAddress"),
            ip,
        );
    if let Some(b) = band {
        d = d.s(&format!("{igd}.WEB_GUI.Network.LTE_Setting.Status.Band"), b);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_escaped_like_genieacs() {
        assert_eq!(escape_id_part("RidgeWave 6900"), "RidgeWave%206900");
        assert_eq!(
            escape_id_part("ODU/EG7010AM11/GDM7243QT"),
            "ODU%2FEG7010AM11%2FGDM7243QT"
        );
        assert_eq!(escape_id_part("BEC 6900-R21"), "BEC%206900%2DR21");
    }

    #[test]
    fn query_expansion_matches_values_and_numbers() {
        let fleet = model_fleet(
            [
                "10.45.0.1",
                "10.45.0.2",
                "10.45.0.3",
                "10.45.0.4",
                "10.45.0.5",
            ],
            "2026-11-26T08:00:00.000Z",
        );
        let q = expand(&json!({"InternetGatewayDevice.DeviceInfo.UpTime": "3600"}));
        assert_eq!(
            fleet.iter().filter(|d| matches(d, &q)).count(),
            2,
            "string 3600 matches the number"
        );
        let q = expand(&json!({"_deviceId._OUI": "48BF74"}));
        assert_eq!(fleet.iter().filter(|d| matches(d, &q)).count(), 2);
        let q = expand(&json!({"_tags": "tower7"}));
        assert_eq!(fleet.iter().filter(|d| matches(d, &q)).count(), 1);
        let q =
            expand(&json!({"$or": [{"_deviceId._OUI": "600347"}, {"_deviceId._OUI": "34BA9A"}]}));
        assert_eq!(fleet.iter().filter(|d| matches(d, &q)).count(), 2);
    }
}
