//! Device identification: build a fingerprint from what the device answers, let every
//! driver score it, and pick the best.

use crate::engines::Engines;
use crate::loader::{LoadedPlugin, Registry};
use crate::runner::Runner;
use efi_plugin_api::{oid, Confidence, Fingerprint, IoReply, IoRequest, Target};
use std::sync::Arc;

/// Reads sysDescr and sysObjectID. A device that does not answer SNMP gets an empty
/// fingerprint (other methods join in with the drivers that need them).
pub async fn snmp_fingerprint(engines: &Engines, target: &Target) -> Fingerprint {
    let request = IoRequest::SnmpGet {
        oids: vec![oid("1.3.6.1.2.1.1.1.0"), oid("1.3.6.1.2.1.1.2.0")],
    };
    let mut fp = Fingerprint::default();
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
