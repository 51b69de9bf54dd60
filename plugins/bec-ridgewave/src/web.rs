//! The RidgeWave's web UI (devices.md section 5): HTTP Basic auth, and the device-info page
//! `/cgi-bin/status_deviceinfo.asp`, an HTML table of label cells each followed by its
//! value ("MAC Address" then the MAC). The reference has no LTE status page, so the web
//! gives what SNMP and TR-069 do not: the MAC of a unit with neither (and its firmware,
//! when the page shows a "Firmware Version" row).
//!
//! The page is parsed as HTML (scraper, so broken markup still reads), every row's cells
//! as label/value pairs; labels are matched without regard to case, spaces or a trailing
//! `:`. A MAC that is not one is a named problem, not a silent gap.

use efi_plugin_api::normalise::mac_text;
use efi_plugin_api::prelude::*;
use efi_plugin_api::HttpRequest;
use std::collections::BTreeMap;

/// The device-info page.
pub const DEVICE_INFO: &str = "/cgi-bin/status_deviceinfo.asp";

/// `[drivers.bec-ridgewave]`: how the driver reaches the units' web UI.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BecSettings {
    /// Credential set (`[credentials.<name>]`, username + password) for the UI's HTTP
    /// Basic login; the units ship admin/admin, which ISPs often change. Unset: the page
    /// is asked for without credentials (and a unit that wants them answers 401).
    pub web_credentials: Option<String>,
    /// Port of the UI; unset: the target's `web_port` (`[poller] web_port`, 80).
    pub web_port: Option<u16>,
    /// HTTPS instead of HTTP (the units also serve 443 with a self-signed certificate).
    pub web_https: bool,
}

/// The request for the device-info page of `target`.
pub fn request(target: &Target, settings: &BecSettings) -> IoRequest {
    let (scheme, tls) = if settings.web_https {
        ("https", efi_plugin_api::TlsPolicy::AcceptInvalid)
    } else {
        ("http", efi_plugin_api::TlsPolicy::Verify)
    };
    // SocketAddr writes an IPv6 address in brackets, as a URL needs.
    let authority =
        std::net::SocketAddr::new(target.address, settings.web_port.unwrap_or(target.web_port));
    let mut r = HttpRequest::get(format!("{scheme}://{authority}{DEVICE_INFO}"));
    r.tls = tls;
    r.credentials = settings.web_credentials.clone();
    IoRequest::Http(r)
}

/// What the device-info page gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `MAC Address`, normalised.
    pub mac: Option<String>,
    /// `Firmware Version`, when the page has the row.
    pub firmware: Option<String>,
}

/// Reads the page's answer; the error names the page and what was wrong.
pub fn read(response: IoResponse) -> Result<DeviceInfo, String> {
    let page = match response {
        Ok(IoReply::Http(r)) if r.status == 200 => r.text(),
        Ok(IoReply::Http(r)) if r.status == 401 => {
            return Err(format!(
                "{DEVICE_INFO}: HTTP 401 (set [drivers.bec-ridgewave] web_credentials to a credential set the unit accepts)"
            ))
        }
        Ok(IoReply::Http(r)) => return Err(format!("{DEVICE_INFO}: HTTP {}", r.status)),
        Ok(_) => return Err(format!("{DEVICE_INFO}: not an HTTP answer")),
        Err(e) => return Err(format!("{DEVICE_INFO}: {e}")),
    };
    let rows = rows(&page);
    let get = |label: &str| rows.get(&key(label)).cloned().filter(|v| !v.is_empty());
    let raw_mac = get("MAC Address");
    let info = DeviceInfo {
        mac: raw_mac.as_deref().and_then(mac_text),
        firmware: get("Firmware Version"),
    };
    match (&raw_mac, &info.mac) {
        (None, _) if info.firmware.is_none() => Err(format!(
            "{DEVICE_INFO}: no \"MAC Address\" row (not the device-info page?)"
        )),
        (Some(raw), None) => Err(format!(
            "{DEVICE_INFO}: \"MAC Address\" is {raw:?}, not a MAC"
        )),
        _ => Ok(info),
    }
}

/// Every table row's label cell → the next cell's text, by [`key`] of the label.
pub fn rows(html: &str) -> BTreeMap<String, String> {
    let doc = scraper::Html::parse_document(html);
    let tr = scraper::Selector::parse("tr").expect("a valid selector");
    let cell = scraper::Selector::parse("td, th").expect("a valid selector");
    let mut out = BTreeMap::new();
    for row in doc.select(&tr) {
        let cells: Vec<String> = row
            .select(&cell)
            .map(|c| c.text().collect::<Vec<_>>().join(" "))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for pair in cells.windows(2) {
            out.entry(key(&pair[0])).or_insert_with(|| pair[1].clone());
        }
    }
    out
}

/// A label as compared: lower case, no spaces, no trailing `:`.
fn key(label: &str) -> String {
    label
        .trim()
        .trim_end_matches(':')
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use efi_plugin_api::HttpResponse;

    fn answer(status: u16, body: &str) -> IoResponse {
        Ok(IoReply::Http(HttpResponse {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }))
    }

    #[test]
    fn labels_are_matched_loosely_and_broken_markup_still_reads() {
        let page = "<table><tr><td>Firmware Version :</td><td> 2.1.4 </td>\
                    <tr><TD class=x>MAC&nbsp;Address</TD><td>60-03-47-00-00-01";
        let info = read(answer(200, page)).unwrap();
        assert_eq!(info.mac.as_deref(), Some("60:03:47:00:00:01"));
        assert_eq!(info.firmware.as_deref(), Some("2.1.4"));
    }

    #[test]
    fn a_page_without_the_row_or_with_a_bad_mac_is_a_named_error() {
        let e = read(answer(200, "<html><body>Login</body></html>")).unwrap_err();
        assert!(e.contains("no \"MAC Address\" row"), "{e}");
        let e = read(answer(
            200,
            "<table><tr><td>MAC Address</td><td>unknown</td></tr></table>",
        ))
        .unwrap_err();
        assert!(e.contains("\"unknown\", not a MAC"), "{e}");
        let e = read(answer(401, "")).unwrap_err();
        assert!(e.contains("web_credentials"), "{e}");
        let e = read(answer(500, "")).unwrap_err();
        assert!(e.contains("HTTP 500"), "{e}");
    }
}
