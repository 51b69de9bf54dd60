//! telrad-cpe: the driver for Telrad CPE12000SG LTE CPEs (a Gemtek WLTGG-122 inside).
//!
//! Reads the 1.3.6.1.4.1.17713.20.2.1 tree over SNMP (shared/reference/devices.md 2.3):
//! per-antenna RSRP, RSRQ and SINR walked and averaged over the antennas that report, rates
//! as `"4.320 kbps"` strings, uptime as text (`"8 days 14 hours 45 minutes"`), the local
//! cell ID and the eNB ID given apart.
//!
//! A CPE12300 (SG/HG/XG) answers the same sysDescr but none of that tree; its data is in the
//! CGI XML pages of its HTTPS UI on port 8080 (devices.md section 5, self-signed certificate,
//! every request `?Command=<cmd>&T=<timestamp>`), so the driver reads those instead — see
//! [`web`].
//!
//! Both models also report to their ACS, and the same step asks the host's TR-069 cache for
//! their trees ([`tr069`]): what SNMP or the web pages leave out is filled from it (SNMP and
//! the pages are live, the cache up to `max_age_secs` old), and a CPE with no SNMP (or
//! SNMP switched off) is still polled from the cache. A CPE12300 without SNMP is recognised
//! by its cached tree and its web pages read all the same.

use efi_plugin_api::normalise::{
    average_nonzero as average, digits, eci_from_parts, mac_text, number, rate_bps as kbps_to_bps,
    text, uptime_text,
};
use efi_plugin_api::prelude::*;
use efi_plugin_api::{now_unix_ms, Metric};
use std::collections::BTreeMap;

pub mod tr069;
pub mod web;

/// The CPE tree.
const BASE: &str = "1.3.6.1.4.1.17713.20.2.1";
const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

fn node(path: &[u32]) -> Oid {
    let mut o = oid(BASE);
    for a in path {
        o = o.child(*a);
    }
    o
}

/// Scalars read with one GET: (path under the base, with the `.0`).
const SCALARS: [&[u32]; 15] = [
    &[2, 2, 0],  // connection time
    &[2, 11, 0], // Tx rate
    &[2, 14, 0], // Rx rate
    &[2, 17, 0], // local cell ID
    &[2, 18, 0], // PCI
    &[2, 25, 0], // Tx power
    &[2, 30, 0], // eNB ID
    &[2, 48, 0], // ECI
    &[3, 13, 0], // MAC
    &[4, 1, 0],  // identity string (absent on a CPE12300)
    &[4, 2, 0],  // model
    &[4, 5, 0],  // serial
    &[4, 6, 0],  // firmware
    &[4, 11, 0], // IMEI
    &[4, 13, 0], // IMSI
];
const UPTIME_TEXT: &[u32] = &[5, 18, 0];

/// The plugin.
pub struct TelradPlugin;

impl Plugin for TelradPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "telrad-cpe".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Telrad CPE12000SG over SNMP (17713.20 tree), CPE12300 over its HTTPS CGI pages"
                    .into(),
            kinds: vec![PluginKind::Driver],
            models: vec![
                "Telrad CPE12000SG".into(),
                "Telrad CPE12300SG".into(),
                "Telrad CPE12300HG".into(),
                "Telrad CPE12300XG".into(),
            ],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(TelradPlugin)
    }

    fn new_driver(&self, config: &PluginConfig) -> Result<Box<dyn Driver>, PluginError> {
        Ok(Box::new(TelradDriver {
            settings: config.parse()?,
        }))
    }
}

/// `[drivers.telrad-cpe]`: how the driver reaches a CPE12300's web UI.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelradSettings {
    /// HTTPS port of the CPE12300 UI (8080 on the units seen; TR-069 `HTTPSPort`).
    pub web_port: u16,
    /// Plain HTTP instead of HTTPS (labs only).
    pub web_plain_http: bool,
    /// Credential set for the UI, when the operator's units ask for HTTP Basic
    /// (the units seen answered without a login).
    pub web_credentials: Option<String>,
}

impl Default for TelradSettings {
    fn default() -> Self {
        TelradSettings {
            web_port: 8080,
            web_plain_http: false,
            web_credentials: None,
        }
    }
}

/// The driver.
#[derive(Default)]
pub struct TelradDriver {
    /// Settings from `[drivers.telrad-cpe]`.
    pub settings: TelradSettings,
}

