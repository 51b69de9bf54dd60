//! The TR-069 cache: what each CPE last told its ACS (Inform parameters, values the ACS
//! asked for), by the CPE's management address, answered to drivers' `Tr069` requests and
//! to identification. Bounded: old values expire, a CPE holds a limited number of
//! parameters, the cache a limited number of CPEs (the least recently heard goes first).

use super::cwmp::{DeviceId, Inform};
use efi_plugin_api::{tr069_path_matches, Tr069Param};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Limits of the cache.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Milliseconds a value is answered after it was heard.
    pub max_age_ms: u64,
    /// Most CPEs kept.
    pub max_cpes: usize,
    /// Most parameters kept per CPE (new paths beyond it are dropped and counted).
    pub max_params_per_cpe: usize,
}

impl From<&crate::config::Tr069Config> for Limits {
    fn from(config: &crate::config::Tr069Config) -> Limits {
        Limits {
            max_age_ms: config.max_age_secs.saturating_mul(1000),
            max_cpes: config.max_cpes,
            max_params_per_cpe: config.max_params_per_cpe,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Value {
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xsd_type: Option<String>,
    heard_ms: u64,
}

/// What the cache knows of one CPE (also its stored form: JSON in the store's
/// `tr069_cpes` table).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Cpe {
    #[serde(default)]
    device_id: Option<DeviceId>,
    #[serde(default)]
    last_inform_ms: Option<u64>,
    #[serde(default)]
    last_events: Vec<String>,
    heard_ms: u64,
    #[serde(default)]
    params: BTreeMap<String, Value>,
}

impl Cpe {
    /// When anything was last heard of it, ms since the Unix epoch.
    pub fn heard_unix_ms(&self) -> u64 {
        self.heard_ms
    }
}

/// A change of the cache to write to the store: a CPE's whole entry, or its removal.
#[derive(Debug, Clone)]
pub enum CpeWrite {
    /// The entry at this address now.
    Save(IpAddr, Box<Cpe>),
    /// Nothing is held at this address any more.
    Remove(IpAddr),
}

/// A CPE as the cache describes it (for logs, the API and tests).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CpeSummary {
    /// The management address.
    pub address: IpAddr,
    /// The DeviceId of its last Inform.
    pub device_id: Option<DeviceId>,
    /// GenieACS's ID for it.
    pub genieacs_id: Option<String>,
    /// Event codes of its last Inform.
    pub last_events: Vec<String>,
    /// When it last informed, ms since the Unix epoch.
    pub last_inform_unix_ms: Option<u64>,
    /// Parameters held.
    pub params: usize,
}

/// One parameter as the cache holds it (for the API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldParameter {
    /// Full path.
    pub path: String,
    /// Value as the CPE (or the ACS) gave it.
    pub value: String,
    /// xsd type, when known.
    pub xsd_type: Option<String>,
    /// When it was heard, ms since the Unix epoch.
    pub heard_unix_ms: u64,
    /// False once older than `max_age_secs`: held, but no longer answered to drivers.
    pub fresh: bool,
}

/// A CPE and every parameter held for it (for the API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CpeDetail {
    /// What [`Tr069Cache::summaries`] says of it.
    #[serde(flatten)]
    pub summary: CpeSummary,
    /// Its parameters, in path order.
    pub parameters: Vec<HeldParameter>,
}

fn summary(address: IpAddr, c: &Cpe) -> CpeSummary {
    CpeSummary {
        address,
        genieacs_id: c.device_id.as_ref().map(DeviceId::genieacs_id),
        device_id: c.device_id.clone(),
        last_events: c.last_events.clone(),
        last_inform_unix_ms: c.last_inform_ms,
        params: c.params.len(),
    }
}

