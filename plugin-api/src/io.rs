//! The I/O a plugin asks the host to perform, and the answers it gets back.
//!
//! Plugins never open sockets: a step returns [`IoRequest`]s, the host runs them on its
//! engines (with its own timeouts, retries, rate limits and recording) and resumes the
//! plugin with one [`IoResponse`] per request, in the same order.

use crate::oid::Oid;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// One piece of I/O a plugin needs. New variants may be added in later 1.x versions; a host
/// that does not know a variant answers it with [`IoErrorKind::Unsupported`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IoRequest {
    /// SNMP GET of several scalars in one PDU, on the target's SNMP settings.
    SnmpGet {
        /// Full instance OIDs (with the trailing `.0` for scalars).
        oids: Vec<Oid>,
    },
    /// SNMP walk of a subtree (GETBULK where the version allows, GETNEXT otherwise).
    SnmpWalk {
        /// The subtree to walk; only varbinds strictly below it are returned.
        root: Oid,
        /// GETBULK max-repetitions; the host picks a default when zero.
        max_repetitions: u32,
    },
    /// An HTTP(S) request.
    Http(HttpRequest),
    /// An interactive CLI session over SSH or Telnet, driven by expect-style steps.
    Cli(CliRequest),
    /// TR-069 parameter values from the host's cache (snooped Informs and
    /// GetParameterValues answers, GenieACS data). Nothing is sent to the device: a path the
    /// cache does not hold (or holds only stale) is simply missing from the answer, and a
    /// device the cache has never seen is answered [`IoErrorKind::Unsupported`].
    Tr069 {
        /// Full parameter paths (`InternetGatewayDevice.DeviceInfo.SerialNumber`), or partial
        /// paths ending in `.` for every parameter below (`InternetGatewayDevice.WEB_GUI.`),
        /// as in CWMP's GetParameterValues. See [`tr069_path_matches`].
        parameter_paths: Vec<String>,
    },
    /// ICMP echo to the target, like `fping -C count`.
    Icmp {
        /// Number of echo requests to send.
        count: u32,
    },
}

impl IoRequest {
    /// A short name of the request kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            IoRequest::SnmpGet { .. } => "snmp_get",
            IoRequest::SnmpWalk { .. } => "snmp_walk",
            IoRequest::Http(_) => "http",
            IoRequest::Cli(_) => "cli",
            IoRequest::Tr069 { .. } => "tr069",
            IoRequest::Icmp { .. } => "icmp",
        }
    }
}

/// The host's answer to one [`IoRequest`]: the reply, or why there is none.
pub type IoResponse = Result<IoReply, IoError>;

/// A successful answer; the variant matches the request's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IoReply {
    /// Varbinds of a GET (in request order) or a walk (in tree order).
    Snmp(Vec<VarBind>),
    /// The HTTP response.
    Http(HttpResponse),
    /// What the device printed after each CLI step.
    Cli(CliTranscript),
    /// Cached TR-069 parameters (absent paths are simply missing).
    Tr069(Vec<Tr069Param>),
    /// Echo statistics.
    Icmp(IcmpStats),
}

/// Why a request got no answer. Per request: one failed request does not fail the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct IoError {
    /// The class of failure, for a driver to decide on a fallback.
    pub kind: IoErrorKind,
    /// Human-readable detail (never contains credentials).
    pub message: String,
}

impl IoError {
    /// Builds an error of `kind` with a message.
    pub fn new(kind: IoErrorKind, message: impl Into<String>) -> Self {
        IoError {
            kind,
            message: message.into(),
        }
    }
}

/// Classes of I/O failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IoErrorKind {
    /// No answer within the timeout (after retries).
    Timeout,
    /// The device refused the connection or answered with a protocol-level rejection.
    Refused,
    /// Credentials were rejected.
    Auth,
    /// The answer could not be decoded.
    Protocol,
    /// The host cannot perform this kind of request (not configured, or unknown variant).
    Unsupported,
    /// Anything else.
    Other,
}

