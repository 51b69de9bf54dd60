//! Identity resolution: which inventory item a UE is, by strong keys in order of trust
//! (IMEI > MAC > serial > IMSI), through hash indexes (O(n), never pairwise).

use efi_plugin_api::sink::{InventoryItem, FIELD_IMEI, FIELD_IMSI, FIELD_MAC, FIELD_SERIAL};
use efi_plugin_api::Identity;
use std::collections::HashMap;

/// The identifier kinds, strongest first.
pub const KEYS: [&str; 4] = [FIELD_IMEI, FIELD_MAC, FIELD_SERIAL, FIELD_IMSI];

/// Canonical form of an identifier value, or `None` when it is not a usable one.
pub fn canonical(kind: &str, value: &str) -> Option<String> {
    let v = value.trim();
    match kind {
        FIELD_IMEI => {
            let d: String = v.chars().filter(char::is_ascii_digit).collect();
            (d.len() == 14 || d.len() == 15).then_some(d)
        }
        FIELD_IMSI => {
            let ok = (6..=15).contains(&v.len()) && v.chars().all(|c| c.is_ascii_digit());
            ok.then(|| v.to_owned())
        }
        FIELD_MAC => {
            let hex: String = v
                .chars()
                .filter(char::is_ascii_hexdigit)
                .collect::<String>()
                .to_lowercase();
            if hex.len() != 12 || hex == "000000000000" {
                return None;
            }
            Some(
                hex.as_bytes()
                    .chunks(2)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join(":"),
            )
        }
        _ => (!v.is_empty()).then(|| v.to_uppercase()),
    }
}

/// The identifiers of a UE as (kind, canonical value), strongest first.
pub fn keys_of(identity: &Identity) -> Vec<(&'static str, String)> {
    let pairs = [
        (FIELD_IMEI, &identity.imei),
        (FIELD_MAC, &identity.mac),
        (FIELD_SERIAL, &identity.serial),
        (FIELD_IMSI, &identity.imsi),
    ];
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k, canonical(k, v.as_deref()?)?)))
        .collect()
}

/// Items indexed by every identifier they carry.
pub struct ItemIndex<'a> {
    by_key: HashMap<(&'static str, String), &'a InventoryItem>,
}

impl<'a> ItemIndex<'a> {
    /// Indexes items. When two items share a value, the first (lowest position) wins.
    pub fn new(items: &'a [InventoryItem]) -> Self {
        let mut by_key = HashMap::with_capacity(items.len() * 2);
        for item in items {
            for kind in KEYS {
                if let Some(v) = item.fields.get(kind).and_then(|v| canonical(kind, v)) {
                    by_key.entry((kind, v)).or_insert(item);
                }
            }
        }
        ItemIndex { by_key }
    }

    /// The item of a UE, by its strongest identifier that matches one.
    pub fn find(&self, keys: &[(&'static str, String)]) -> Option<&'a InventoryItem> {
        keys.iter()
            .find_map(|(k, v)| self.by_key.get(&(*k, v.clone())).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn item(id: &str, fields: &[(&str, &str)]) -> InventoryItem {
        InventoryItem {
            id: id.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..InventoryItem::default()
        }
    }

    #[test]
    fn strongest_key_wins() {
        let items = vec![
            item("1", &[("imsi", "001010000000001")]),
            item(
                "2",
                &[("imei", "350000000000001"), ("imsi", "001010000000009")],
            ),
            item("3", &[("mac", "02-EF-1A-00-00-01")]),
        ];
        let idx = ItemIndex::new(&items);
        let ue = Identity {
            imei: Some("350000000000001\r".into()),
            imsi: Some("001010000000001".into()),
            ..Identity::default()
        };
        assert_eq!(idx.find(&keys_of(&ue)).unwrap().id, "2", "IMEI beats IMSI");
        let ue = Identity {
            mac: Some("02:ef:1a:00:00:01".into()),
            ..Identity::default()
        };
        assert_eq!(
            idx.find(&keys_of(&ue)).unwrap().id,
            "3",
            "MAC forms compare equal"
        );
        assert!(idx.find(&keys_of(&Identity::default())).is_none());
    }

    #[test]
    fn junk_identifiers_are_not_keys() {
        assert_eq!(canonical(FIELD_IMEI, "123"), None);
        assert_eq!(canonical(FIELD_MAC, "00:00:00:00:00:00"), None);
        assert_eq!(canonical(FIELD_IMSI, "00101x"), None);
        assert_eq!(
            canonical(FIELD_IMSI, "001010000000001").as_deref(),
            Some("001010000000001")
        );
    }
}
