//! A recorded device: the answers of an `efi-poller record` file served to a driver as the
//! device would, so a driver other than the one recorded (a device profile being written)
//! can run on it. An exact recorded request gets its recorded answer (each once, in order);
//! otherwise SNMP is answered from every varbind the recording holds (GETs by OID, walks by
//! subtree) and TR-069 from every parameter it holds, and anything else is "not recorded".

use efi_plugin_api::testing::{same_request, Exchange, Recording};
use efi_plugin_api::{
    tr069_path_matches, IoError, IoErrorKind, IoReply, IoRequest, IoResponse, Oid, SnmpValue,
    Tr069Param, VarBind,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A recording, answering as the device did.
pub struct RecordedDevice {
    exchanges: Mutex<Vec<Option<Exchange>>>,
    varbinds: BTreeMap<Oid, SnmpValue>,
    parameters: Vec<Tr069Param>,
}

impl RecordedDevice {
    /// The device of `recording`.
    pub fn new(recording: &Recording) -> Self {
        let mut varbinds = BTreeMap::new();
        let mut parameters: Vec<Tr069Param> = Vec::new();
        for ex in &recording.exchanges {
            match &ex.response {
                Ok(IoReply::Snmp(vbs)) => {
                    for vb in vbs {
                        if !matches!(
                            vb.value,
                            SnmpValue::NoSuchObject
                                | SnmpValue::NoSuchInstance
                                | SnmpValue::EndOfMibView
                        ) {
                            varbinds.insert(vb.oid.clone(), vb.value.clone());
                        }
                    }
                }
                Ok(IoReply::Tr069(params)) => {
                    for p in params {
                        if !parameters.iter().any(|q| q.path == p.path) {
                            parameters.push(p.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        RecordedDevice {
            exchanges: Mutex::new(recording.exchanges.iter().cloned().map(Some).collect()),
            varbinds,
            parameters,
        }
    }

    /// The answer to `request`.
    pub fn answer(&self, request: &IoRequest) -> IoResponse {
        let mut exchanges = self.exchanges.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = exchanges.iter_mut().find(|e| {
            e.as_ref()
                .is_some_and(|e| same_request(request, &e.request))
        }) {
            return slot.take().map(|e| e.response).unwrap_or_else(not_recorded);
        }
        drop(exchanges);
        match request {
            IoRequest::SnmpGet { oids } if !self.varbinds.is_empty() => Ok(IoReply::Snmp(
                oids.iter()
                    .map(|o| VarBind {
                        oid: o.clone(),
                        value: self
                            .varbinds
                            .get(o)
                            .cloned()
                            .unwrap_or(SnmpValue::NoSuchObject),
                    })
                    .collect(),
            )),
            IoRequest::SnmpWalk { root, .. } if !self.varbinds.is_empty() => Ok(IoReply::Snmp(
                self.varbinds
                    .iter()
                    .filter(|(o, _)| o.is_below(root))
                    .map(|(o, v)| VarBind {
                        oid: o.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            )),
            IoRequest::Tr069 { parameter_paths } if !self.parameters.is_empty() => {
                Ok(IoReply::Tr069(
                    self.parameters
                        .iter()
                        .filter(|p| {
                            parameter_paths
                                .iter()
                                .any(|asked| tr069_path_matches(asked, &p.path))
                        })
                        .cloned()
                        .collect(),
                ))
            }
            _ => not_recorded(),
        }
    }
}

fn not_recorded() -> IoResponse {
    Err(IoError::new(
        IoErrorKind::Other,
        "not in the recording (the recorded poll did not ask this)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use efi_plugin_api::oid;

    fn recording() -> Recording {
        Recording {
            target: efi_plugin_api::Target::new("127.0.0.1".parse().unwrap()),
            exchanges: vec![Exchange {
                request: IoRequest::SnmpGet {
                    oids: vec![oid("1.3.6.1.2.1.1.5.0"), oid("1.3.6.1.2.1.1.6.0")],
                },
                response: Ok(IoReply::Snmp(vec![
                    VarBind {
                        oid: oid("1.3.6.1.2.1.1.5.0"),
                        value: SnmpValue::OctetString(b"cpe".to_vec()),
                    },
                    VarBind {
                        oid: oid("1.3.6.1.2.1.1.6.0"),
                        value: SnmpValue::NoSuchObject,
                    },
                ])),
            }],
        }
    }

    #[test]
    fn other_snmp_requests_are_answered_from_the_recorded_varbinds() {
        let device = RecordedDevice::new(&recording());
        let get = IoRequest::SnmpGet {
            oids: vec![oid("1.3.6.1.2.1.1.5.0"), oid("1.3.6.1.2.1.1.1.0")],
        };
        let Ok(IoReply::Snmp(vbs)) = device.answer(&get) else {
            panic!("an SNMP answer")
        };
        assert_eq!(vbs[0].value, SnmpValue::OctetString(b"cpe".to_vec()));
        assert_eq!(vbs[1].value, SnmpValue::NoSuchObject, "never recorded");
        let walk = IoRequest::SnmpWalk {
            root: oid("1.3.6.1.2.1.1"),
            max_repetitions: 0,
        };
        let Ok(IoReply::Snmp(vbs)) = device.answer(&walk) else {
            panic!("an SNMP answer")
        };
        assert_eq!(vbs.len(), 1, "the NoSuchObject is not a value: {vbs:?}");
        assert!(device
            .answer(&IoRequest::Icmp { count: 1 })
            .unwrap_err()
            .to_string()
            .contains("not in the recording"));
    }
}
