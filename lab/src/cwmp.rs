//! CWMP (TR-069) simulators: a CPE that holds a data model and runs sessions the way
//! genieacs-sim does (Inform, empty POST, answers GetParameterValues, faults 9005/9000),
//! from its own loopback address over one TCP connection per session; and a minimal ACS
//! that answers like GenieACS (InformResponse with the same `cwmp:ID` and a session cookie,
//! then the GetParameterValues its "provisions" declare, then 204), optionally behind Basic
//! auth, recording every request it got so tests can check what a proxy changed.
//! Facts: shared/reference/epc-acs-tr069.md sections 3.6 and 4.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

const ENVELOPE_OPEN: &str = r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">"#;

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn envelope(id: &str, body: &str) -> String {
    format!(
        "{ENVELOPE_OPEN}<soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">{}</cwmp:ID></soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>",
        xml_escape(id)
    )
}

fn value_structs(params: &[&Param]) -> String {
    let mut out = format!(
        "<ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[{}]\">",
        params.len()
    );
    for p in params {
        out.push_str(&format!(
            "<ParameterValueStruct><Name>{}</Name><Value xsi:type=\"{}\">{}</Value></ParameterValueStruct>",
            xml_escape(&p.path),
            xml_escape(&p.xsd_type),
            xml_escape(&p.value)
        ));
    }
    out.push_str("</ParameterList>");
    out
}

/// One parameter of a CPE's data model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Full path.
    pub path: String,
    /// Value as text.
    pub value: String,
    /// `xsd:string`, `xsd:unsignedInt`, ...
    pub xsd_type: String,
}

/// A simulated CPE's identity and data model.
#[derive(Debug, Clone)]
pub struct DataModel {
    /// DeviceId `Manufacturer`.
    pub manufacturer: String,
    /// DeviceId `OUI`.
    pub oui: String,
    /// DeviceId `ProductClass`.
    pub product_class: String,
    /// DeviceId `SerialNumber`.
    pub serial: String,
    /// Every parameter.
    pub params: Vec<Param>,
}

impl DataModel {
    /// The data model of a GenieACS device document (efi-lab's `genieacs::model_fleet`):
    /// its DeviceId and every leaf with a `_value`.
    pub fn from_genieacs(doc: &Value) -> DataModel {
        let id = &doc["_deviceId"];
        let field = |k: &str| id[k].as_str().unwrap_or_default().to_owned();
        let mut params = Vec::new();
        fn walk(node: &Value, prefix: &str, out: &mut Vec<Param>) {
            let Some(map) = node.as_object() else { return };
            if let Some(v) = map.get("_value") {
                out.push(Param {
                    path: prefix.to_owned(),
                    value: match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                    xsd_type: map
                        .get("_type")
                        .and_then(Value::as_str)
                        .unwrap_or("xsd:string")
                        .to_owned(),
                });
                return;
            }
            for (k, child) in map {
                if k.starts_with('_') {
                    continue;
                }
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(child, &path, out);
            }
        }
        walk(doc, "", &mut params);
        DataModel {
            manufacturer: field("_Manufacturer"),
            oui: field("_OUI"),
            product_class: field("_ProductClass"),
            serial: field("_SerialNumber"),
            params,
        }
    }

    /// Sets (or adds) a string parameter.
    pub fn set(&mut self, path: &str, value: &str) {
        match self.params.iter_mut().find(|p| p.path == path) {
            Some(p) => p.value = value.to_owned(),
            None => self.params.push(Param {
                path: path.to_owned(),
                value: value.to_owned(),
                xsd_type: "xsd:string".into(),
            }),
        }
    }

    /// The parameters an Inform carries (genieacs-sim's fixed list: the forced-inform
    /// parameters and the WAN addresses), those of them the model has.
    fn inform_params(&self) -> Vec<&Param> {
        const SUFFIXES: [&str; 7] = [
            "DeviceInfo.SpecVersion",
            "DeviceInfo.HardwareVersion",
            "DeviceInfo.SoftwareVersion",
            "DeviceInfo.ProvisioningCode",
            "ManagementServer.ParameterKey",
            "ManagementServer.ConnectionRequestURL",
            ".ExternalIPAddress",
        ];
        self.params
            .iter()
            .filter(|p| SUFFIXES.iter().any(|s| p.path.ends_with(s)))
            .collect()
    }