/// True for the `Linux <name> <version>ucN` sysDescr of Telrad's Gemtek- and Asiatelco-made
/// CPEs (both the 12000 and the 12300 answer it; the 17713.20 tree tells them apart).
pub fn telrad_descr(descr: &str) -> bool {
    let d = descr.to_lowercase();
    let Some(rest) = d.strip_prefix("linux") else {
        return false;
    };
    let Some(pos) = rest.rfind("uc") else {
        return false;
    };
    rest[pos + 2..].starts_with(|c: char| c.is_ascii_digit())
        && rest[..pos].ends_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
}

impl Driver for TelradDriver {
    fn identify(&self, fp: &Fingerprint) -> Confidence {
        let mut score = 0;
        if fp.tr069_oui_is("20107A") || fp.tr069_product_class.as_deref() == Some("CPE12000SG") {
            score = score.max(95);
        }
        if fp.tr069_oui_is("34BA9A")
            || fp
                .tr069_product_class
                .as_deref()
                .is_some_and(|p| p.starts_with("CPE12300"))
        {
            score = score.max(95);
        }
        if fp.imei_tac_in(&["35749810", "86630103"]) {
            score = score.max(70);
        }
        if fp.mac_oui_is("80:02:9c") || fp.mac_oui_is("34:ba:9a") || fp.mac_oui_is("ec:e7:8e") {
            score = score.max(60);
        }
        if fp.sys_descr.as_deref().is_some_and(telrad_descr) {
            // Shared with the CPE12300: a fair guess, confirmed (or refused) by collect.
            score = score.max(40);
        }
        score
    }

    fn collect(&self, target: &Target) -> BoxTask<DeviceRecord> {
        Box::new(Collect {
            target: target.clone(),
            settings: self.settings.clone(),
            web: None,
            cached: None,
        })
    }
}

struct Collect {
    target: Target,
    settings: TelradSettings,
    /// Set once the CPE turned out to be a CPE12300: the web phase.
    web: Option<web::WebPhase>,
    /// The TR-069 cache's record, held for the web phase to fill its gaps from.
    cached: Option<DeviceRecord>,
}

impl Task for Collect {
    type Output = DeviceRecord;