impl fmt::Display for IoErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoErrorKind::Timeout => "timeout",
            IoErrorKind::Refused => "refused",
            IoErrorKind::Auth => "authentication failed",
            IoErrorKind::Protocol => "protocol error",
            IoErrorKind::Unsupported => "unsupported",
            IoErrorKind::Other => "error",
        })
    }
}

/// One SNMP variable binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarBind {
    /// The instance OID.
    pub oid: Oid,
    /// Its value.
    pub value: SnmpValue,
}

/// An SNMP value with its SMI type kept, so a driver can tell a Gauge from a Counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SnmpValue {
    /// INTEGER.
    Integer(i64),
    /// OCTET STRING: raw bytes (text, a MAC address, or binary).
    OctetString(Vec<u8>),
    /// OBJECT IDENTIFIER.
    ObjectId(Oid),
    /// IpAddress.
    IpAddress([u8; 4]),
    /// Counter32.
    Counter32(u32),
    /// Gauge32 / Unsigned32.
    Gauge32(u32),
    /// TimeTicks (hundredths of a second).
    TimeTicks(u32),
    /// Opaque.
    Opaque(Vec<u8>),
    /// Counter64.
    Counter64(u64),
    /// NULL.
    Null,
    /// The agent has no such object.
    NoSuchObject,
    /// The agent has no such instance.
    NoSuchInstance,
    /// The walk ran off the end of the agent's MIB view.
    EndOfMibView,
}

impl SnmpValue {
    /// True for the "no value" answers (`noSuchObject`, `noSuchInstance`, `endOfMibView`, NULL).
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            SnmpValue::Null
                | SnmpValue::NoSuchObject
                | SnmpValue::NoSuchInstance
                | SnmpValue::EndOfMibView
        )
    }

    /// The value as text: octet strings decoded as UTF-8 (lossy) and trimmed of whitespace,
    /// control characters and NULs; numbers printed in decimal; `None` when absent or empty.
    pub fn as_text(&self) -> Option<String> {
        let text = match self {
            SnmpValue::OctetString(bytes) | SnmpValue::Opaque(bytes) => {
                String::from_utf8_lossy(bytes)
                    .trim_matches(|c: char| c.is_whitespace() || c.is_control())
                    .to_owned()
            }
            SnmpValue::Integer(v) => v.to_string(),
            SnmpValue::Counter32(v) | SnmpValue::Gauge32(v) | SnmpValue::TimeTicks(v) => {
                v.to_string()
            }
            SnmpValue::Counter64(v) => v.to_string(),
            SnmpValue::ObjectId(o) => o.to_string(),
            SnmpValue::IpAddress(a) => std::net::Ipv4Addr::from(*a).to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    }

    /// The value as an integer, for numeric types and for octet strings holding a number.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SnmpValue::Integer(v) => Some(*v),
            SnmpValue::Counter32(v) | SnmpValue::Gauge32(v) | SnmpValue::TimeTicks(v) => {
                Some(i64::from(*v))
            }
            SnmpValue::Counter64(v) => i64::try_from(*v).ok(),
            SnmpValue::OctetString(_) => self.as_text()?.parse().ok(),
            _ => None,
        }
    }

    /// The value as an unsigned 64-bit number (counters, gauges, non-negative integers).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            SnmpValue::Counter64(v) => Some(*v),
            other => other.as_i64().and_then(|v| u64::try_from(v).ok()),
        }
    }

    /// The raw bytes of an octet string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            SnmpValue::OctetString(b) | SnmpValue::Opaque(b) => Some(b),
            _ => None,
        }
    }
}

/// How to treat the server certificate of an HTTPS request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsPolicy {
    /// Verify the certificate chain and host name (the default).
    #[default]
    Verify,
    /// Accept self-signed or mismatched certificates (many CPE web UIs need this). The host
    /// may refuse it when the operator disabled the opt-out.
    AcceptInvalid,
}

