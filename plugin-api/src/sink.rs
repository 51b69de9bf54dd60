//! What sinks (Sonar) read and write: a neutral snapshot of the managed state, change sets
//! and per-change reports. Field names are canonical (`imei`, `mac`, `imsi`, `serial`); the
//! sink maps them to its own (Sonar model fields discovered by name).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Canonical field name of an IMEI.
pub const FIELD_IMEI: &str = "imei";
/// Canonical field name of a MAC address.
pub const FIELD_MAC: &str = "mac";
/// Canonical field name of an IMSI.
pub const FIELD_IMSI: &str = "imsi";
/// Canonical field name of a serial number.
pub const FIELD_SERIAL: &str = "serial";

/// The sink's current view of what this tool manages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkSnapshot {
    /// IP assignments inside the managed subnets (soft and hard: hard ones are never touched
    /// but an address they hold is not free).
    pub assignments: Vec<Assignment>,
    /// Inventory items of the managed models.
    pub items: Vec<InventoryItem>,
    /// Accounts (for subscriber-name matching).
    pub accounts: Vec<Account>,
}

/// An IP assignment as the sink stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The sink's ID (64-bit IDs travel as strings).
    pub id: String,
    /// The address.
    pub ip: IpAddr,
    /// Soft (managed by a tool) or hard (set by a person).
    pub soft: bool,
    /// What holds it, in the sink's terms (`InventoryItem`, `InventoryModelFieldData`, ...).
    pub holder_kind: String,
    /// The holder's ID.
    pub holder_id: String,
    /// The inventory item the holder belongs to (the item itself, or the item of a field
    /// value), when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
}

/// An inventory item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InventoryItem {
    /// The sink's ID.
    pub id: String,
    /// Model name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Identifier values by canonical field name.
    pub fields: BTreeMap<String, String>,
    /// The address it is deployed at, when it is assigned to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_id: Option<String>,
}

/// An account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    /// The sink's ID.
    pub id: String,
    /// Account name.
    pub name: String,
    /// Its addresses, serviceable first.
    pub address_ids: Vec<String>,
    /// Archived accounts are never linked to.
    pub archived: bool,
}

/// An inventory item that exists, or one a change of the same set creates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemRef {
    /// An existing item, by the sink's ID.
    Existing(String),
    /// The item created by the change with this ID.
    Created(String),
}

/// A planned set of changes, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeSet {
    /// Stable ID of the plan.
    pub plan_id: String,
    /// The changes, in the order they must be applied.
    pub changes: Vec<Change>,
}

/// One change, with an ID that stays the same across retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Idempotency key.
    pub id: String,
    /// What to do.
    pub action: ChangeAction,
}

/// The kinds of change a sink applies.
///
/// Externally tagged on purpose: internally tagged enums buffer their content, which loses
/// the binary (non-human-readable) form of addresses and OIDs across the plugin boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeAction {
    /// Delete a soft assignment this tool owns.
    DeleteAssignment {
        /// The assignment's ID.
        assignment_id: String,
        /// Its address (for reports).
        ip: IpAddr,
    },
    /// Create an inventory item with identifying fields.
    CreateItem {
        /// Model name; the sink's default model for unknown CPEs when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Field values by canonical name.
        fields: BTreeMap<String, String>,
    },
    /// Set identifying field values of an item.
    UpdateItemFields {
        /// The item.
        item: ItemRef,
        /// The item's model (its field IDs are per model); the sink's default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// New values by canonical name.
        fields: BTreeMap<String, String>,
    },
    /// Create a soft assignment of `ip` on an item.
    CreateAssignment {
        /// Address.
        ip: IpAddr,
        /// The item that holds it.
        item: ItemRef,
    },
    /// Deploy an item at an account's address.
    AssignItem {
        /// The item.
        item: ItemRef,
        /// The address.
        address_id: String,
        /// The account (for reports).
        account_id: String,
    },
}

/// The outcome of applying a change set, one result per change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplyReport {
    /// Per change, in any order.
    pub results: Vec<ChangeResult>,
}

/// The outcome of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeResult {
    /// The change's idempotency key.
    pub change_id: String,
    /// Applied (with the ID the sink gave, when it created something) or failed.
    pub outcome: ChangeOutcome,
}

/// Applied or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// Done.
    Applied {
        /// The sink's ID of what was created.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote_id: Option<String>,
    },
    /// Not done.
    Failed {
        /// Why.
        error: String,
        /// Whether retrying later may succeed.
        retryable: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{decode, encode};

    #[test]
    fn change_sets_cross_the_boundary_intact() {
        let set = ChangeSet {
            plan_id: "p".into(),
            changes: vec![
                Change {
                    id: "d".into(),
                    action: ChangeAction::DeleteAssignment {
                        assignment_id: "1".into(),
                        ip: "10.45.0.1".parse().unwrap(),
                    },
                },
                Change {
                    id: "c".into(),
                    action: ChangeAction::CreateAssignment {
                        ip: "2001:db8::1".parse().unwrap(),
                        item: ItemRef::Created("x".into()),
                    },
                },
            ],
        };
        let back: ChangeSet = decode(&encode(&set), "change set").unwrap();
        assert_eq!(back, set);
        let report = ApplyReport {
            results: vec![ChangeResult {
                change_id: "d".into(),
                outcome: ChangeOutcome::Failed {
                    error: "x".into(),
                    retryable: true,
                },
            }],
        };
        let back: ApplyReport = decode(&encode(&report), "report").unwrap();
        assert_eq!(back, report);
    }
}
