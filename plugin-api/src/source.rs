//! What sources (EPCs, ACSs) report: sessions of UEs, by pull or by push.

use crate::record::Identity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One UE's data session as the EPC sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// IMSI, IMEI (and MAC/serial when an ACS knows them).
    pub identity: Identity,
    /// MSISDN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msisdn: Option<String>,
    /// Subscriber name as the EPC stores it (matched to Sonar account names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriber_name: Option<String>,
    /// The UE's IP address on this session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// APN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apn: Option<String>,
    /// True while attached.
    pub connected: bool,
    /// When the session started, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_unix_s: Option<i64>,
    /// Extra source-specific facts (cell, TAC...), by name.
    pub extra: BTreeMap<String, String>,
}

/// The answer of one pull: every session the source knows right now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionBatch {
    /// The sessions.
    pub sessions: Vec<Session>,
    /// True when this is the complete truth (a full pull), so absent UEs are detached.
    /// An incomplete batch never causes deletions.
    pub complete: bool,
    /// CPEs as an ACS knows them (GenieACS): the host reads them into its TR-069 cache,
    /// beside what its snooping proxy hears.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acs_devices: Vec<AcsDevice>,
}

/// A CPE as an ACS knows it: the address it is managed at, its TR-069 DeviceId and the
/// parameters the ACS holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcsDevice {
    /// The CPE's management address (on LTE, the UE's address).
    pub address: Option<IpAddr>,
    /// DeviceId `Manufacturer`.
    pub manufacturer: String,
    /// DeviceId `OUI`.
    pub oui: String,
    /// DeviceId `ProductClass`.
    pub product_class: String,
    /// DeviceId `SerialNumber`.
    pub serial: String,
    /// When the CPE last informed the ACS, ms since the Unix epoch: the cache ages its
    /// values from then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_inform_unix_ms: Option<u64>,
    /// Its parameters, full paths.
    pub params: Vec<crate::io::Tr069Param>,
}

/// A webhook call received by the host on a source's path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushRequest {
    /// `POST`, ...
    pub method: String,
    /// Path below the source's mount point.
    pub path: String,
    /// Query string, without `?`.
    pub query: String,
    /// Headers (lower-case names). Authentication is checked by the host before this point.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// The sender's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
}

/// What happened to a UE, parsed from a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionEventKind {
    /// The UE attached or got an address.
    Attach,
    /// The UE detached or lost its address.
    Detach,
    /// Something about the session changed.
    Update,
}

/// One event from a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// Attach, detach or update.
    pub kind: SessionEventKind,
    /// The session it concerns (for a detach, at least the identity and IP when known).
    pub session: Session,
    /// When it happened at the source, seconds since the Unix epoch (orders late events).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_unix_s: Option<i64>,
    /// The same instant in microseconds, when the source is that precise (events within one
    /// second are then ordered too).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_unix_us: Option<i64>,
}
