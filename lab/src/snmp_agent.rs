//! An SNMP v1 and v2c agent on UDP that answers GET, GETNEXT and (v2c) GETBULK from
//! `.snmprec` data.
//!
//! v1 requests get v1 answers (RFC 3584): no exception values — a missing object or the end
//! of the MIB is error `noSuchName` with the index of the first culprit and the request's
//! bindings echoed; Counter64 objects do not exist for v1 (GET: noSuchName, GETNEXT skips
//! them); GETBULK is not a v1 request and is dropped.
//!
//! One agent is one simulated device at one loopback address. Faults can be switched at run
//! time (no answer, late answer, garbage answer) to exercise the host's timeouts and retries.

use efi_plugin_api::snmprec::AgentData;
use efi_plugin_api::{oid, Oid, SnmpValue};
use rasn::types::{Integer, ObjectIdentifier, OctetString};
use rasn_smi::v1::{Counter, Gauge, IpAddress, TimeTicks};
use rasn_smi::v2::{ApplicationSyntax, Counter64, ObjectSyntax, SimpleSyntax};
use rasn_snmp::v2::{BulkPdu, Pdu, Pdus, Response, VarBind, VarBindValue};
use rasn_snmp::v2c::Message;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Most varbinds in one answer (keeps GETBULK answers inside one UDP datagram).
const MAX_VARBINDS_PER_ANSWER: usize = 400;

/// How the agent misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// Never answer.
    NoAnswer,
    /// Answer after this delay.
    Slow(Duration),
    /// Answer with bytes that are not SNMP.
    Garbage,
    /// Ignore the next this-many requests, then answer normally (a lost datagram).
    DropNext(u32),
}

/// Settings of one agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The community it answers to; requests with another community are ignored, as real
    /// agents do.
    pub community: String,
    /// Let sysUpTime.0 advance: the recorded value plus the time since the agent started.
    pub live_uptime: bool,
    /// Note what managers ask for (shared by agents of one kind): what the fleet benchmark
    /// builds its snmp_exporter module from.
    pub request_log: Option<Arc<RequestLog>>,
}

/// What managers asked agents for: the OIDs they GET, the roots they walk (a GETNEXT or
/// GETBULK name that is not itself an object of the agent: a continuation names the last
/// object returned, a walk starts at a subtree), and every object a walk returned, each
/// with the snmp_exporter type of its value.
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<RequestsSeen>,
}

/// The contents of a [`RequestLog`].
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RequestsSeen {
    /// OID → exporter type, for every object asked for by GET.
    pub get: std::collections::BTreeMap<String, String>,
    /// Subtrees walked.
    pub walk: std::collections::BTreeSet<String>,
    /// OID → exporter type, for every object a walk returned.
    pub walked: std::collections::BTreeMap<String, String>,
}

impl RequestLog {
    /// What was asked so far.
    pub fn seen(&self) -> RequestsSeen {
        self.inner.lock().unwrap().clone()
    }
}

/// NoSuchObject, NoSuchInstance or EndOfMibView: not an object's value.
fn is_exception(v: &SnmpValue) -> bool {
    matches!(
        v,
        SnmpValue::NoSuchObject | SnmpValue::NoSuchInstance | SnmpValue::EndOfMibView
    )
}

/// The snmp_exporter type that renders `v` (see its generator's documentation).
fn exporter_type(v: &SnmpValue) -> &'static str {
    match v {
        SnmpValue::Counter32(_) | SnmpValue::Counter64(_) => "counter",
        SnmpValue::Integer(_) | SnmpValue::Gauge32(_) | SnmpValue::TimeTicks(_) => "gauge",
        SnmpValue::IpAddress(_) => "InetAddressIPv4",
        SnmpValue::OctetString(b) if b.iter().all(|c| (0x20..0x7f).contains(c)) => "DisplayString",
        _ => "OctetString",
    }
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            community: "public".into(),
            live_uptime: true,
            request_log: None,
        }
    }
}

struct Shared {
    data: Mutex<AgentData>,
    fault: Mutex<Fault>,
    options: AgentOptions,
    started: Instant,
    requests: AtomicU64,
}

