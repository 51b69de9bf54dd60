//! Device identification: build a fingerprint from what the device answers, let every
//! driver score it, and pick the best.

use crate::engines::Engines;
use crate::loader::{LoadedPlugin, Registry};
use crate::runner::Runner;
use efi_plugin_api::{oid, Confidence, Fingerprint, IoReply, IoRequest, Target};
use std::sync::Arc;

/// What identifies the device: sysDescr and sysObjectID over SNMP, and the TR-069 DeviceId
/// (manufacturer, OUI, product class) when the TR-069 cache knows the CPE (its Informs
/// through this host's proxy, or the GenieACS source).
/// A device that answers neither gets an empty fingerprint.
pub async fn fingerprint(engines: &Engines, target: &Target) -> Fingerprint {
    let request = IoRequest::SnmpGet {
        oids: vec![oid("1.3.6.1.2.1.1.1.0"), oid("1.3.6.1.2.1.1.2.0")],
    };
    let mut fp = Fingerprint::default();
    if let Some(id) = engines
        .tr069()
        .device_id(target.address, efi_plugin_api::now_unix_ms())
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
    fp
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
