//! What sinks (Sonar) read and write: snapshots, change sets and apply reports, and the
//! monitoring work of a poller role.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The sink's current view of what this tool manages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkSnapshot {
    /// IP assignments inside the managed subnets.
    pub assignments: Vec<Assignment>,
    /// Inventory items of the managed models.
    pub items: Vec<InventoryItem>,
    /// Accounts (for name matching).
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
    /// The inventory item holding it, when it hangs on an item.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
}

/// An inventory item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// The sink's ID.
    pub id: String,
    /// Model name.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Field values by field name (IMEI, MAC, IMSI...).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The account it is assigned to, when any.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The sink's ID.
    pub id: String,
    /// Account name.
    pub name: String,
}

/// A planned set of changes, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeSet {
    /// Stable ID of the plan (for idempotent retries).
    pub plan_id: String,
    /// The changes.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeAction {
    /// Create a soft assignment of `ip` on an item.
    CreateAssignment {
        /// Address.
        ip: IpAddr,
        /// Item that holds it.
        item_id: String,
    },
    /// Delete an assignment this tool owns.
    DeleteAssignment {
        /// The assignment's ID.
        assignment_id: String,
    },
    /// Create an inventory item.
    CreateItem {
        /// Model name.
        model: String,
        /// Field values by name.
        fields: BTreeMap<String, String>,
    },
    /// Update field values of an item.
    UpdateItemFields {
        /// The item.
        item_id: String,
        /// New values by field name.
        fields: BTreeMap<String, String>,
    },
    /// Assign an item to an account.
    AssignItemToAccount {
        /// The item.
        item_id: String,
        /// The account.
        account_id: String,
    },
}

/// The outcome of applying a change set, one result per change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplyReport {
    /// Per change.
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
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// Done.
    Applied {
        /// The sink's ID of what was created.
        #[serde(default)]
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