/// A running agent; stops when dropped.
pub struct SnmpAgent {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for SnmpAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SnmpAgent {
    /// Binds `bind` (use port 0 for an ephemeral port) and serves `data`.
    pub async fn start(
        bind: SocketAddr,
        data: AgentData,
        options: AgentOptions,
    ) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(bind).await?;
        let addr = socket.local_addr()?;
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            fault: Mutex::new(Fault::None),
            options,
            started: Instant::now(),
            requests: AtomicU64::new(0),
        });
        let task = tokio::spawn(serve(socket, shared.clone()));
        Ok(SnmpAgent { addr, shared, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far (including ignored ones).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Switches the fault mode.
    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    /// Changes one value (counters moving, a name changing...).
    pub fn set_value(&self, oid: Oid, value: SnmpValue) {
        self.shared.data.lock().unwrap().set(oid, value);
    }
}

async fn serve(socket: UdpSocket, shared: Arc<Shared>) {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let fault = {
            let mut f = shared.fault.lock().unwrap();
            let now = *f;
            if let Fault::DropNext(n) = now {
                *f = if n <= 1 {
                    Fault::None
                } else {
                    Fault::DropNext(n - 1)
                };
            }
            now
        };
        let answer = match fault {
            Fault::NoAnswer | Fault::DropNext(_) => continue,
            Fault::Garbage => Some(b"\x30\x03\x02\x01".to_vec()),
            _ => answer(&shared, &buf[..len]),
        };
        let Some(answer) = answer else { continue };
        match fault {
            Fault::Slow(delay) => {
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = socket.send_to(&answer, peer).await;
                });
            }
            _ => {
                let _ = socket.send_to(&answer, peer).await;
            }
        }
    }
}

/// Decodes a request and builds the encoded response; `None` for anything an agent would
/// silently drop (undecodable, wrong version or community, not a request).
fn answer(shared: &Shared, packet: &[u8]) -> Option<Vec<u8>> {
    let message: Message<Pdus> = rasn::ber::decode(packet).ok()?;
    let v1 = message.version == Integer::from(0);
    if !(v1 || message.version == Integer::from(1))
        || message.community.as_ref() != shared.options.community.as_bytes()
    {
        return None;
    }
    let data = shared.data.lock().unwrap();
    let ticks_since_start = (shared.started.elapsed().as_millis() / 10) as u32;
    let sys_uptime = oid("1.3.6.1.2.1.1.3.0");
    let lookup = |o: &Oid| -> Option<SnmpValue> {
        match data.get(o) {
            Some(SnmpValue::TimeTicks(t)) if shared.options.live_uptime && o == &sys_uptime => {
                Some(SnmpValue::TimeTicks(t.wrapping_add(ticks_since_start)))
            }
            other => other.cloned(),
        }
    };
    let next = |o: &Oid| -> Option<(Oid, SnmpValue)> {
        let mut cursor = o.clone();
        loop {
            let (k, _) = data.next_after(&cursor)?;
            let v = lookup(k)?;
            // Counter64 does not exist for a v1 manager: skip it.
            if v1 && matches!(v, SnmpValue::Counter64(_)) {
                cursor = k.clone();
                continue;
            }
            return Some((k.clone(), v));
        }
    };
    let request_names: Vec<Oid> = match &message.data {
        Pdus::GetRequest(r) => {
            r.0.variable_bindings
                .iter()
                .map(|vb| from_rasn_oid(&vb.name))
                .collect()
        }
        Pdus::GetNextRequest(r) => {
            r.0.variable_bindings
                .iter()
                .map(|vb| from_rasn_oid(&vb.name))
                .collect()
        }
        Pdus::GetBulkRequest(r) if shared.options.request_log.is_some() => {
            r.0.variable_bindings
                .iter()
                .map(|vb| from_rasn_oid(&vb.name))
                .collect()
        }
        _ => Vec::new(),
    };
    let is_get = matches!(message.data, Pdus::GetRequest(_));
    let (request_id, bindings) = match message.data {
        Pdus::GetRequest(r) => (
            r.0.request_id,
            r.0.variable_bindings
                .iter()
                .map(|vb| {
                    let o = from_rasn_oid(&vb.name);
                    let v = lookup(&o).unwrap_or(SnmpValue::NoSuchObject);
                    (o, v)
                })
                .collect::<Vec<_>>(),
        ),
        Pdus::GetNextRequest(r) => (
            r.0.request_id,
            r.0.variable_bindings
                .iter()
                .map(|vb| {
                    let o = from_rasn_oid(&vb.name);
                    next(&o).unwrap_or((o, SnmpValue::EndOfMibView))
                })
                .collect(),
        ),
        Pdus::GetBulkRequest(_) if v1 => return None,
        Pdus::GetBulkRequest(r) => (r.0.request_id, bulk(&r.0, &next)),
        _ => return None,
    };
    if let Some(log) = &shared.options.request_log {
        let mut seen = log.inner.lock().unwrap();
        if is_get {
            for (o, v) in bindings.iter().filter(|(_, v)| !is_exception(v)) {
                seen.get.insert(o.to_string(), exporter_type(v).into());
            }
        } else {
            for o in request_names.iter().filter(|o| data.get(o).is_none()) {
                seen.walk.insert(o.to_string());
            }
            for (o, v) in bindings.iter().filter(|(_, v)| !is_exception(v)) {
                seen.walked.insert(o.to_string(), exporter_type(v).into());
            }
        }
    }
    let mut error_status = Pdu::ERROR_STATUS_NO_ERROR;
    let mut error_index = 0;
    let mut bindings: Vec<(Oid, VarBindValue)> = bindings
        .into_iter()
        .map(|(o, v)| {
            let value = to_rasn_value(&v);
            (o, value)
        })
        .collect();
    if v1 {
        let culprit = bindings.iter().position(|(_, v)| {
            matches!(
                v,
                VarBindValue::NoSuchObject
                    | VarBindValue::NoSuchInstance
                    | VarBindValue::EndOfMibView
                    | VarBindValue::Value(ObjectSyntax::ApplicationWide(
                        ApplicationSyntax::BigCounter(_)
                    ))
            )
        });
        if let Some(i) = culprit {
            // noSuchName, with the request's own bindings echoed (as NULL values).
            error_status = 2;
            error_index = i as u32 + 1;
            bindings = request_names
                .iter()
                .map(|o| (o.clone(), VarBindValue::Unspecified))
                .collect();
        }
    }
    let response = Message {
        version: message.version,
        community: message.community,
        data: Pdus::Response(Response(Pdu {
            request_id,
            error_status,
            error_index,
            variable_bindings: bindings
                .into_iter()
                .map(|(o, value)| VarBind {
                    name: to_rasn_oid(&o),
                    value,
                })
                .collect(),
        })),
    };
    rasn::ber::encode(&response).ok()
}