/// Counters of what fed the cache, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Informs recorded.
    pub informs: AtomicU64,
    /// GetParameterValuesResponses recorded.
    pub value_sets: AtomicU64,
    /// CWMP bodies that could not be read (each logged with the CPE's address).
    pub unreadable: AtomicU64,
    /// Parameters dropped because a CPE was at its limit.
    pub dropped_params: AtomicU64,
    /// CPEs read from an ACS (GenieACS source pulls).
    pub acs_devices: AtomicU64,
    /// CPE connections proxied.
    pub connections: AtomicU64,
    /// CPE connections open now.
    pub open: AtomicU64,
    /// CPE connections that found the ACS unreachable (answered 502).
    pub upstream_failures: AtomicU64,
    /// Connections passed through unread (TLS, or not HTTP).
    pub passed_through: AtomicU64,
}

/// The CPEs by address, and where each DeviceId was last seen (so a CPE that moved is
/// found without a scan: a GenieACS pull records every CPE of the ACS at once).
#[derive(Debug, Default)]
struct Held {
    by_address: HashMap<IpAddr, Cpe>,
    by_device: HashMap<DeviceId, IpAddr>,
    /// Addresses changed since the store last took them (only while persistence is on).
    dirty: Option<std::collections::HashSet<IpAddr>>,
}

impl Held {
    fn touch(&mut self, address: IpAddr) {
        if let Some(d) = self.dirty.as_mut() {
            d.insert(address);
        }
    }
}

/// The cache, shared by the snooping proxy, the GenieACS reader and the engines.
#[derive(Debug)]
pub struct Tr069Cache {
    limits: Limits,
    cpes: Mutex<Held>,
    /// Counters.
    pub counters: Counters,
}

impl Tr069Cache {
    /// An empty cache.
    pub fn new(limits: Limits) -> Self {
        Tr069Cache {
            limits,
            cpes: Mutex::new(Held::default()),
            counters: Counters::default(),
        }
    }

    /// Records an Inform the CPE at `address` sent at `now_ms`. A device that moved to a new
    /// address leaves its old one (the old address may belong to another CPE now).
    pub fn record_inform(&self, address: IpAddr, inform: &Inform, now_ms: u64) {
        self.counters.informs.fetch_add(1, Ordering::Relaxed);
        let mut held = self.cpes.lock();
        self.record_locked(&mut held, address, inform, now_ms);
    }

    fn record_locked(&self, held: &mut Held, address: IpAddr, inform: &Inform, now_ms: u64) {
        // The same CPE seen at another address before: it left that one.
        if let Some(old) = held.by_device.get(&inform.device_id).copied() {
            if old != address {
                held.by_address.remove(&old);
                held.touch(old);
            }
        }
        held.touch(address);
        let max_params = self.limits.max_params_per_cpe;
        let cpe = self.entry(held, address, now_ms);
        let replaced = if cpe.device_id.as_ref() != Some(&inform.device_id) {
            // Another CPE behind this address than before: nothing it said still holds.
            cpe.params.clear();
            cpe.device_id.replace(inform.device_id.clone())
        } else {
            None
        };
        cpe.last_inform_ms = Some(now_ms);
        cpe.last_events = inform.events.clone();
        let dropped = insert(cpe, &inform.params, now_ms, max_params);
        if let Some(previous) = replaced {
            if held.by_device.get(&previous) == Some(&address) {
                held.by_device.remove(&previous);
            }
        }
        held.by_device.insert(inform.device_id.clone(), address);
        self.counters
            .dropped_params
            .fetch_add(dropped, Ordering::Relaxed);
    }

    /// Records a CPE as its ACS knows it (the GenieACS source), its values aged from its
    /// last Inform (`now_ms` when unknown). A device the snooping proxy has heard more
    /// recently keeps what the proxy heard.
    pub fn record_acs_device(&self, device: &efi_plugin_api::source::AcsDevice, now_ms: u64) {
        let Some(address) = device.address else {
            return;
        };
        self.counters.acs_devices.fetch_add(1, Ordering::Relaxed);
        let heard = device.last_inform_unix_ms.unwrap_or(now_ms).min(now_ms);
        let device_id = DeviceId {
            manufacturer: device.manufacturer.clone(),
            oui: device.oui.to_ascii_uppercase(),
            product_class: device.product_class.clone(),
            serial: device.serial.clone(),
        };
        let mut held = self.cpes.lock();
        if held
            .by_address
            .get(&address)
            .is_some_and(|c| c.device_id.as_ref() == Some(&device_id) && c.heard_ms > heard)
        {
            return;
        }
        let inform = Inform {
            device_id,
            params: device.params.clone(),
            ..Inform::default()
        };
        self.record_locked(&mut held, address, &inform, heard);
    }

