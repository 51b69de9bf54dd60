//! SNMP engine: v1, v2c and v3 (USM auth and privacy, context name) GET and walks
//! (GETBULK on v2c/v3, GETNEXT on v1), with a timeout per try and retries, on top of snmp2.
//!
//! A [`SnmpSession`] keeps one socket per agent while answers come; after a timeout it
//! starts a fresh one, so a late answer to an abandoned try can never be taken for the
//! answer to the next one.

use super::snmp_mux::{self, Mux, MuxError};
use crate::config::{Secret, SnmpConfig};
use efi_plugin_api::{
    IoError, IoErrorKind, IoReply, IoRequest, IoResponse, Oid, SnmpValue, Target, VarBind,
};
use snmp2::{AsyncSession, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The SNMP engine.
pub struct SnmpEngine {
    config: SnmpConfig,
    next_request_id: AtomicI32,
    /// v1/v2c transport over shared sockets; `None` gives every session its own socket.
    mux: Option<Mux>,
}

/// Who the engine is on the agent: a v1/v2c community or a v3 (USM) user.
#[derive(Debug, Clone, PartialEq)]
pub enum SnmpCredentials {
    /// SNMPv1 with this community (walks use GETNEXT).
    V1(Secret),
    /// SNMPv2c with this community (walks use GETBULK).
    V2c(Secret),
    /// SNMPv3 with this user (walks use GETBULK).
    V3(UsmUser),
}

/// An SNMPv3 user-based security model identity. The security level follows from which
/// keys are present: none (noAuthNoPriv), `auth` (authNoPriv), `auth` + `privacy`
/// (authPriv).
#[derive(Debug, Clone, PartialEq)]
pub struct UsmUser {
    /// securityName.
    pub user: String,
    /// Authentication protocol and passphrase.
    pub auth: Option<(AuthProtocol, Secret)>,
    /// Privacy protocol and passphrase (requires `auth`).
    pub privacy: Option<(PrivProtocol, Secret)>,
    /// contextName sent with every request (empty: the default context).
    pub context_name: String,
    /// contextEngineID. When given it is used as the agent's engine ID and discovery is
    /// skipped (as `snmpget -e`); an agent with another engine ID then refuses the
    /// requests. Proxy contexts (contextEngineID other than the agent's) are not supported.
    pub context_engine_id: Option<Vec<u8>>,
}

/// SNMPv3 authentication protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProtocol {
    /// HMAC-MD5-96.
    Md5,
    /// HMAC-SHA-96.
    Sha1,
    /// HMAC-SHA-224.
    Sha224,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

/// SNMPv3 privacy protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProtocol {
    /// CBC-DES.
    Des,
    /// CFB-AES-128.
    Aes128,
    /// CFB-AES-192 (Blumenthal key extension).
    Aes192,
    /// CFB-AES-256 (Blumenthal key extension).
    Aes256,
}

