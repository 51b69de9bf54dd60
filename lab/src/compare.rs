//! Sonar against the EPC, address by address: each session's address must be held by one
//! soft assignment, on its own CPE's item, and Sonar must hold no other (the soak's and the
//! demo's verdict).

use crate::raemis::RaemisSim;
use crate::sonar::SonarSim;
use std::collections::BTreeMap;

/// Sonar's soft assignments of addresses starting with `prefix` as IP → the IMEIs of the
/// items holding them (one per assignment: two would be an assignment made twice).
pub fn sonar_truth(sonar: &SonarSim, prefix: &str) -> BTreeMap<String, Vec<String>> {
    // The IMEI fields of every model, by ID.
    let imei_fields: Vec<String> = sonar
        .entities("InventoryModelField")
        .into_iter()
        .filter(|f| {
            f["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("imei"))
        })
        .map(|f| f["id"].to_string())
        .collect();
    let imei_of: BTreeMap<String, String> = sonar
        .entities("InventoryModelFieldData")
        .into_iter()
        .filter(|d| imei_fields.contains(&d["inventory_model_field_id"].to_string()))
        .filter_map(|d| {
            Some((
                d["inventory_item_id"].to_string(),
                d["value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in sonar.entities("IpAssignment") {
        if a["soft"] != true {
            continue;
        }
        let Some(subnet) = a["subnet"].as_str() else {
            continue;
        };
        let ip = subnet.split('/').next().unwrap_or(subnet);
        if !ip.starts_with(prefix) {
            continue;
        }
        let item = a["ipassignmentable_id"].to_string();
        out.entry(ip.to_owned()).or_default().push(
            imei_of
                .get(&item)
                .cloned()
                .unwrap_or_else(|| format!("item {item}")),
        );
    }
    out
}

/// The EPC's sessions as IP → IMEI.
pub fn epc_truth(
    raemis: &RaemisSim,
    imei_of_imsi: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    raemis
        .sessions()
        .into_iter()
        .map(|s| {
            let imei = imei_of_imsi.get(&s.imsi).cloned().unwrap_or_default();
            (s.ip, imei)
        })
        .collect()
}

/// What differs between the EPC and Sonar, one line per address.
pub fn differences(
    epc: &BTreeMap<String, String>,
    sonar: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (ip, imei) in epc {
        match sonar.get(ip).map(Vec::as_slice) {
            None => out.push(format!("{ip}: in the EPC ({imei}), not in Sonar")),
            Some([one]) if one == imei => {}
            Some(many) => out.push(format!("{ip}: EPC {imei}, Sonar {many:?}")),
        }
    }
    for (ip, items) in sonar {
        if !epc.contains_key(ip) {
            out.push(format!("{ip}: in Sonar ({items:?}), not in the EPC"));
        }
    }
    out
}