    /// Records values the CPE at `address` gave its ACS (a GetParameterValuesResponse).
    pub fn record_values(&self, address: IpAddr, params: &[Tr069Param], now_ms: u64) {
        self.counters.value_sets.fetch_add(1, Ordering::Relaxed);
        let mut held = self.cpes.lock();
        held.touch(address);
        let cpe = self.entry(&mut held, address, now_ms);
        let dropped = insert(cpe, params, now_ms, self.limits.max_params_per_cpe);
        self.counters
            .dropped_params
            .fetch_add(dropped, Ordering::Relaxed);
    }

    fn entry<'a>(&self, held: &'a mut Held, address: IpAddr, now_ms: u64) -> &'a mut Cpe {
        if !held.by_address.contains_key(&address)
            && held.by_address.len() >= self.limits.max_cpes.max(1)
        {
            // Full: the least recently heard CPE goes (a scan, only when a new address
            // arrives at a full cache).
            if let Some((oldest, id)) = held
                .by_address
                .iter()
                .min_by_key(|(_, c)| c.heard_ms)
                .map(|(a, c)| (*a, c.device_id.clone()))
            {
                held.by_address.remove(&oldest);
                held.touch(oldest);
                if let Some(id) = id {
                    if held.by_device.get(&id) == Some(&oldest) {
                        held.by_device.remove(&id);
                    }
                }
            }
        }
        let cpe = held.by_address.entry(address).or_default();
        cpe.heard_ms = now_ms;
        cpe
    }

    /// The fresh values at `address` that `paths` ask for (full or partial paths), in path
    /// order; `None` when the cache has never heard of the address. The `DeviceInfo`
    /// parameters that mirror the DeviceId are answered from it when not held themselves.
    pub fn lookup(
        &self,
        address: IpAddr,
        paths: &[String],
        now_ms: u64,
    ) -> Option<Vec<Tr069Param>> {
        let held = self.cpes.lock();
        let cpe = held.by_address.get(&address)?;
        let fresh = |heard: u64| now_ms.saturating_sub(heard) <= self.limits.max_age_ms;
        let wanted = |path: &str| paths.iter().any(|a| tr069_path_matches(a, path));
        let mut out: Vec<Tr069Param> = cpe
            .params
            .iter()
            .filter(|(path, v)| fresh(v.heard_ms) && wanted(path))
            .map(|(path, v)| Tr069Param {
                path: path.clone(),
                value: v.value.clone(),
                xsd_type: v.xsd_type.clone(),
            })
            .collect();
        if let (Some(id), Some(heard)) = (&cpe.device_id, cpe.last_inform_ms) {
            if fresh(heard) {
                let root = cpe
                    .params
                    .keys()
                    .next()
                    .map(|p| p.split('.').next().unwrap_or(""));
                out.extend(
                    device_info_of(id, root)
                        .into_iter()
                        .filter(|p| wanted(&p.path) && !cpe.params.contains_key(&p.path)),
                );
                out.sort_by(|a, b| a.path.cmp(&b.path));
            }
        }
        Some(out)
    }

    /// Starts tracking changes for the store ([`Tr069Cache::take_writes`]).
    pub fn enable_persistence(&self) {
        let mut held = self.cpes.lock();
        if held.dirty.is_none() {
            held.dirty = Some(Default::default());
        }
    }

    /// What changed since the last call, to write to the store.
    pub fn take_writes(&self) -> Vec<CpeWrite> {
        let mut held = self.cpes.lock();
        let Some(dirty) = held.dirty.as_mut().map(std::mem::take) else {
            return Vec::new();
        };
        dirty
            .into_iter()
            .map(|a| match held.by_address.get(&a) {
                Some(c) => CpeWrite::Save(a, Box::new(c.clone())),
                None => CpeWrite::Remove(a),
            })
            .collect()
    }

    /// Puts back writes the store refused, unless newer changes superseded them.
    pub fn requeue(&self, writes: &[CpeWrite]) {
        let mut held = self.cpes.lock();
        for w in writes {
            let (CpeWrite::Save(a, _) | CpeWrite::Remove(a)) = w;
            held.touch(*a);
        }
    }

    /// Takes in a CPE from the store (written at start by the last run, or by another host
    /// of the cluster): kept unless the cache heard that address more recently, or it is
    /// older than `max_age_secs`. Not written back. True when it was taken.
    pub fn merge(&self, address: IpAddr, cpe: Cpe, now_ms: u64) -> bool {
        if now_ms.saturating_sub(cpe.heard_ms) > self.limits.max_age_ms {
            return false;
        }
        let mut held = self.cpes.lock();
        if held
            .by_address
            .get(&address)
            .is_some_and(|c| c.heard_ms >= cpe.heard_ms)
        {
            return false;
        }
        if let Some(id) = &cpe.device_id {
            if let Some(old) = held.by_device.get(id).copied().filter(|o| *o != address) {
                held.by_address.remove(&old);
            }
            held.by_device.insert(id.clone(), address);
        }
        let heard = cpe.heard_ms;
        let dirty = held.dirty.take();
        let entry = self.entry(&mut held, address, heard);
        *entry = cpe;
        held.dirty = dirty;
        true
    }

    /// The DeviceId last informed from `address`, while it is fresh.
    pub fn device_id(&self, address: IpAddr, now_ms: u64) -> Option<DeviceId> {
        let held = self.cpes.lock();
        let cpe = held.by_address.get(&address)?;
        let heard = cpe.last_inform_ms?;
        (now_ms.saturating_sub(heard) <= self.limits.max_age_ms)
            .then(|| cpe.device_id.clone())
            .flatten()
    }

    /// Every CPE known, by address.
    pub fn summaries(&self) -> Vec<CpeSummary> {
        let held = self.cpes.lock();
        let mut out: Vec<CpeSummary> = held
            .by_address
            .iter()
            .map(|(address, c)| summary(*address, c))
            .collect();
        out.sort_by_key(|s| s.address);
        out
    }

    /// Everything held for the CPE at `address`, stale values included and marked;
    /// `None` when the cache has never heard of it.
    pub fn detail(&self, address: IpAddr, now_ms: u64) -> Option<CpeDetail> {
        let held = self.cpes.lock();
        let c = held.by_address.get(&address)?;
        Some(CpeDetail {
            summary: summary(address, c),
            parameters: c
                .params
                .iter()
                .map(|(path, v)| HeldParameter {
                    path: path.clone(),
                    value: v.value.clone(),
                    xsd_type: v.xsd_type.clone(),
                    heard_unix_ms: v.heard_ms,
                    fresh: now_ms.saturating_sub(v.heard_ms) <= self.limits.max_age_ms,
                })
                .collect(),
        })
    }

    /// How long a value is answered after it was heard, in seconds.
    pub fn max_age_secs(&self) -> u64 {
        self.limits.max_age_ms / 1000
    }

    /// CPEs held.
    pub fn len(&self) -> usize {
        self.cpes.lock().by_address.len()
    }

    /// True when no CPE is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `efi_tr069_*` families.
    pub fn encode_metrics(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        use crate::metrics::{counter, gauge};
        let c = &self.counters;
        gauge(
            encoder,
            "efi_tr069_cpes",
            "CPEs in the TR-069 cache (snooped or read from the ACS).",
            self.len() as f64,
        )?;
        gauge(
            encoder,
            "efi_tr069_proxy_open_connections",
            "CPE connections open through the snooping proxy (at most tr069.max_connections).",
            c.open.load(Ordering::Relaxed) as f64,
        )?;
        for (name, help, value) in [
            ("efi_tr069_informs", "Informs recorded.", &c.informs),
            (
                "efi_tr069_parameter_value_sets",
                "GetParameterValuesResponses recorded.",
                &c.value_sets,
            ),
            (
                "efi_tr069_acs_devices_read",
                "CPEs read from the ACS (GenieACS source pulls).",
                &c.acs_devices,
            ),
            (
                "efi_tr069_unreadable_messages",
                "CWMP bodies that could not be read (logged with the CPE's address).",
                &c.unreadable,
            ),
            (
                "efi_tr069_dropped_parameters",
                "Parameters not cached because the CPE held the most allowed.",
                &c.dropped_params,
            ),
            (
                "efi_tr069_proxy_connections",
                "CPE connections through the snooping proxy.",
                &c.connections,
            ),
            (
                "efi_tr069_proxy_upstream_failures",
                "CPE connections that found the ACS unreachable (answered 502).",
                &c.upstream_failures,
            ),
            (
                "efi_tr069_proxy_passed_through",
                "CPE connections forwarded unread (TLS, or not HTTP).",
                &c.passed_through,
            ),
        ] {
            counter(encoder, name, help, value.load(Ordering::Relaxed))?;
        }
        Ok(())
    }
}