    fn inform(&self, id: &str, events: &[&str]) -> String {
        let mut events_xml = format!(
            "<Event soap-enc:arrayType=\"cwmp:EventStruct[{}]\">",
            events.len()
        );
        for e in events {
            events_xml.push_str(&format!(
                "<EventStruct><EventCode>{}</EventCode><CommandKey></CommandKey></EventStruct>",
                xml_escape(e)
            ));
        }
        events_xml.push_str("</Event>");
        envelope(
            id,
            &format!(
                "<cwmp:Inform><DeviceId><Manufacturer>{}</Manufacturer><OUI>{}</OUI><ProductClass>{}</ProductClass><SerialNumber>{}</SerialNumber></DeviceId>{events_xml}<MaxEnvelopes>1</MaxEnvelopes><CurrentTime>{}</CurrentTime><RetryCount>0</RetryCount>{}</cwmp:Inform>",
                xml_escape(&self.manufacturer),
                xml_escape(&self.oui),
                xml_escape(&self.product_class),
                xml_escape(&self.serial),
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
                value_structs(&self.inform_params())
            ),
        )
    }

    /// The answer to a GetParameterValues: every parameter at or below each name (a name
    /// ending in `.` is partial), or fault 9005 for a name nothing matches.
    fn get_parameter_values(&self, id: &str, names: &[String]) -> String {
        let mut found: Vec<&Param> = Vec::new();
        for name in names {
            let matched: Vec<&Param> = self
                .params
                .iter()
                .filter(|p| {
                    if name.ends_with('.') {
                        p.path.starts_with(name.as_str())
                    } else {
                        p.path == *name
                    }
                })
                .collect();
            if matched.is_empty() {
                return fault(id, 9005, &format!("Invalid parameter name {name}"));
            }
            found.extend(matched);
        }
        envelope(
            id,
            &format!(
                "<cwmp:GetParameterValuesResponse>{}</cwmp:GetParameterValuesResponse>",
                value_structs(&found)
            ),
        )
    }
}

fn fault(id: &str, code: u32, message: &str) -> String {
    envelope(
        id,
        &format!(
            "<soap-env:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>{code}</FaultCode><FaultString>{}</FaultString></cwmp:Fault></detail></soap-env:Fault>",
            xml_escape(message)
        ),
    )
}

/// How a CPE sends its bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transport {
    /// gzip every body (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Send bodies chunked instead of with a `Content-Length`.
    pub chunked: bool,
}

/// What one CPE session did.
#[derive(Debug, Clone, Default)]
pub struct SessionReport {
    /// The HTTP status of each ACS answer, in order.
    pub statuses: Vec<u16>,
    /// Every body the CPE sent (before compression), in order.
    pub sent: Vec<String>,
    /// RPC names the ACS asked for.
    pub rpcs: Vec<String>,
}

/// A simulated CPE.
#[derive(Debug, Clone)]
pub struct Cpe {
    /// Its data model.
    pub model: DataModel,
    /// The address it connects from (its management address, the UE IP on LTE).
    pub address: IpAddr,
    /// `ManagementServer.Username` / `Password`, sent as Basic auth when the ACS asks.
    pub credentials: Option<(String, String)>,
    /// How it sends bodies.
    pub transport: Transport,
}

impl Cpe {
    /// A CPE at `address` with `model`.
    pub fn new(model: DataModel, address: IpAddr) -> Cpe {
        Cpe {
            model,
            address,
            credentials: None,
            transport: Transport::default(),
        }
    }