/// An HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Absolute URL. Drivers build it from the target's address.
    pub url: String,
    /// Extra headers (cookies for the device are kept by the host between requests).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body.
    #[serde(default)]
    pub body: Vec<u8>,
    /// Certificate policy.
    #[serde(default)]
    pub tls: TlsPolicy,
    /// Overrides the host's HTTP timeout, in milliseconds.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    /// Name of a credential set held by the host (`[credentials.<name>]`): Basic or Bearer
    /// authorisation, or a client certificate for mutual TLS. The plugin never sees the secret.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Rate class (`[http.rate_limits.<name>]`): requests of one class share a token bucket.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_class: Option<String>,
    /// When true, the host retries answers that mean "not processed, try later" (429, 502,
    /// 503, 504) with backoff before answering the plugin.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retry_overload: bool,
    /// When true, the credential set's user name and password go where the URL or body says
    /// `{username}` and `{password}` (percent-encoded, as a form or query needs), instead of
    /// an `Authorization` header: for devices whose web UI logs in with a form. The plugin
    /// still never sees the secret.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub credentials_in_form: bool,
    /// When true, sending the request again has the same effect (a read): the host also
    /// retries, with the same backoff, a 500, a dropped connection and an answer declared
    /// JSON whose body does not parse (cut short). Never set it on a write.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

impl HttpRequest {
    /// A GET of `url` with the default policy.
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            tls: TlsPolicy::Verify,
            timeout_ms: None,
            credentials: None,
            rate_class: None,
            retry_overload: false,
            credentials_in_form: false,
            idempotent: false,
        }
    }

    /// A POST of an `application/x-www-form-urlencoded` body. Values are percent-encoded,
    /// except the placeholders `{username}` and `{password}`, kept for the host to fill in
    /// (see [`HttpRequest::credentials_in_form`]).
    pub fn post_form(url: impl Into<String>, fields: &[(&str, &str)]) -> Self {
        let encode = |s: &str| {
            if s == "{username}" || s == "{password}" {
                s.to_owned()
            } else {
                percent_encode(s)
            }
        };
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        HttpRequest {
            method: "POST".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: body.into_bytes(),
            ..HttpRequest::get(url)
        }
    }

    /// A POST of a JSON body.
    pub fn post_json(url: impl Into<String>, body: &impl serde::Serialize) -> Self {
        HttpRequest {
            method: "POST".into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: serde_json::to_vec(body).unwrap_or_default(),
            ..HttpRequest::get(url)
        }
    }

    /// Uses the host's credential set `name`.
    pub fn with_credentials(mut self, name: impl Into<String>) -> Self {
        self.credentials = Some(name.into());
        self
    }

    /// Has the host fill `{username}` / `{password}` in the URL and body from the credential
    /// set, instead of sending an `Authorization` header (form logins).
    pub fn in_form(mut self) -> Self {
        self.credentials_in_form = true;
        self
    }

    /// Puts the request in a rate class and lets the host retry overload answers.
    pub fn rate_limited(mut self, class: impl Into<String>) -> Self {
        self.rate_class = Some(class.into());
        self.retry_overload = true;
        self
    }

    /// Marks the request as a read the host may send again on a 500, a dropped connection
    /// or a cut-short JSON answer (see [`HttpRequest::idempotent`]).
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

/// Percent-encodes text for a URL query or a form body: every byte but the RFC 3986
/// unreserved characters (letters, digits, `-`, `.`, `_`, `~`) becomes `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers (lower-case names).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body, capped at the host's size limit.
    #[serde(default)]
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which CLI transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CliTransport {
    /// SSH (password or key, from the named credentials).
    Ssh,
    /// Telnet.
    Telnet,
}

/// An expect-style CLI session.
///
/// The host connects and logs in with the named credentials (SSH authentication, then any
/// `login:` / `Password:` prompt on either transport) until the first step's `expect`
/// matches; so begin with a step that sends nothing and waits for the shell prompt. (A
/// script whose first step sends a line waits for a generic prompt ending in `#`, `>`, `$`
/// or `%` instead.) Each later step's output is what the device printed up to the end of
/// its match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliRequest {
    /// SSH or Telnet.
    pub transport: CliTransport,
    /// Port; the transport's default when absent.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Name of a credential set held by the host (never the secret itself).
    pub credentials: String,
    /// The steps, in order.
    pub steps: Vec<CliStep>,
}