fn bulk(pdu: &BulkPdu, next: &dyn Fn(&Oid) -> Option<(Oid, SnmpValue)>) -> Vec<(Oid, SnmpValue)> {
    let names: Vec<Oid> = pdu
        .variable_bindings
        .iter()
        .map(|vb| from_rasn_oid(&vb.name))
        .collect();
    let non_repeaters = (pdu.non_repeaters as usize).min(names.len());
    let mut out = Vec::new();
    for o in &names[..non_repeaters] {
        out.push(next(o).unwrap_or((o.clone(), SnmpValue::EndOfMibView)));
    }
    let mut cursors: Vec<Oid> = names[non_repeaters..].to_vec();
    'rows: for _ in 0..pdu.max_repetitions.max(1) {
        let mut all_ended = true;
        for cursor in cursors.iter_mut() {
            if out.len() >= MAX_VARBINDS_PER_ANSWER {
                break 'rows;
            }
            match next(cursor) {
                Some((o, v)) => {
                    all_ended = false;
                    *cursor = o.clone();
                    out.push((o, v));
                }
                None => out.push((cursor.clone(), SnmpValue::EndOfMibView)),
            }
        }
        if all_ended {
            break;
        }
    }
    out
}

fn from_rasn_oid(o: &ObjectIdentifier) -> Oid {
    Oid::from_arcs(o.iter().copied().collect::<Vec<u32>>())
}

fn to_rasn_oid(o: &Oid) -> ObjectIdentifier {
    ObjectIdentifier::new_unchecked(Cow::Owned(o.arcs().to_vec()))
}

fn to_rasn_value(v: &SnmpValue) -> VarBindValue {
    let simple = |s| VarBindValue::Value(ObjectSyntax::Simple(s));
    let app = |a| VarBindValue::Value(ObjectSyntax::ApplicationWide(a));
    match v {
        SnmpValue::Integer(i) => simple(SimpleSyntax::Integer(Integer::from(*i))),
        SnmpValue::OctetString(b) | SnmpValue::Opaque(b) => {
            simple(SimpleSyntax::String(OctetString::from(b.clone())))
        }
        SnmpValue::ObjectId(o) => simple(SimpleSyntax::ObjectId(to_rasn_oid(o))),
        SnmpValue::IpAddress(a) => app(ApplicationSyntax::Address(IpAddress((*a).into()))),
        SnmpValue::Counter32(c) => app(ApplicationSyntax::Counter(Counter(*c))),
        SnmpValue::Gauge32(g) => app(ApplicationSyntax::Unsigned(Gauge(*g))),
        SnmpValue::TimeTicks(t) => app(ApplicationSyntax::Ticks(TimeTicks(*t))),
        SnmpValue::Counter64(c) => app(ApplicationSyntax::BigCounter(Counter64(*c))),
        SnmpValue::NoSuchObject => VarBindValue::NoSuchObject,
        SnmpValue::NoSuchInstance => VarBindValue::NoSuchInstance,
        SnmpValue::EndOfMibView => VarBindValue::EndOfMibView,
        _ => VarBindValue::Unspecified,
    }
}
