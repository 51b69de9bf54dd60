//! The CPE12300 (SG/HG/XG) over its HTTPS CGI XML pages (devices.md section 5).
//!
//! Four GETs in one step, each `?Command=<cmd>&T=<ms>`:
//!
//! | CGI | Command | elements used |
//! |---|---|---|
//! | `cusltestatus.cgi` | `Status` | SerialNumber, BandWidth, IMSI, IMEI, Cell_ID, PCI, SINR, RSSI, ULMCS, DLMCS |
//! | `cusltestatus.cgi` | `Thr` | RXRate, TXRate, MaxRXRate, MaxTXRate |
//! | `cusradioinfo.cgi` | `getRadioInfo` | RSRP, RSRQ (per antenna, comma-separated, 0 = unused), EARFCN, BandWidth |
//! | `cuslan.cgi` | `GetLanStatus` | mac |
//!
//! Elements are found by name anywhere in the document (root names vary by firmware). A page
//! that fails or is not XML, and a value that makes no sense, cost only their own fields: the
//! record keeps the rest and one warning names the device, the page and the fields. Only
//! when no page answers does the poll fail.
//!
//! Normalisation: `Cell_ID` is read as an ECI (7 hex characters on this model, per its TR-069
//! `ECI`; an all-digit value as decimal), so eNB = ECI >> 8 and cell = ECI & 0xFF; bandwidth
//! `20MHz`; rates as kbps when they carry no unit (the unit of these pages is not documented;
//! the Telrad 12000 prints kbps); antennas reporting 0 are unused.

use crate::TelradSettings;
use efi_plugin_api::normalise::{
    average_nonzero, bandwidth_mhz, digits, eci, mac_text, number, rate_bps,
};
use efi_plugin_api::prelude::*;
use efi_plugin_api::{now_unix_ms, HttpRequest, Metric, TlsPolicy};
use std::collections::BTreeMap;

/// The pages, in request order: (CGI path, command).
pub const PAGES: [(&str, &str); 4] = [
    ("/cgi-bin/cusltestatus.cgi", "Status"),
    ("/cgi-bin/cusltestatus.cgi", "Thr"),
    ("/cgi-bin/cusradioinfo.cgi", "getRadioInfo"),
    ("/cgi-bin/cuslan.cgi", "GetLanStatus"),
];

/// The web step of a CPE12300 poll.
pub struct WebPhase {
    base: String,
    address: String,
    credentials: Option<String>,
    plain_http: bool,
    description: Option<String>,
    hostname: Option<String>,
}

impl WebPhase {
    /// The phase for `target`, keeping what SNMP already gave.
    pub fn new(
        target: &Target,
        settings: &TelradSettings,
        description: Option<String>,
        hostname: Option<String>,
    ) -> Self {
        // SocketAddr writes an IPv6 address in brackets, as a URL needs.
        let authority = std::net::SocketAddr::new(target.address, settings.web_port);
        let scheme = if settings.web_plain_http {
            "http"
        } else {
            "https"
        };
        WebPhase {
            base: format!("{scheme}://{authority}"),
            address: target.address.to_string(),
            credentials: settings.web_credentials.clone(),
            plain_http: settings.web_plain_http,
            description,
            hostname,
        }
    }

    /// The four page requests.
    pub fn requests(&self) -> Vec<IoRequest> {
        let t = now_unix_ms();
        PAGES
            .iter()
            .map(|(cgi, command)| {
                let mut r = HttpRequest::get(format!("{}{cgi}?Command={command}&T={t}", self.base));
                // The units ship a self-signed certificate.
                if !self.plain_http {
                    r.tls = TlsPolicy::AcceptInvalid;
                }
                r.credentials = self.credentials.clone();
                IoRequest::Http(r)
            })
            .collect()
    }