    /// Runs one session against `acs` (`host:port`, path `/`) over one TCP connection from
    /// this CPE's address: Inform with `events`, the empty POST, then every RPC the ACS asks
    /// until it answers 204.
    pub async fn session(&self, acs: SocketAddr, events: &[&str]) -> anyhow::Result<SessionReport> {
        let socket = match self.address {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(self.address, 0))?;
        let stream = socket.connect(acs).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let conn = tokio::spawn(conn);
        let mut report = SessionReport::default();
        let mut cookie: Option<String> = None;
        let mut auth: Option<String> = None;
        let mut body = self
            .model
            .inform(&format!("{:x}", rand::random::<u32>()), events);
        let mut informed = false;
        for _ in 0..64 {
            let (status, headers, answer) = self
                .post(&mut sender, acs, &body, cookie.as_deref(), auth.as_deref())
                .await?;
            report.statuses.push(status);
            if let Some(c) = headers
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
            {
                cookie = Some(c.to_owned());
            }
            if status == 401 && auth.is_none() {
                let Some((user, pass)) = &self.credentials else {
                    anyhow::bail!("the ACS asked for credentials this CPE does not have");
                };
                use base64::Engine;
                auth = Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
                ));
                continue;
            }
            report.sent.push(body.clone());
            match status {
                204 => break,
                200 if !informed => {
                    anyhow::ensure!(
                        answer.contains("InformResponse"),
                        "the ACS answered the Inform with {answer:?}"
                    );
                    informed = true;
                    body = String::new();
                }
                200 => {
                    let (id, rpc, names) = read_rpc(&answer)?;
                    report.rpcs.push(rpc.clone());
                    body = match rpc.as_str() {
                        "GetParameterValues" => self.model.get_parameter_values(&id, &names),
                        other => fault(&id, 9000, &format!("Method not supported: {other}")),
                    };
                }
                other => anyhow::bail!("the ACS answered {other}: {answer:?}"),
            }
        }
        drop(sender);
        let _ = conn.await;
        Ok(report)
    }

    async fn post(
        &self,
        sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        acs: SocketAddr,
        body: &str,
        cookie: Option<&str>,
        auth: Option<&str>,
    ) -> anyhow::Result<(u16, HeaderMap, String)> {
        let mut request = hyper::Request::post("/")
            .header("host", acs.to_string())
            .header("soapaction", "")
            .header("user-agent", "efi-lab-cwmp-cpe");
        if !body.is_empty() {
            request = request.header("content-type", "text/xml; charset=\"utf-8\"");
        }
        let bytes = if self.transport.gzip && !body.is_empty() {
            request = request.header("content-encoding", "gzip");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(body.as_bytes())?;
            gz.finish()?
        } else {
            body.as_bytes().to_vec()
        };
        if self.transport.chunked && !bytes.is_empty() {
            request = request.header("transfer-encoding", "chunked");
        } else {
            request = request.header("content-length", bytes.len());
        }
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        // Keep-alive: the connection takes the next request once the last answer is done.
        sender.ready().await?;
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(bytes)))?)
            .await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let answer = response.into_body().collect().await?.to_bytes();
        Ok((
            status,
            headers,
            String::from_utf8_lossy(&answer).into_owned(),
        ))
    }
}

/// The `cwmp:ID`, the RPC name and the parameter names of an ACS request.
fn read_rpc(xml: &str) -> anyhow::Result<(String, String, Vec<String>)> {
    let doc = roxmltree::Document::parse(xml)?;
    let find = |name: &str| {
        doc.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == name)
    };
    let id = find("ID")
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_owned();
    let body = find("Body").ok_or_else(|| anyhow::anyhow!("no Body in {xml:?}"))?;
    let rpc = body
        .children()
        .find(|n| n.is_element())
        .ok_or_else(|| anyhow::anyhow!("an empty Body"))?;
    let names = rpc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "string")
        .filter_map(|n| n.text())
        .map(str::to_owned)
        .collect();
    Ok((id, rpc.tag_name().name().to_owned(), names))
}

/// One request the ACS received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The TCP peer (the proxy's side of the connection when proxied).
    pub peer: SocketAddr,
    /// The session cookie it carried, or the one it was given.
    pub session: String,
    /// Every header, as received (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body, decompressed and de-chunked.
    pub body: String,
}

struct AcsState {
    declare: Vec<String>,
    basic_auth: Option<String>,
    sessions: Mutex<HashMap<String, AcsSession>>,
    received: Mutex<Vec<Received>>,
}

#[derive(Default)]
struct AcsSession {
    asked: bool,
    device: String,
}

/// A running minimal ACS; stops when dropped.
pub struct Acs {
    state: Arc<AcsState>,
    server: crate::sim::SimServer,
}

impl Acs {
    /// Starts on `bind`; after each Inform it asks every CPE for `declare` (full or partial
    /// paths) in one GetParameterValues, as a GenieACS provision would. With `basic_auth`
    /// (`user`, `password`) it challenges requests without them.
    pub async fn start(
        bind: SocketAddr,
        declare: Vec<String>,
        basic_auth: Option<(&str, &str)>,
    ) -> std::io::Result<Acs> {
        use base64::Engine;
        let state = Arc::new(AcsState {
            declare,
            basic_auth: basic_auth.map(|(u, p)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                )
            }),
            sessions: Mutex::new(HashMap::new()),
            received: Mutex::new(Vec::new()),
        });
        let router = Router::new().fallback(any(acs)).with_state(state.clone());
        let server = crate::sim::SimServer::start(bind, router).await?;
        Ok(Acs { state, server })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Every request received so far (the latest [`KEPT`] at most).
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// GenieACS IDs of the devices that completed an Inform, by session.
    pub fn devices(&self) -> Vec<String> {
        let sessions = self.state.sessions.lock().unwrap();
        let mut d: Vec<String> = sessions.values().map(|s| s.device.clone()).collect();
        d.sort();
        d
    }
}