/// One CLI step: optionally send a line, then wait until the output matches a regex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliStep {
    /// Text to send (a newline is appended). `None` just waits (e.g. for the first prompt).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Regular expression that ends the step (usually the prompt).
    pub expect: String,
    /// Step timeout in milliseconds.
    pub timeout_ms: u32,
}

/// What the device printed during each step, up to the end of the step's match: ANSI
/// sequences, `\r` and the echo of the sent line removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliTranscript {
    /// One entry per step.
    pub outputs: Vec<String>,
}

/// True when the parameter `path` answers `asked` in an [`IoRequest::Tr069`]: the same
/// parameter, or, when `asked` is a partial path ending in `.`, any parameter below it.
pub fn tr069_path_matches(asked: &str, path: &str) -> bool {
    if asked.ends_with('.') {
        path.starts_with(asked)
    } else {
        path == asked
    }
}

/// One TR-069 parameter value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tr069Param {
    /// Full path.
    pub path: String,
    /// Value as the CPE sent it.
    pub value: String,
    /// xsd type (`xsd:unsignedInt`, ...), when known.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xsd_type: Option<String>,
}

/// ICMP echo results with `fping -C` semantics: one slot per probe, `None` for a lost one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IcmpStats {
    /// Round-trip time of each probe in milliseconds, `None` when it was lost.
    pub rtts_ms: Vec<Option<f64>>,
}

impl IcmpStats {
    /// Probes sent.
    pub fn sent(&self) -> usize {
        self.rtts_ms.len()
    }

    /// Probes answered.
    pub fn received(&self) -> usize {
        self.rtts_ms.iter().flatten().count()
    }

    /// Loss as a fraction in 0..=1 (1 when nothing was sent).
    pub fn loss(&self) -> f64 {
        if self.rtts_ms.is_empty() {
            return 1.0;
        }
        1.0 - self.received() as f64 / self.sent() as f64
    }

    fn answered_sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.rtts_ms.iter().flatten().copied().collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Lowest round-trip time of the answered probes (lost probes never count).
    pub fn min_ms(&self) -> Option<f64> {
        self.answered_sorted().first().copied()
    }

    /// Highest round-trip time of the answered probes.
    pub fn max_ms(&self) -> Option<f64> {
        self.answered_sorted().last().copied()
    }

    /// Median round-trip time of the answered probes.
    pub fn median_ms(&self) -> Option<f64> {
        let v = self.answered_sorted();
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }
}

/// Converts a duration to whole milliseconds for the `timeout_ms` fields, saturating.
pub fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_keeps_the_credential_placeholders_and_encodes_the_rest() {
        assert_eq!(percent_encode("p&ss w=rd%~"), "p%26ss%20w%3Drd%25~");
        let r = HttpRequest::post_form(
            "http://127.0.0.1/login",
            &[("user name", "{username}"), ("password", "{password}")],
        );
        assert_eq!(r.body, b"user%20name={username}&password={password}");
    }

    #[test]
    fn icmp_stats_ignore_lost_probes() {
        let s = IcmpStats {
            rtts_ms: vec![Some(3.0), None, Some(1.0), Some(2.0)],
        };
        assert_eq!(s.sent(), 4);
        assert_eq!(s.received(), 3);
        assert_eq!(s.min_ms(), Some(1.0));
        assert_eq!(s.median_ms(), Some(2.0));
        assert_eq!(s.max_ms(), Some(3.0));
        assert!((s.loss() - 0.25).abs() < 1e-9);
        let lost = IcmpStats {
            rtts_ms: vec![None, None],
        };
        assert_eq!(lost.min_ms(), None);
        assert_eq!(lost.loss(), 1.0);
    }

    #[test]
    fn snmp_text_is_trimmed_and_empty_is_absent() {
        assert_eq!(
            SnmpValue::OctetString(b"865432\r\n".to_vec())
                .as_text()
                .as_deref(),
            Some("865432")
        );
        assert_eq!(SnmpValue::OctetString(Vec::new()).as_text(), None);
        assert_eq!(SnmpValue::NoSuchObject.as_text(), None);
        assert_eq!(SnmpValue::OctetString(b" 42 ".to_vec()).as_i64(), Some(42));
    }
}
