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
pub async fn fingerprint(engines: &Engines, target: &Target) -> (Fingerprint, Heard) {
    let request = IoRequest::SnmpGet {
        oids: vec![oid("1.3.6.1.2.1.1.1.0"), oid("1.3.6.1.2.1.1.2.0")],
    };
    let mut fp = Fingerprint {
        imei: target.known.imei.clone(),
        mac: target.known.mac.clone(),
        ..Fingerprint::default()
    };
    let mut heard = Heard::default();
    if let Some(id) = engines
        .tr069()
        .device_id(target.address, crate::clock::now_unix_ms() as u64)
    {
        fp.tr069_manufacturer = Some(id.manufacturer).filter(|m| !m.is_empty());
        fp.tr069_oui = Some(id.oui);
        fp.tr069_product_class = Some(id.product_class).filter(|p| !p.is_empty());
    }
    match engines.execute(target, &request).await {
        Ok(IoReply::Snmp(vbs)) => {
            let mut it = vbs.into_iter();
            fp.sys_descr = it.next().and_then(|vb| vb.value.as_text());
            fp.sys_object_id = it.next().and_then(|vb| vb.value.as_text());
        }
        Ok(_) => {}
        Err(e) => heard.snmp_error = Some(e.message),
    }
    if fp.sys_descr.is_none() && fp.sys_object_id.is_none() && fp.tr069_oui.is_none() {
        let authority = std::net::SocketAddr::new(target.address, target.web_port);
        let mut front = HttpRequest::get(format!("http://{authority}/"));
        front.timeout_ms = Some(WEB_TIMEOUT_MS);
        match engines.execute(target, &IoRequest::Http(front)).await {
            Ok(IoReply::Http(page)) => {
                fp.http_title = page_title(&page.text()).or_else(|| {
                    page.header("www-authenticate")
                        .and_then(basic_realm)
                        .map(str::to_owned)
                });
                heard.web = Some(format!(
                    "port {} (web UI) answered {}",
                    target.web_port, page.status
                ));
            }
            Ok(_) => {}
            Err(e) => {
                let what = match e.kind {
                    efi_plugin_api::IoErrorKind::Refused => "refused the connection".to_owned(),
                    efi_plugin_api::IoErrorKind::Timeout => "did not answer".to_owned(),
                    _ => e.message,
                };
                heard.web = Some(format!("port {} (web UI): {what}", target.web_port));
            }
        }
    }
    (fp, heard)
}

/// What identification heard besides the fingerprint: why a device that gave nothing to
/// identify it by gave nothing.
#[derive(Debug, Clone, Default)]
pub struct Heard {
    /// The SNMP request's error (no answer with any identity, a refusal...).
    pub snmp_error: Option<String>,
    /// What the web UI said, when it was asked.
    pub web: Option<String>,
}

impl Heard {
    /// One sentence on why no driver recognised a device that gave `fp`.
    pub fn why_unrecognised(&self, fp: &Fingerprint) -> String {
        if fp.sys_object_id.is_some() || fp.sys_descr.is_some() {
            return format!(
                "it answered SNMP (sysObjectID {}, sysDescr {:?}), but no installed driver claims it; `efi-poller plugins list` shows the drivers and their models",
                fp.sys_object_id.as_deref().unwrap_or("none"),
                fp.sys_descr.as_deref().unwrap_or("")
            );
        }
        let mut parts = Vec::new();
        if let Some(e) = &self.snmp_error {
            parts.push(e.clone());
        }
        if let Some(oui) = &fp.tr069_oui {
            parts.push(format!(
                "its TR-069 DeviceId (OUI {oui}) is claimed by no driver"
            ));
        } else {
            parts.push("no TR-069 data (it has not informed through this host)".into());
        }
        match (&fp.http_title, &self.web) {
            (Some(title), _) => parts.push(format!(
                "its web UI's title {title:?} is claimed by no driver"
            )),
            (None, Some(web)) => parts.push(web.clone()),
            (None, None) => {}
        }
        parts.join("; ")
    }
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
