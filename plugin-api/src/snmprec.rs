//! The snmpsim `.snmprec` format (`oid|type|value`, one varbind a line): parse and answer.
//!
//! Used by the SDK's test helpers (a driver answered from a recorded walk) and by efi-lab's
//! SNMP agent, so a fixture means the same thing in a unit test and on the wire.

use crate::io::{IoError, IoErrorKind, IoReply, IoRequest, IoResponse, SnmpValue, VarBind};
use crate::oid::Oid;
use std::collections::BTreeMap;
use std::ops::Bound;

/// A parse failure, naming the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snmprec line {line}: {reason}")]
pub struct SnmprecError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// The data of one SNMP agent: OIDs in walk order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentData {
    values: BTreeMap<Oid, SnmpValue>,
}

impl AgentData {
    /// Parses snmprec text. Types: 2 Integer, 4 OctetString (`4x` hex), 5 Null, 6 OID,
    /// 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 68 Opaque (`68x` hex), 70 Counter64.
    pub fn parse(text: &str) -> Result<Self, SnmprecError> {
        let mut values = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim_end_matches(['\r', '\n']);
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            let err = |reason: String| SnmprecError { line, reason };
            let mut parts = raw.splitn(3, '|');
            let (Some(oid), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(err("expected oid|type|value".into()));
            };
            let oid: Oid = oid.parse().map_err(|e| err(format!("{e}")))?;
            let value = parse_value(tag, value).map_err(err)?;
            values.insert(oid, value);
        }
        Ok(AgentData { values })
    }

    /// Builds agent data from varbinds.
    pub fn from_varbinds(varbinds: impl IntoIterator<Item = VarBind>) -> Self {
        AgentData {
            values: varbinds.into_iter().map(|vb| (vb.oid, vb.value)).collect(),
        }
    }

    /// Number of varbinds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value at exactly `oid`.
    pub fn get(&self, oid: &Oid) -> Option<&SnmpValue> {
        self.values.get(oid)
    }

    /// Sets a value (for tests that vary a recording).
    pub fn set(&mut self, oid: Oid, value: SnmpValue) {
        self.values.insert(oid, value);
    }

    /// The first varbind strictly after `oid` (GETNEXT).
    pub fn next_after(&self, oid: &Oid) -> Option<(&Oid, &SnmpValue)> {
        self.values
            .range((Bound::Excluded(oid), Bound::Unbounded))
            .next()
    }

    /// Every varbind strictly below `root`, in order (a full walk).
    pub fn walk(&self, root: &Oid) -> Vec<VarBind> {
        self.values
            .range((Bound::Excluded(root), Bound::Unbounded))
            .take_while(|(oid, _)| oid.is_below(root))
            .map(|(oid, value)| VarBind {
                oid: oid.clone(),
                value: value.clone(),
            })
            .collect()
    }

    /// Answers an SNMP request the way an agent would (GET: `noSuchObject` for unknown OIDs);
    /// other request kinds are answered [`IoErrorKind::Unsupported`].
    pub fn answer(&self, request: &IoRequest) -> IoResponse {
        match request {
            IoRequest::SnmpGet { oids } => Ok(IoReply::Snmp(
                oids.iter()
                    .map(|oid| VarBind {
                        oid: oid.clone(),
                        value: self.get(oid).cloned().unwrap_or(SnmpValue::NoSuchObject),
                    })
                    .collect(),
            )),
            IoRequest::SnmpWalk { root, .. } => Ok(IoReply::Snmp(self.walk(root))),
            other => Err(IoError::new(
                IoErrorKind::Unsupported,
                format!("an SNMP recording cannot answer a {} request", other.kind()),
            )),
        }
    }

    /// Writes the data back as snmprec text.
    pub fn to_snmprec(&self) -> String {
        let mut out = String::new();
        for (oid, value) in &self.values {
            let (tag, text) = format_value(value);
            out.push_str(&format!("{oid}|{tag}|{text}\n"));
        }
        out
    }
}

fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_value(tag: &str, value: &str) -> Result<SnmpValue, String> {
    let num = |what: &str| format!("{what} value {value:?} is not a number of that type");
    Ok(match tag {
        "2" => SnmpValue::Integer(value.trim().parse().map_err(|_| num("Integer"))?),
        "4" => SnmpValue::OctetString(value.as_bytes().to_vec()),
        "4x" => SnmpValue::OctetString(hex_decode(value)?),
        "5" => SnmpValue::Null,
        "6" => SnmpValue::ObjectId(value.parse().map_err(|e| format!("{e}"))?),
        "64" => SnmpValue::IpAddress(
            value
                .trim()
                .parse::<std::net::Ipv4Addr>()
                .map_err(|_| format!("bad IpAddress {value:?}"))?
                .octets(),
        ),
        "64x" => {
            let b = hex_decode(value)?;
            SnmpValue::IpAddress(
                b.try_into()
                    .map_err(|_| "IpAddress needs 4 bytes".to_string())?,
            )
        }
        "65" => SnmpValue::Counter32(value.trim().parse().map_err(|_| num("Counter32"))?),
        "66" => SnmpValue::Gauge32(value.trim().parse().map_err(|_| num("Gauge32"))?),
        "67" => SnmpValue::TimeTicks(value.trim().parse().map_err(|_| num("TimeTicks"))?),
        "68" => SnmpValue::Opaque(value.as_bytes().to_vec()),
        "68x" => SnmpValue::Opaque(hex_decode(value)?),
        "70" => SnmpValue::Counter64(value.trim().parse().map_err(|_| num("Counter64"))?),
        "128" => SnmpValue::NoSuchObject,
        "129" => SnmpValue::NoSuchInstance,
        "130" => SnmpValue::EndOfMibView,
        other => return Err(format!("unknown snmprec type tag {other:?}")),
    })
}

fn format_value(value: &SnmpValue) -> (&'static str, String) {
    match value {
        SnmpValue::Integer(v) => ("2", v.to_string()),
        SnmpValue::OctetString(b) => match std::str::from_utf8(b) {
            Ok(s) if !s.contains(['\n', '\r', '|']) && !s.chars().any(char::is_control) => {
                ("4", s.to_owned())
            }
            _ => ("4x", hex_encode(b)),
        },
        SnmpValue::Null => ("5", String::new()),
        SnmpValue::ObjectId(o) => ("6", o.to_string()),
        SnmpValue::IpAddress(a) => ("64", std::net::Ipv4Addr::from(*a).to_string()),
        SnmpValue::Counter32(v) => ("65", v.to_string()),
        SnmpValue::Gauge32(v) => ("66", v.to_string()),
        SnmpValue::TimeTicks(v) => ("67", v.to_string()),
        SnmpValue::Opaque(b) => ("68x", hex_encode(b)),
        SnmpValue::Counter64(v) => ("70", v.to_string()),
        SnmpValue::NoSuchObject => ("128", String::new()),
        SnmpValue::NoSuchInstance => ("129", String::new()),
        SnmpValue::EndOfMibView => ("130", String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oid::oid;

    const SAMPLE: &str = "1.3.6.1.2.1.1.1.0|4|Linux router\n\
        1.3.6.1.2.1.1.3.0|67|123456\n\
        1.3.6.1.2.1.2.2.1.6.1|4x|001a2bc2c3ff\n\
        1.3.6.1.2.1.2.2.1.10.1|65|42\n\
        1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615\n";

    #[test]
    fn parses_types_and_walks_in_order() {
        let data = AgentData::parse(SAMPLE).unwrap();
        assert_eq!(data.len(), 5);
        assert_eq!(
            data.get(&oid("1.3.6.1.2.1.2.2.1.6.1")),
            Some(&SnmpValue::OctetString(vec![
                0, 0x1a, 0x2b, 0xc2, 0xc3, 0xff
            ]))
        );
        let walk = data.walk(&oid("1.3.6.1.2.1.2"));
        assert_eq!(walk.len(), 2);
        assert_eq!(walk[0].oid, oid("1.3.6.1.2.1.2.2.1.6.1"));
        assert_eq!(
            data.next_after(&oid("1.3.6.1.2.1.1.1.0")).unwrap().0,
            &oid("1.3.6.1.2.1.1.3.0")
        );
    }

    #[test]
    fn round_trips_through_text() {
        let data = AgentData::parse(SAMPLE).unwrap();
        assert_eq!(AgentData::parse(&data.to_snmprec()).unwrap(), data);
    }

    #[test]
    fn errors_name_the_line() {
        let err =
            AgentData::parse("1.3.6.1.2.1.1.1.0|4|ok\n1.3.6.1.2.1.1.3.0|67|soon\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("TimeTicks"), "{err}");
        assert!(AgentData::parse("1.3.6|99|x").is_err());
    }

    #[test]
    fn get_of_unknown_oid_is_no_such_object() {
        let data = AgentData::parse(SAMPLE).unwrap();
        let reply = data
            .answer(&IoRequest::SnmpGet {
                oids: vec![oid("1.3.6.1.2.1.1.5.0")],
            })
            .unwrap();
        let IoReply::Snmp(vbs) = reply else { panic!() };
        assert_eq!(vbs[0].value, SnmpValue::NoSuchObject);
    }
}
