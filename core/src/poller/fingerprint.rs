//! Device identification: build a fingerprint from what the device answers, let every
//! driver score it, and pick the best.

use crate::engines::Engines;
use crate::host::runner::Runner;
use crate::loader::{LoadedPlugin, Registry};
use efi_plugin_api::{oid, Confidence, Fingerprint, HttpRequest, IoReply, IoRequest, Target};
use std::sync::Arc;

/// How long identification waits for a device's web UI.
const WEB_TIMEOUT_MS: u32 = 3000;

/// What identifies the device: sysDescr and sysObjectID over SNMP, the TR-069 DeviceId
/// (manufacturer, OUI, product class) when the TR-069 cache knows the CPE (its Informs
/// through this host's proxy, or the GenieACS source), the IMEI and MAC the EPC reported
/// with its session (TAC and OUI), and, only when neither SNMP nor TR-069 said anything,
/// the title of the web UI's front page at the target's `web_port` (or the realm of its
/// HTTP Basic challenge). A device that answers none of them gets a fingerprint of what
/// the EPC knows.
pub async fn fingerprint(engines: &Engines, target: &Target) -> Fingerprint {
    let request = IoRequest::SnmpGet {
        oids: vec![oid("1.3.6.1.2.1.1.1.0"), oid("1.3.6.1.2.1.1.2.0")],
    };
    let mut fp = Fingerprint {
        imei: target.known.imei.clone(),
        mac: target.known.mac.clone(),
        ..Fingerprint::default()
    };
    if let Some(id) = engines
        .tr069()
        .device_id(target.address, crate::clock::now_unix_ms() as u64)
    {
        fp.tr069_manufacturer = Some(id.manufacturer).filter(|m| !m.is_empty());
        fp.tr069_oui = Some(id.oui);
        fp.tr069_product_class = Some(id.product_class).filter(|p| !p.is_empty());
    }
    if let Ok(IoReply::Snmp(vbs)) = engines.execute(target, &request).await {
        let mut it = vbs.into_iter();
        fp.sys_descr = it.next().and_then(|vb| vb.value.as_text());
        fp.sys_object_id = it.next().and_then(|vb| vb.value.as_text());
    }
    if fp.sys_descr.is_none() && fp.sys_object_id.is_none() && fp.tr069_oui.is_none() {
        let authority = std::net::SocketAddr::new(target.address, target.web_port);
        let mut front = HttpRequest::get(format!("http://{authority}/"));
        front.timeout_ms = Some(WEB_TIMEOUT_MS);
        if let Ok(IoReply::Http(page)) = engines.execute(target, &IoRequest::Http(front)).await {
            fp.http_title = page_title(&page.text()).or_else(|| {
                page.header("www-authenticate")
                    .and_then(basic_realm)
                    .map(str::to_owned)
            });
        }
    }
    fp
}

/// The text of an HTML page's `<title>`, trimmed; `None` when there is none or it is empty.
pub fn page_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = html[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!title.is_empty()).then_some(title)
}

/// The realm of a `WWW-Authenticate: Basic realm="..."` challenge.
pub fn basic_realm(challenge: &str) -> Option<&str> {
    let lower = challenge.to_ascii_lowercase();
    let at = lower.find("realm=")? + "realm=".len();
    let rest = &challenge[at..];
    let realm = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split([',', ' ']).next()?,
    };
    (!realm.trim().is_empty()).then_some(realm.trim())
}

/// The driver with the highest non-zero score, ties broken by name. Drivers that fail to
/// score are skipped (and their failure counted by the runner).
pub async fn choose_driver(
    runner: &Runner,
    registry: &Registry,
    fingerprint: &Fingerprint,
) -> Option<(Arc<LoadedPlugin>, Confidence)> {
    let mut best: Option<(Arc<LoadedPlugin>, Confidence)> = None;
    for plugin in registry.active_drivers() {
        match runner.identify(&plugin, fingerprint).await {
            Ok(score) if score > 0 && best.as_ref().is_none_or(|(_, b)| score > *b) => {
                best = Some((plugin, score));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("identification skipped a driver: {e}"),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_title_is_found_in_any_case_and_trimmed() {
        assert_eq!(
            page_title("<html><HEAD><Title id=t>\n BEC RidgeWave 7000\n  Outdoor </TITLE>"),
            Some("BEC RidgeWave 7000 Outdoor".into())
        );
        assert_eq!(page_title("<html><title> </title>"), None);
        assert_eq!(page_title("<html><title>cut short"), None);
        assert_eq!(page_title("no html at all"), None);
    }

    #[test]
    fn the_realm_of_a_basic_challenge() {
        assert_eq!(
            basic_realm(r#"Basic realm="RidgeWave 7000", charset="UTF-8""#),
            Some("RidgeWave 7000")
        );
        assert_eq!(basic_realm("Basic REALM=cpe"), Some("cpe"));
        assert_eq!(basic_realm("Bearer"), None);
        assert_eq!(basic_realm(r#"Basic realm="unterminated"#), None);
    }
}