    /// The record from the pages' answers, its gaps filled from the TR-069 cache's record
    /// when there is one (which is also the answer when no page can be read).
    pub fn finish(
        self,
        responses: Vec<IoResponse>,
        cached: Option<DeviceRecord>,
    ) -> Step<DeviceRecord> {
        let mut problems = Vec::new();
        let mut pages: Vec<BTreeMap<String, String>> = Vec::new();
        for ((cgi, command), response) in
            PAGES
                .iter()
                .zip(responses.into_iter().chain(std::iter::repeat_with(|| {
                    Err(efi_plugin_api::IoError::new(
                        efi_plugin_api::IoErrorKind::Other,
                        "no answer",
                    ))
                })))
        {
            let page = format!("{cgi}?Command={command}");
            match response {
                Ok(IoReply::Http(r)) if r.status == 200 => match elements(&r.text()) {
                    Ok(e) => pages.push(e),
                    Err(e) => {
                        problems.push(format!("{page}: not XML ({e})"));
                        pages.push(BTreeMap::new());
                    }
                },
                Ok(IoReply::Http(r)) => {
                    problems.push(format!("{page}: HTTP {}", r.status));
                    pages.push(BTreeMap::new());
                }
                Ok(_) => {
                    problems.push(format!("{page}: not an HTTP answer"));
                    pages.push(BTreeMap::new());
                }
                Err(e) => {
                    problems.push(format!("{page}: {e}"));
                    pages.push(BTreeMap::new());
                }
            }
        }
        if pages.iter().all(BTreeMap::is_empty) {
            if let Some(mut r) = cached {
                // Not a failure of the poll: the cache answered, as it does on every poll
                // of a CPE12300 whose web UI is closed (a debug line, not one per poll in
                // the journal); the record's fields say where they came from.
                efi_plugin_api::tracing::debug!(
                    device = %self.address,
                    "CPE12300 web pages unreadable, record from the TR-069 cache: {}",
                    problems.join("; ")
                );
                r.description = r.description.or(self.description);
                r.hostname = r.hostname.or(self.hostname);
                return Step::Done(r);
            }
            return Step::Failed(PluginError::io(format!(
                "CPE12300 at {}: no web page could be read: {}",
                self.address,
                problems.join("; ")
            )));
        }
        let [status, thr, radio, lan] = [&pages[0], &pages[1], &pages[2], &pages[3]];
        let mut bad = Vec::new();
        // A present value that does not parse is a named problem, not a silent gap.
        let mut field =
            |page: &BTreeMap<String, String>, name: &str, parse: &dyn Fn(&str) -> Option<f64>| {
                let raw = page.get(name)?;
                let v = parse(raw);
                if v.is_none() && !raw.trim().is_empty() {
                    bad.push(format!("{name}={raw:?}"));
                }
                v
            };
        let mut r = DeviceRecord {
            vendor: Some("Telrad".into()),
            model: Some("CPE12300".into()),
            description: self.description,
            hostname: self.hostname,
            ..DeviceRecord::default()
        };
        r.identity.serial = status
            .get("SerialNumber")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        r.identity.imsi = digits(status.get("IMSI").cloned(), 6);
        r.identity.imei = digits(status.get("IMEI").cloned(), 14);
        r.identity.mac = lan.get("mac").and_then(|m| mac_text(m));
        r.bandwidth_mhz = field(status, "BandWidth", &bandwidth_mhz)
            .or_else(|| field(radio, "BandWidth", &bandwidth_mhz));
        let cell = field(status, "Cell_ID", &|s| eci(s).map(f64::from)).map(|e| e as u32);
        r.set_cell(cell, None, None);
        r.pci = field(status, "PCI", &number).and_then(|n| u16::try_from(n as i64).ok());
        r.sinr_db = field(status, "SINR", &number);
        r.rssi_dbm = field(status, "RSSI", &number);
        r.tx_mcs = field(status, "ULMCS", &number).and_then(|n| u8::try_from(n as i64).ok());
        r.rx_mcs = field(status, "DLMCS", &number).and_then(|n| u8::try_from(n as i64).ok());
        r.rx_rate_bps = field(thr, "RXRate", &rate_bps);
        r.tx_rate_bps = field(thr, "TXRate", &rate_bps);
        for (name, metric) in [
            ("MaxRXRate", "max_rx_rate_bps"),
            ("MaxTXRate", "max_tx_rate_bps"),
        ] {
            if let Some(v) = field(thr, name, &rate_bps) {
                r.metrics.push(Metric {
                    name: metric.into(),
                    labels: Vec::new(),
                    value: v,
                });
            }
        }
        let per_antenna = |name: &str, bad: &mut Vec<String>| -> Vec<f64> {
            let Some(raw) = radio.get(name) else {
                return Vec::new();
            };
            let values: Vec<Option<f64>> = raw.split(',').map(|v| number(v.trim())).collect();
            if values.iter().any(Option::is_none) {
                bad.push(format!("{name}={raw:?}"));
            }
            values.into_iter().flatten().collect()
        };
        let rsrp = per_antenna("RSRP", &mut bad);
        let rsrq = per_antenna("RSRQ", &mut bad);
        r.rsrp_dbm = average_nonzero(&rsrp);
        r.rsrq_db = average_nonzero(&rsrq);
        crate::push_antenna_rsrp(&mut r, &rsrp);
        r.earfcn = radio
            .get("EARFCN")
            .and_then(|s| number(s))
            .map(|n| n as u32);
        r.connected = Some(r.rsrp_dbm.is_some());
        if let Some(cached) = cached {
            // "CPE12300" from the pages; the cache's ModelName says SG, HG or XG.
            if cached.model.is_some() {
                r.model = None;
            }
            r.fill_gaps(cached);
            r.connected = Some(r.rsrp_dbm.is_some());
        }
        if !bad.is_empty() {
            problems.push(format!("values that make no sense: {}", bad.join(", ")));
        }
        if !problems.is_empty() {
            efi_plugin_api::tracing::warn!(
                device = %self.address,
                "CPE12300 record is partial: {}",
                problems.join("; ")
            );
        }
        Step::Done(r)
    }
}

/// Every element with text content, by name (the first of each name wins).
pub fn elements(xml: &str) -> Result<BTreeMap<String, String>, String> {
    let doc = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}'))
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        if node.children().any(|c| c.is_element()) {
            continue;
        }
        let text = node.text().unwrap_or_default().trim().to_owned();
        out.entry(node.tag_name().name().to_owned()).or_insert(text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_found_under_any_root_and_garbage_is_an_error() {
        let e = elements("<?xml version=\"1.0\"?><a><b>1</b><c><d> x </d></c></a>").unwrap();
        assert_eq!(e.get("b").map(String::as_str), Some("1"));
        assert_eq!(e.get("d").map(String::as_str), Some("x"));
        assert!(elements("\u{0}<<garbage").is_err());
    }
}