/// The `DeviceInfo` parameters that mirror the DeviceId (`Manufacturer`, `ManufacturerOUI`,
/// `ProductClass`, `SerialNumber`: the same values by the data models' definition) under
/// the root the CPE uses (`Device.` when its parameters start so, else
/// `InternetGatewayDevice.`): an ACS's document or an Inform may carry the DeviceId alone.
fn device_info_of(id: &DeviceId, root: Option<&str>) -> Vec<Tr069Param> {
    let root = match root {
        Some("Device") => "Device",
        _ => "InternetGatewayDevice",
    };
    [
        ("Manufacturer", &id.manufacturer),
        ("ManufacturerOUI", &id.oui),
        ("ProductClass", &id.product_class),
        ("SerialNumber", &id.serial),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(name, value)| Tr069Param {
        path: format!("{root}.DeviceInfo.{name}"),
        value: value.clone(),
        xsd_type: Some("xsd:string".into()),
    })
    .collect()
}

/// Stores values; returns how many new paths did not fit.
fn insert(cpe: &mut Cpe, params: &[Tr069Param], now_ms: u64, max: usize) -> u64 {
    let mut dropped = 0;
    for p in params {
        if !cpe.params.contains_key(&p.path) && cpe.params.len() >= max {
            dropped += 1;
            continue;
        }
        cpe.params.insert(
            p.path.clone(),
            Value {
                value: p.value.clone(),
                xsd_type: p.xsd_type.clone(),
                heard_ms: now_ms,
            },
        );
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_age_ms: 1000,
            max_cpes: 2,
            max_params_per_cpe: 3,
        }
    }

    fn param(path: &str, value: &str) -> Tr069Param {
        Tr069Param {
            path: path.into(),
            value: value.into(),
            xsd_type: None,
        }
    }

    fn inform(serial: &str, params: Vec<Tr069Param>) -> Inform {
        Inform {
            device_id: DeviceId {
                oui: "48BF74".into(),
                serial: serial.into(),
                ..DeviceId::default()
            },
            events: vec!["2 PERIODIC".into()],
            params,
            ..Inform::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lookups_take_full_and_partial_paths_and_skip_stale_values() {
        let cache = Tr069Cache::new(limits());
        let a = ip("10.0.0.1");
        cache.record_inform(
            a,
            &inform("1", vec![param("X.A.B", "1"), param("X.C", "2")]),
            0,
        );
        cache.record_values(a, &[param("X.A.D", "3")], 500);
        let got = |paths: &[&str], now| {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            cache
                .lookup(a, &paths, now)
                .map(|v| v.into_iter().map(|p| p.path).collect::<Vec<_>>())
        };
        assert_eq!(got(&["X.A."], 900).unwrap(), ["X.A.B", "X.A.D"]);
        assert_eq!(got(&["X.C", "X.Z"], 900).unwrap(), ["X.C"]);
        assert_eq!(
            got(&["X."], 1400).unwrap(),
            ["X.A.D"],
            "the Inform's values are stale"
        );
        assert_eq!(got(&["X."], 9000).unwrap(), Vec::<String>::new());
        assert_eq!(cache.lookup(ip("10.0.0.2"), &["X.".into()], 0), None);
        assert_eq!(cache.device_id(a, 900).unwrap().serial, "1");
        assert_eq!(
            cache.device_id(a, 1001),
            None,
            "a stale identity is not used"
        );
    }

    #[test]
    fn the_detail_holds_stale_values_marked_as_such() {
        let cache = Tr069Cache::new(limits());
        let a = ip("10.0.0.1");
        cache.record_inform(a, &inform("1", vec![param("X.A", "1")]), 0);
        cache.record_values(a, &[param("X.B", "2")], 800);
        let d = cache.detail(a, 1500).unwrap();
        assert_eq!(d.summary.address, a);
        assert_eq!(d.summary.params, 2);
        let got: Vec<(&str, &str, u64, bool)> = d
            .parameters
            .iter()
            .map(|p| (p.path.as_str(), p.value.as_str(), p.heard_unix_ms, p.fresh))
            .collect();
        assert_eq!(got, [("X.A", "1", 0, false), ("X.B", "2", 800, true)]);
        assert_eq!(cache.detail(ip("10.0.0.2"), 0), None);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json["address"], "10.0.0.1",
            "the summary's fields at the top"
        );
        assert_eq!(json["parameters"][1]["fresh"], true);
    }

    #[test]
    fn a_cpe_that_moves_leaves_its_old_address_and_a_new_cpe_starts_clean() {
        let cache = Tr069Cache::new(limits());
        cache.record_inform(ip("10.0.0.1"), &inform("1", vec![param("P", "a")]), 0);
        cache.record_inform(ip("10.0.0.2"), &inform("1", vec![param("Q", "b")]), 1);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.lookup(ip("10.0.0.1"), &["P".into()], 1), None);
        // Another CPE informs from the address: the first one's values are gone.
        cache.record_inform(ip("10.0.0.2"), &inform("2", vec![param("R", "c")]), 2);
        let all = cache
            .lookup(ip("10.0.0.2"), &["P".into(), "Q".into(), "R".into()], 2)
            .unwrap();
        assert_eq!(all, vec![param("R", "c")]);
    }

    #[test]
    fn the_device_id_is_answered_as_its_device_info_parameters() {
        let cache = Tr069Cache::new(limits());
        let mut i = inform(
            "S1",
            vec![param("Device.DeviceInfo.SerialNumber", "as sent")],
        );
        i.device_id.product_class = "CPE12300".into();
        cache.record_inform(ip("10.0.0.1"), &i, 0);
        let got = cache
            .lookup(ip("10.0.0.1"), &["Device.DeviceInfo.".into()], 0)
            .unwrap();
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|p| (p.path.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Device.DeviceInfo.ManufacturerOUI", "48BF74"),
                ("Device.DeviceInfo.ProductClass", "CPE12300"),
                ("Device.DeviceInfo.SerialNumber", "as sent"),
            ],
            "under the root the CPE uses; what it sent wins; empty fields are not invented"
        );
    }

    #[test]
    fn the_cache_is_bounded_in_cpes_and_parameters() {
        let cache = Tr069Cache::new(limits());
        let many: Vec<Tr069Param> = (0..5).map(|i| param(&format!("P{i}"), "v")).collect();
        cache.record_inform(ip("10.0.0.1"), &inform("1", many), 0);
        assert_eq!(cache.summaries()[0].params, 3);
        assert_eq!(cache.counters.dropped_params.load(Ordering::Relaxed), 2);
        cache.record_inform(ip("10.0.0.2"), &inform("2", vec![]), 1);
        cache.record_inform(ip("10.0.0.3"), &inform("3", vec![]), 2);
        let held: Vec<IpAddr> = cache.summaries().iter().map(|s| s.address).collect();
        assert_eq!(
            held,
            [ip("10.0.0.2"), ip("10.0.0.3")],
            "the least recently heard went"
        );
        let page =
            crate::metrics::render_part(std::sync::Arc::new(cache), Tr069Cache::encode_metrics);
        assert!(page.contains("efi_tr069_cpes 2"), "{page}");
    }
}