/// Names compared without case or punctuation (`SHA-256`, `sha256`).
fn normalised(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

impl AuthProtocol {
    /// `MD5`, `SHA` (or `SHA1`), `SHA-224`, `SHA-256`, `SHA-384`, `SHA-512`, without case.
    pub fn from_name(name: &str) -> Option<AuthProtocol> {
        Some(match normalised(name).as_str() {
            "md5" => AuthProtocol::Md5,
            "sha" | "sha1" => AuthProtocol::Sha1,
            "sha224" => AuthProtocol::Sha224,
            "sha256" => AuthProtocol::Sha256,
            "sha384" => AuthProtocol::Sha384,
            "sha512" => AuthProtocol::Sha512,
            _ => return None,
        })
    }
}

impl PrivProtocol {
    /// `DES`, `AES` (or `AES-128`), `AES-192`, `AES-256`, without case.
    pub fn from_name(name: &str) -> Option<PrivProtocol> {
        Some(match normalised(name).as_str() {
            "des" => PrivProtocol::Des,
            "aes" | "aes128" => PrivProtocol::Aes128,
            "aes192" => PrivProtocol::Aes192,
            "aes256" => PrivProtocol::Aes256,
            _ => return None,
        })
    }
}

enum Op<'a> {
    Get(&'a [Oid]),
    Bulk(&'a Oid, u32),
    Next(&'a Oid),
}

impl SnmpEngine {
    /// An engine with these defaults.
    pub fn new(config: SnmpConfig) -> Self {
        let mux = (config.shared_sockets > 0)
            .then(|| Mux::new(config.shared_sockets, config.receive_buffer_bytes));
        SnmpEngine {
            config,
            next_request_id: AtomicI32::new(std::process::id() as i32 & 0x7fff_0000),
            mux,
        }
    }

    /// Datagrams on the shared sockets that were not SNMP (`malformed`) or answered nothing
    /// in flight (`unmatched`); zeros without shared sockets.
    pub fn stray_answers(&self) -> (u64, u64) {
        self.mux.as_ref().map_or((0, 0), |m| {
            let c = m.counters();
            (
                c.malformed.load(std::sync::atomic::Ordering::Relaxed),
                c.unmatched.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }

    /// Time per try and tries of one request (for messages).
    pub fn patience(&self) -> (u64, u32) {
        (self.config.timeout_ms, self.config.retries + 1)
    }

    /// A session with one agent. It keeps its socket (and, for v3, the discovered engine)
    /// across requests, and starts afresh after a timeout so that a late answer to an
    /// abandoned try is never taken for the answer to the next one.
    pub fn session(&self, agent: SocketAddr, credentials: SnmpCredentials) -> SnmpSession<'_> {
        SnmpSession {
            engine: self,
            agent,
            credentials,
            session: None,
            timeout: Duration::from_millis(self.config.timeout_ms),
            retries: self.config.retries,
        }
    }

    /// Runs an SNMP GET or walk as `credentials`.
    pub async fn execute(
        &self,
        target: &Target,
        request: &IoRequest,
        credentials: SnmpCredentials,
    ) -> IoResponse {
        let addr = SocketAddr::new(target.address, target.snmp_port);
        let mut session = self.session(addr, credentials);
        match request {
            IoRequest::SnmpGet { oids } => session.get(oids).await.map(IoReply::Snmp),
            IoRequest::SnmpWalk {
                root,
                max_repetitions,
            } => session
                .walk(root, *max_repetitions)
                .await
                .map(IoReply::Snmp),
            other => Err(IoError::new(
                IoErrorKind::Unsupported,
                format!("not an SNMP request: {}", other.kind()),
            )),
        }
    }
}

/// A conversation with one agent; see [`SnmpEngine::session`].
pub struct SnmpSession<'e> {
    engine: &'e SnmpEngine,
    agent: SocketAddr,
    credentials: SnmpCredentials,
    session: Option<AsyncSession>,
    timeout: Duration,
    retries: u32,
}

impl SnmpSession<'_> {
    /// Overrides the engine's timeout per try and retry count for this session.
    pub fn with_timeout(mut self, timeout: Duration, retries: u32) -> Self {
        self.timeout = timeout;
        self.retries = retries;
        self
    }

    /// The agent's address.
    pub fn agent(&self) -> SocketAddr {
        self.agent
    }

    /// GET of these OIDs, in one PDU.
    pub async fn get(&mut self, oids: &[Oid]) -> Result<Vec<VarBind>, IoError> {
        self.exchange(Op::Get(oids)).await
    }

    /// Walks the subtree under `root` (GETBULK with `max_repetitions`, or the engine's
    /// default when zero; GETNEXT on v1).
    pub async fn walk(
        &mut self,
        root: &Oid,
        max_repetitions: u32,
    ) -> Result<Vec<VarBind>, IoError> {
        let config = &self.engine.config;
        let reps = if max_repetitions == 0 {
            config.max_repetitions
        } else {
            max_repetitions
        };
        let max_varbinds = config.max_walk_varbinds;
        let v1 = matches!(self.credentials, SnmpCredentials::V1(_));
        let addr = self.agent;
        let mut out = Vec::new();
        let mut cursor = root.clone();
        loop {
            let asked = cursor.clone();
            let op = if v1 {
                Op::Next(&asked)
            } else {
                Op::Bulk(&asked, reps)
            };
            let batch = match self.exchange(op).await {
                Ok(b) => b,
                // v1 agents end a walk with noSuchName.
                Err(e) if v1 && e.message.contains("error status 2") => return Ok(out),
                Err(e) => return Err(e),
            };
            if batch.is_empty() {
                return Ok(out);
            }
            for vb in batch {
                if !vb.oid.is_below(root) || vb.value == SnmpValue::EndOfMibView {
                    return Ok(out);
                }
                if vb.oid <= cursor {
                    return Err(IoError::new(
                        IoErrorKind::Protocol,
                        format!(
                            "agent {addr} returned {} after {cursor}: OIDs not increasing",
                            vb.oid
                        ),
                    ));
                }
                cursor = vb.oid.clone();
                out.push(vb);
                if out.len() >= max_varbinds {
                    return Err(IoError::new(
                        IoErrorKind::Protocol,
                        format!("walk of {root} on {addr} exceeded {max_varbinds} varbinds"),
                    ));
                }
            }
        }
    }

    async fn open(&self) -> Result<AsyncSession, IoError> {
        let addr = self.agent;
        let id = self
            .engine
            .next_request_id
            .fetch_add(1000, Ordering::Relaxed)
            & 0x7fff_ffff;
        let cannot_open = |e: std::io::Error| {
            IoError::new(
                IoErrorKind::Other,
                format!("cannot open an SNMP socket to {addr}: {e}"),
            )
        };
        match &self.credentials {
            SnmpCredentials::V1(c) => AsyncSession::new_v1(addr, c.expose().as_bytes(), id)
                .await
                .map_err(cannot_open),
            SnmpCredentials::V2c(c) => AsyncSession::new_v2c(addr, c.expose().as_bytes(), id)
                .await
                .map_err(cannot_open),
            SnmpCredentials::V3(user) => {
                let mut security = security(user);
                let known_engine = user.context_engine_id.as_deref().filter(|e| !e.is_empty());
                if let Some(engine_id) = known_engine {
                    security = security.with_engine_id(engine_id).map_err(|e| {
                        IoError::new(
                            IoErrorKind::Protocol,
                            format!("contextEngineID {} is unusable: {e:?}", hex(engine_id)),
                        )
                    })?;
                }
                let mut session = AsyncSession::new_v3(addr, id, security)
                    .await
                    .map_err(cannot_open)?;
                // With a known engine ID there is no discovery (as `snmpget -e`): the
                // agent's first answer is a notInTimeWindow report that sets boots and
                // time, and the request is sent again (see `exchange`).
                if known_engine.is_none() {
                    session.init().await.map_err(|e| map_error(addr, e))?;
                }
                Ok(session)
            }
        }
    }

    async fn exchange(&mut self, op: Op<'_>) -> Result<Vec<VarBind>, IoError> {
        let community = match &self.credentials {
            SnmpCredentials::V1(c) => Some((0, c)),
            SnmpCredentials::V2c(c) => Some((1, c)),
            SnmpCredentials::V3(_) => None,
        };
        match (community, &self.engine.mux) {
            (Some((version, community)), Some(mux)) => {
                let community = community.clone();
                self.exchange_shared(mux, version, &community, op).await
            }
            _ => self.exchange_own_socket(op).await,
        }
    }

    /// v1/v2c over the engine's shared sockets.
    async fn exchange_shared(
        &self,
        mux: &Mux,
        version: i64,
        community: &Secret,
        op: Op<'_>,
    ) -> Result<Vec<VarBind>, IoError> {
        let addr = self.agent;
        let tries = self.retries + 1;
        let (tag, bulk, oids): (u8, (u32, u32), Vec<&[u32]>) = match &op {
            Op::Get(oids) => (
                snmp_mux::GET,
                (0, 0),
                oids.iter().map(|o| o.arcs()).collect(),
            ),
            Op::Bulk(oid, reps) => (snmp_mux::GET_BULK, (0, *reps), vec![oid.arcs()]),
            Op::Next(oid) => (snmp_mux::GET_NEXT, (0, 0), vec![oid.arcs()]),
        };
        let community = community.expose().as_bytes();
        for _ in 0..tries {
            let id = mux.request_id();
            let datagram = snmp_mux::encode_request(version, community, tag, id, bulk, &oids);
            match mux.exchange(addr, id, &datagram, self.timeout).await {
                Ok(answer) => return decode_answer(&answer, addr, community),
                Err(MuxError::Timeout) => continue,
                Err(MuxError::Io(e)) => {
                    return Err(IoError::new(
                        IoErrorKind::Refused,
                        format!("cannot send to SNMP agent {addr}: {e}"),
                    ))
                }
            }
        }
        Err(IoError::new(
            IoErrorKind::Timeout,
            format!(
                "no SNMP answer from {addr} after {tries} tr{} of {} ms",
                if tries == 1 { "y" } else { "ies" },
                self.timeout.as_millis()
            ),
        ))
    }

    /// Over a socket of this session's own (snmp2; every v3 exchange).
    async fn exchange_own_socket(&mut self, op: Op<'_>) -> Result<Vec<VarBind>, IoError> {
        let addr = self.agent;
        let timeout = self.timeout;
        let tries = self.retries + 1;
        let op = match op {
            Op::Get(oids) => Op2::Get(oids.iter().map(to_snmp2).collect::<Result<Vec<_>, _>>()?),
            Op::Bulk(oid, reps) => Op2::Bulk(to_snmp2(oid)?, reps),
            Op::Next(oid) => Op2::Next(to_snmp2(oid)?),
        };
        let mut resynced = false;
        let mut try_no = 0;
        while try_no < tries {
            try_no += 1;
            if self.session.is_none() {
                match tokio::time::timeout(timeout, self.open()).await {
                    Ok(Ok(s)) => self.session = Some(s),
                    Ok(Err(e)) => return Err(e),
                    Err(_elapsed) => continue,
                }
            }
            let session = self.session.as_mut().expect("opened above");
            let attempt = async {
                let pdu = match &op {
                    Op2::Get(oids) => {
                        let refs: Vec<&snmp2::Oid> = oids.iter().collect();
                        session.get_many(&refs).await
                    }
                    Op2::Bulk(oid, reps) => session.getbulk(&[oid], 0, *reps).await,
                    Op2::Next(oid) => session.getnext(oid).await,
                };
                Ok(varbinds_of(addr, pdu?))
            };
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(result)) => return result,
                // The agent's engine boots/time moved on: snmp2 took the new values; send
                // again at once (once).
                Ok(Err(snmp2::Error::AuthUpdated)) if !resynced => {
                    resynced = true;
                    try_no -= 1;
                }
                Ok(Err(e)) => {
                    self.session = None;
                    return Err(map_error(addr, e));
                }
                Err(_elapsed) => self.session = None,
            }
        }
        Err(IoError::new(
            IoErrorKind::Timeout,
            format!(
                "no SNMP answer from {addr} after {tries} tr{} of {} ms",
                if tries == 1 { "y" } else { "ies" },
                timeout.as_millis()
            ),
        ))
    }
}

fn security(user: &UsmUser) -> snmp2::v3::Security {
    use snmp2::v3::{Auth, AuthProtocol as A, Cipher, Security};
    let auth_pass = user
        .auth
        .as_ref()
        .map(|(_, p)| p.expose().as_bytes())
        .unwrap_or_default();
    let mut security =
        Security::new(user.user.as_bytes(), auth_pass).with_context_name(&user.context_name);
    if let Some((protocol, _)) = &user.auth {
        security = security.with_auth_protocol(match protocol {
            AuthProtocol::Md5 => A::Md5,
            AuthProtocol::Sha1 => A::Sha1,
            AuthProtocol::Sha224 => A::Sha224,
            AuthProtocol::Sha256 => A::Sha256,
            AuthProtocol::Sha384 => A::Sha384,
            AuthProtocol::Sha512 => A::Sha512,
        });
    }
    let auth = match (&user.auth, &user.privacy) {
        (None, _) => Auth::NoAuthNoPriv,
        (Some(_), None) => Auth::AuthNoPriv,
        (Some(_), Some((protocol, pass))) => Auth::AuthPriv {
            cipher: match protocol {
                PrivProtocol::Des => Cipher::Des,
                PrivProtocol::Aes128 => Cipher::Aes128,
                PrivProtocol::Aes192 => Cipher::Aes192,
                PrivProtocol::Aes256 => Cipher::Aes256,
            },
            privacy_password: pass.expose().as_bytes().to_vec(),
        },
    };
    if matches!(
        user.privacy,
        Some((PrivProtocol::Aes192 | PrivProtocol::Aes256, _))
    ) {
        security = security.with_key_extension_method(snmp2::v3::KeyExtension::Blumenthal);
    }
    security.with_auth(auth)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Op2 {
    Get(Vec<snmp2::Oid<'static>>),
    Bulk(snmp2::Oid<'static>, u32),
    Next(snmp2::Oid<'static>),
}

/// Decodes a v1/v2c answer datagram from `addr` to a request with `community`: its
/// varbinds, or why it is not a usable answer. Every answer on the shared sockets goes
/// through here (and the fuzz target `snmp_answer` feeds it arbitrary bytes).
pub fn decode_answer(
    datagram: &[u8],
    addr: SocketAddr,
    community: &[u8],
) -> Result<Vec<VarBind>, IoError> {
    let pdu = snmp2::Pdu::from_bytes(datagram).map_err(|e| map_error(addr, e))?;
    if pdu.message_type != snmp2::MessageType::Response || pdu.community != community {
        return Err(IoError::new(
            IoErrorKind::Protocol,
            format!(
                "agent {addr} answered a {:?} that is not a response for this community",
                pdu.message_type
            ),
        ));
    }
    varbinds_of(addr, pdu)
}

/// The varbinds of an answer, or the agent's error status.
fn varbinds_of(addr: SocketAddr, pdu: snmp2::Pdu<'_>) -> Result<Vec<VarBind>, IoError> {
    if pdu.error_status != 0 {
        return Err(IoError::new(
            IoErrorKind::Protocol,
            format!(
                "agent {addr} answered error status {} at index {}",
                pdu.error_status, pdu.error_index
            ),
        ));
    }
    pdu.varbinds
        .map(|(oid, value)| {
            Ok(VarBind {
                oid: from_snmp2(&oid)?,
                value: convert_value(value)?,
            })
        })
        .collect()
}

fn map_error(addr: SocketAddr, e: snmp2::Error) -> IoError {
    let kind = match e {
        snmp2::Error::Send | snmp2::Error::Receive => IoErrorKind::Refused,
        snmp2::Error::AuthFailure(_) => IoErrorKind::Auth,
        _ => IoErrorKind::Protocol,
    };
    IoError::new(kind, format!("SNMP exchange with {addr} failed: {e:?}"))
}

fn to_snmp2(oid: &Oid) -> Result<snmp2::Oid<'static>, IoError> {
    let arcs: Vec<u64> = oid.arcs().iter().map(|a| u64::from(*a)).collect();
    snmp2::Oid::from(&arcs).map_err(|e| {
        IoError::new(
            IoErrorKind::Protocol,
            format!("OID {oid} cannot be encoded: {e:?}"),
        )
    })
}

fn from_snmp2(oid: &snmp2::Oid<'_>) -> Result<Oid, IoError> {
    let bad = || {
        IoError::new(
            IoErrorKind::Protocol,
            format!("agent sent an OID with an arc over 32 bits: {oid}"),
        )
    };
    // Sized once: collecting through `Result` loses the iterator's exact length and grows
    // the vector two or three times per OID, for every varbind of every answer.
    let sub_ids = oid.iter().ok_or_else(bad)?;
    let mut arcs = Vec::with_capacity(sub_ids.len());
    for a in sub_ids {
        arcs.push(u32::try_from(a).map_err(|_| bad())?);
    }
    Ok(Oid::from_arcs(arcs))
}

fn convert_value(v: Value<'_>) -> Result<SnmpValue, IoError> {
    Ok(match v {
        Value::Boolean(b) => SnmpValue::Integer(i64::from(b)),
        Value::Null => SnmpValue::Null,
        Value::Integer(i) => SnmpValue::Integer(i),
        Value::OctetString(b) => SnmpValue::OctetString(b.to_vec()),
        Value::ObjectIdentifier(o) => SnmpValue::ObjectId(from_snmp2(&o)?),
        Value::IpAddress(a) => SnmpValue::IpAddress(a),
        Value::Counter32(c) => SnmpValue::Counter32(c),
        Value::Unsigned32(g) => SnmpValue::Gauge32(g),
        Value::Timeticks(t) => SnmpValue::TimeTicks(t),
        Value::Opaque(b) => SnmpValue::Opaque(b.to_vec()),
        Value::Counter64(c) => SnmpValue::Counter64(c),
        Value::EndOfMibView => SnmpValue::EndOfMibView,
        Value::NoSuchObject => SnmpValue::NoSuchObject,
        Value::NoSuchInstance => SnmpValue::NoSuchInstance,
        other => {
            return Err(IoError::new(
                IoErrorKind::Protocol,
                format!("unexpected SNMP value type {other:?}"),
            ))
        }
    })
}