    fn start(&mut self) -> Step<DeviceRecord> {
        let mut oids: Vec<Oid> = SCALARS.iter().map(|p| node(p)).collect();
        oids.push(node(UPTIME_TEXT));
        oids.push(oid(SYS_DESCR));
        oids.push(oid(SYS_NAME));
        let walk = |p: &[u32]| IoRequest::SnmpWalk {
            root: node(p),
            max_repetitions: 0,
        };
        Step::Requests(vec![
            IoRequest::SnmpGet { oids },
            walk(&[2, 6]),  // RSRP per antenna
            walk(&[2, 8]),  // RSRQ per antenna
            walk(&[2, 32]), // SINR per antenna
            tr069::request(),
        ])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<DeviceRecord> {
        if let Some(web) = self.web.take() {
            return web.finish(responses, self.cached.take());
        }
        let mut it = responses.into_iter();
        let scalars = it.next();
        let walked: Vec<Option<IoResponse>> = (0..3).map(|_| it.next()).collect();
        let cached = match it.next() {
            Some(Ok(IoReply::Tr069(params))) => tr069::record(&params)
                .ok_or_else(|| "TR-069: the cache holds none of the Telrad's parameters".into()),
            Some(Ok(_)) => Err("TR-069: not a TR-069 answer".to_owned()),
            Some(Err(e)) => Err(format!("TR-069: {e}")),
            None => Err("TR-069: no answer".to_owned()),
        };
        let values: BTreeMap<Oid, SnmpValue> = match scalars {
            Some(Ok(IoReply::Snmp(vbs))) => vbs.into_iter().map(|v| (v.oid, v.value)).collect(),
            other => {
                let snmp = match other {
                    Some(Err(e)) => format!("Telrad scalars: {e}"),
                    _ => "Telrad scalars: no SNMP answer".to_owned(),
                };
                return match cached {
                    Ok(r)
                        if r.model
                            .as_deref()
                            .is_some_and(|m| m.starts_with("CPE12300")) =>
                    {
                        // The pages are live and have more than the cache: read them too.
                        self.web_phase(None, None, Some(r))
                    }
                    Ok(r) => Step::Done(r),
                    Err(tr069) => Step::Failed(PluginError::io(format!("{snmp}; {tr069}"))),
                };
            }
        };
        let get = |p: &[u32]| values.get(&node(p)).and_then(text);
        if get(&[4, 1, 0]).is_none() {
            // No 17713.20.2.1.4.1.0: a CPE12300, read from its web pages.
            return self.web_phase(
                values.get(&oid(SYS_DESCR)).and_then(text),
                values.get(&oid(SYS_NAME)).and_then(text),
                cached.ok(),
            );
        }
        let mut walks = Vec::new();
        for walk in walked {
            walks.push(match walk {
                Some(Ok(IoReply::Snmp(vbs))) => vbs
                    .iter()
                    .filter_map(|v| text(&v.value))
                    .filter_map(|t| number(&t))
                    .collect(),
                _ => Vec::new(),
            });
        }
        let mut r = DeviceRecord {
            vendor: Some("Telrad".into()),
            model: get(&[4, 2, 0]).map(|m| {
                if m.contains("12000") {
                    "CPE12000SG".to_owned()
                } else {
                    m
                }
            }),
            firmware: get(&[4, 6, 0]),
            description: values.get(&oid(SYS_DESCR)).and_then(text),
            hostname: values.get(&oid(SYS_NAME)).and_then(text),
            ..DeviceRecord::default()
        };
        r.identity.serial = get(&[4, 5, 0]);
        r.identity.imei = digits(get(&[4, 11, 0]), 14);
        r.identity.imsi = digits(get(&[4, 13, 0]), 6);
        r.identity.mac = get(&[3, 13, 0]).and_then(|m| mac_text(&m));
        r.rsrp_dbm = average(&walks[0]);
        r.rsrq_db = average(&walks[1]);
        r.sinr_db = average(&walks[2]);
        push_antenna_rsrp(&mut r, &walks[0]);
        r.tx_rate_bps = get(&[2, 11, 0]).and_then(|t| kbps_to_bps(&t));
        r.rx_rate_bps = get(&[2, 14, 0]).and_then(|t| kbps_to_bps(&t));
        r.pci = get(&[2, 18, 0])
            .and_then(|t| number(&t))
            .and_then(|n| u16::try_from(n as i64).ok());
        let local_cell = get(&[2, 17, 0]).and_then(|t| number(&t)).map(|n| n as u32);
        let enb = get(&[2, 30, 0]).and_then(|t| number(&t)).map(|n| n as u32);
        let eci = get(&[2, 48, 0])
            .and_then(|t| number(&t))
            .map(|n| n as u32)
            .or_else(|| eci_from_parts(enb?, local_cell?));
        r.set_cell(eci, enb, local_cell);
        if let Some(p) = get(&[2, 25, 0]).and_then(|t| number(&t)) {
            r.metrics.push(Metric {
                name: "tx_power_dbm".into(),
                labels: Vec::new(),
                value: p,
            });
        }
        r.uptime_s = get(UPTIME_TEXT).and_then(|t| uptime_text(&t));
        r.last_boot_unix_s = r.uptime_s.map(|u| (now_unix_ms() / 1000) as i64 - u as i64);
        r.connected = Some(r.rsrp_dbm.is_some());
        if let Ok(cached) = cached {
            r.fill_gaps(cached);
            r.connected = Some(r.rsrp_dbm.is_some());
        }
        Step::Done(r)
    }
}

impl Collect {
    /// Moves to the CPE12300's web pages, keeping what SNMP and the cache gave.
    fn web_phase(
        &mut self,
        description: Option<String>,
        hostname: Option<String>,
        cached: Option<DeviceRecord>,
    ) -> Step<DeviceRecord> {
        let phase = web::WebPhase::new(&self.target, &self.settings, description, hostname);
        let requests = phase.requests();
        self.web = Some(phase);
        self.cached = cached;
        Step::Requests(requests)
    }
}

/// One `antenna_rsrp_dbm` metric per antenna that reports (0 means unused), labelled by its
/// position in `rsrp`; shared by the SNMP, web and TR-069 ways in.
pub(crate) fn push_antenna_rsrp(r: &mut DeviceRecord, rsrp: &[f64]) {
    for (antenna, v) in rsrp.iter().enumerate() {
        if *v != 0.0 {
            r.metrics.push(Metric {
                name: "antenna_rsrp_dbm".into(),
                labels: vec![("antenna".into(), antenna.to_string())],
                value: *v,
            });
        }
    }
}

efi_plugin_api::export_plugin!(TelradPlugin);