/// Requests, and sessions, the ACS remembers at most.
pub const KEPT: usize = 10_000;

async fn acs(
    State(state): State<Arc<AcsState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed").into_response();
    }
    if let Some(want) = &state.basic_auth {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(want.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Basic realm=\"GenieACS\"")],
                "",
            )
                .into_response();
        }
    }
    let text = if headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
    {
        let mut out = String::new();
        use std::io::Read;
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut out)
            .is_err()
        {
            return (StatusCode::BAD_REQUEST, "bad gzip").into_response();
        }
        out
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let cookie = headers
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .find_map(|kv| kv.trim().strip_prefix("session="))
        })
        .map(str::to_owned);
    let session = cookie
        .clone()
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    {
        let mut received = state.received.lock().unwrap();
        if received.len() >= KEPT {
            // A long-running lab (`efi-lab demo`) keeps the latest half.
            received.drain(..KEPT / 2);
        }
        received.push(Received {
            peer,
            session: session.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: text.clone(),
        });
    }
    let xml_response = |body: String| {
        let mut r = (
            StatusCode::OK,
            [
                ("content-type", "text/xml; charset=\"utf-8\""),
                ("soapserver", "GenieACS/1.2.16"),
            ],
            body,
        )
            .into_response();
        if cookie.is_none() {
            r.headers_mut().insert(
                "set-cookie",
                format!("session={session}").parse().expect("hex cookie"),
            );
        }
        r
    };
    if text.trim().is_empty() {
        // The CPE has no more requests: ask for the declared parameters once, then end.
        let mut sessions = state.sessions.lock().unwrap();
        if sessions.len() >= KEPT {
            sessions.retain(|id, _| *id == session);
        }
        let s = sessions.entry(session.clone()).or_default();
        if !s.asked && !state.declare.is_empty() {
            s.asked = true;
            let names: String = state
                .declare
                .iter()
                .map(|n| format!("<string>{}</string>", xml_escape(n)))
                .collect();
            return xml_response(envelope(
                "acs-1",
                &format!(
                    "<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType=\"xsd:string[{}]\">{names}</ParameterNames></cwmp:GetParameterValues>",
                    state.declare.len()
                ),
            ));
        }
        return no_content();
    }
    let Ok(doc) = roxmltree::Document::parse(&text) else {
        return (StatusCode::BAD_REQUEST, "not XML").into_response();
    };
    let find = |name: &str| {
        doc.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == name)
    };
    if let Some(inform) = find("Inform") {
        let field = |name: &str| {
            inform
                .descendants()
                .find(|n| n.is_element() && n.tag_name().name() == name)
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_owned()
        };
        let device = format!(
            "{}-{}-{}",
            crate::genieacs::escape_id_part(&field("OUI")),
            crate::genieacs::escape_id_part(&field("ProductClass")),
            crate::genieacs::escape_id_part(&field("SerialNumber"))
        );
        state
            .sessions
            .lock()
            .unwrap()
            .entry(session.clone())
            .or_default()
            .device = device;
        let id = find("ID").and_then(|n| n.text()).unwrap_or_default();
        return xml_response(envelope(
            id,
            "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
        ));
    }
    // A GetParameterValuesResponse, a fault or anything else: nothing more to ask.
    no_content()
}

fn no_content() -> Response {
    (StatusCode::NO_CONTENT, [("connection", "close")]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_genieacs_document_becomes_a_data_model() {
        let fleet = crate::genieacs::model_fleet(
            ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"],
            "2026-11-26T00:00:00.000Z",
        );
        let m = DataModel::from_genieacs(&fleet[1]);
        assert_eq!(
            (m.oui.as_str(), m.serial.as_str()),
            ("48BF74", "1203000AQ0000000001")
        );
        let up = m
            .params
            .iter()
            .find(|p| p.path == "InternetGatewayDevice.DeviceInfo.UpTime")
            .unwrap();
        assert_eq!(
            (up.value.as_str(), up.xsd_type.as_str()),
            ("3600", "xsd:unsignedInt")
        );
        let gpv = m.get_parameter_values("1", &["InternetGatewayDevice.WEB_GUI.Overview.".into()]);
        assert!(gpv.contains("867945040000002"), "{gpv}");
        let bad = m.get_parameter_values("1", &["No.Such".into()]);
        assert!(bad.contains("<FaultCode>9005</FaultCode>"), "{bad}");
        assert!(m.inform("x", &["2 PERIODIC"]).contains("<OUI>48BF74</OUI>"));
    }
}
