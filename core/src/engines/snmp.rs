//! SNMP engine: v1 and v2c GET and walks (GETBULK on v2c, GETNEXT on v1), with a timeout
//! per try and retries, on top of snmp2.
//!
//! Each try uses a fresh session (its own socket), so a late answer to an abandoned try can
//! never be taken for the answer to the next one.

use crate::config::{SnmpConfig, SnmpVersion};
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
}

enum Op<'a> {
    Get(&'a [snmp2::Oid<'static>]),
    Bulk(&'a snmp2::Oid<'static>, u32),
    Next(&'a snmp2::Oid<'static>),
}

impl SnmpEngine {
    /// An engine with these defaults.
    pub fn new(config: SnmpConfig) -> Self {
        SnmpEngine {
            config,
            next_request_id: AtomicI32::new(std::process::id() as i32 & 0x7fff_0000),
        }
    }

    /// Runs an SNMP GET or walk.
    pub async fn execute(&self, target: &Target, request: &IoRequest) -> IoResponse {
        let addr = SocketAddr::new(target.address, target.snmp_port);
        match request {
            IoRequest::SnmpGet { oids } => {
                let oids = oids.iter().map(to_snmp2).collect::<Result<Vec<_>, _>>()?;
                self.exchange(addr, Op::Get(&oids)).await.map(IoReply::Snmp)
            }
            IoRequest::SnmpWalk {
                root,
                max_repetitions,
            } => self
                .walk(addr, root, *max_repetitions)
                .await
                .map(IoReply::Snmp),
            other => Err(IoError::new(
                IoErrorKind::Unsupported,
                format!("not an SNMP request: {}", other.kind()),
            )),
        }
    }

    async fn walk(
        &self,
        addr: SocketAddr,
        root: &Oid,
        max_repetitions: u32,
    ) -> Result<Vec<VarBind>, IoError> {
        let reps = if max_repetitions == 0 {
            self.config.max_repetitions
        } else {
            max_repetitions
        };
        let mut out = Vec::new();
        let mut cursor = root.clone();
        loop {
            let asked = to_snmp2(&cursor)?;
            let op = match self.config.version {
                SnmpVersion::V2c => Op::Bulk(&asked, reps),
                SnmpVersion::V1 => Op::Next(&asked),
            };
            let batch = match self.exchange(addr, op).await {
                Ok(b) => b,
                // v1 agents end a walk with noSuchName.
                Err(e)
                    if self.config.version == SnmpVersion::V1
                        && e.message.contains("error status 2") =>
                {
                    return Ok(out)
                }
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
                if out.len() >= self.config.max_walk_varbinds {
                    return Err(IoError::new(
                        IoErrorKind::Protocol,
                        format!(
                            "walk of {root} on {addr} exceeded {} varbinds",
                            self.config.max_walk_varbinds
                        ),
                    ));
                }
            }
        }
    }

    async fn exchange(&self, addr: SocketAddr, op: Op<'_>) -> Result<Vec<VarBind>, IoError> {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let tries = self.config.retries + 1;
        for _ in 0..tries {
            let id = self.next_request_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
            let community = self.config.community.expose().as_bytes();
            let session = match self.config.version {
                SnmpVersion::V1 => AsyncSession::new_v1(addr, community, id).await,
                SnmpVersion::V2c => AsyncSession::new_v2c(addr, community, id).await,
            };
            let mut session = session.map_err(|e| {
                IoError::new(
                    IoErrorKind::Other,
                    format!("cannot open an SNMP socket to {addr}: {e}"),
                )
            })?;
            let attempt = async {
                let pdu = match &op {
                    Op::Get(oids) => {
                        let refs: Vec<&snmp2::Oid> = oids.iter().collect();
                        session.get_many(&refs).await
                    }
                    Op::Bulk(oid, reps) => session.getbulk(&[oid], 0, *reps).await,
                    Op::Next(oid) => session.getnext(oid).await,
                };
                let pdu = pdu.map_err(|e| map_error(addr, e))?;
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
                    .collect::<Result<Vec<_>, IoError>>()
            };
            match tokio::time::timeout(timeout, attempt).await {
                Ok(result) => return result,
                Err(_elapsed) => continue,
            }
        }
        Err(IoError::new(
            IoErrorKind::Timeout,
            format!(
                "no SNMP answer from {addr} after {tries} tries of {} ms",
                self.config.timeout_ms
            ),
        ))
    }
}

fn map_error(addr: SocketAddr, e: snmp2::Error) -> IoError {
    let kind = match e {
        snmp2::Error::Send | snmp2::Error::Receive => IoErrorKind::Refused,
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
    let arcs = oid
        .iter()
        .ok_or_else(bad)?
        .map(|a| u32::try_from(a).map_err(|_| bad()))
        .collect::<Result<Vec<u32>, _>>()?;
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
