//! Scenario files: what a simulated Sonar instance holds when it starts (TOML or JSON).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The seed of a simulated Sonar. IDs are chosen by the scenario so tests can refer to them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Bearer tokens the GraphQL API accepts.
    pub tokens: Vec<String>,
    /// Requests per minute per token before the limit answer (Sonar documents 400).
    pub rate_limit_per_minute: Option<u32>,
    /// The limit's window in milliseconds (default 60,000).
    pub rate_limit_window_ms: Option<u64>,
    /// Count the limit over a rolling window (every request of the last window counts)
    /// instead of a fixed one that starts at a token's first request and restarts when it
    /// ends. Sonar documents only "400 per minute"; rolling is the stricter reading.
    pub rate_limit_rolling: bool,
    /// Accounts with their addresses.
    pub accounts: Vec<AccountSeed>,
    /// Inventory models with their fields.
    pub inventory_models: Vec<ModelSeed>,
    /// IPAM subnets.
    pub subnets: Vec<SubnetSeed>,
    /// Existing inventory items.
    pub inventory_items: Vec<ItemSeed>,
    /// Existing IP assignments.
    pub ip_assignments: Vec<AssignmentSeed>,
    /// The poller role: API key and monitoring work.
    pub poller: Option<PollerSeed>,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSeed {
    /// Account ID.
    pub id: i64,
    /// Account name (what EPC subscriber names are matched against).
    pub name: String,
    /// Archived accounts are left alone by the arbiter.
    #[serde(default)]
    pub archived: bool,
    /// Its addresses (the first is the serviceable one).
    #[serde(default)]
    pub addresses: Vec<AddressSeed>,
}

/// An address of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSeed {
    /// Address ID.
    pub id: i64,
    /// Street line.
    pub line1: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// ZIP code.
    #[serde(default)]
    pub zip: String,
    /// Whether service can be delivered there (default true).
    #[serde(default = "yes")]
    pub serviceable: bool,
}

fn yes() -> bool {
    true
}

/// An inventory model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSeed {
    /// Model ID.
    pub id: i64,
    /// Model name, e.g. `RidgeWave 6900`.
    pub name: String,
    /// Manufacturer ID.
    #[serde(default = "one")]
    pub manufacturer_id: i64,
    /// Fields.
    #[serde(default)]
    pub fields: Vec<FieldSeed>,
}

fn one() -> i64 {
    1
}

/// A field of an inventory model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSeed {
    /// Field ID.
    pub id: i64,
    /// Field name, e.g. `IMEI`.
    pub name: String,
    /// `TEXT`, `MAC_ADDRESS`, `IMSI`, ...
    #[serde(default = "text", rename = "type")]
    pub field_type: String,
    /// The primary field.
    #[serde(default)]
    pub primary: bool,
    /// Must be given on creation.
    #[serde(default)]
    pub required: bool,
    /// `NONE`, `LOCAL` (within the model) or `GLOBAL`.
    #[serde(default = "none")]
    pub unique: String,
}

fn text() -> String {
    "TEXT".into()
}

fn none() -> String {
    "NONE".into()
}

/// An IPAM subnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSeed {
    /// Subnet ID.
    pub id: i64,
    /// CIDR, e.g. `10.45.0.0/16`.
    pub subnet: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// `ACCOUNT`, `NETWORK`, `MIXED` or `EXCLUDED`.
    #[serde(default = "account_type", rename = "type")]
    pub subnet_type: String,
}

fn account_type() -> String {
    "ACCOUNT".into()
}

/// An inventory item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSeed {
    /// Item ID.
    pub id: i64,
    /// Model ID.
    pub inventory_model_id: i64,
    /// `Address`, `InventoryLocation`, ...
    #[serde(default = "inventory_location")]
    pub inventoryitemable_type: String,
    /// The address or location ID.
    #[serde(default = "one")]
    pub inventoryitemable_id: i64,
    /// Field values by field name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

fn inventory_location() -> String {
    "InventoryLocation".into()
}

/// An IP assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentSeed {
    /// Assignment ID.
    pub id: i64,
    /// `10.45.0.10/32`.
    pub subnet: String,
    /// `InventoryItem`, `Account`, `InventoryModelFieldData`, ...
    pub ipassignmentable_type: String,
    /// The holder's ID.
    pub ipassignmentable_id: i64,
    /// Soft (tool-managed) or hard.
    #[serde(default)]
    pub soft: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// The poller role of the simulated instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollerSeed {
    /// The API key pollers must send.
    pub api_key: String,
    /// The work document's `data` member (`hosts` and `monitoring_templates`), as JSON.
    pub work: serde_json::Value,
}

impl Scenario {
    /// Parses TOML or JSON (by the first non-blank character).
    pub fn parse(text: &str) -> Result<Scenario, String> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            toml::from_str(text).map_err(|e| e.to_string())
        }
    }

    /// The lab's default instance: three accounts, the CPE models of the fleet with IMEI/MAC/
    /// IMSI fields, the UE subnet 10.45.0.0/16 and one hard assignment that must never be
    /// touched.
    pub fn lab() -> Scenario {
        Scenario::parse(include_str!("../../data/sonar-lab.toml"))
            .expect("the built-in lab scenario parses")
    }

    /// The lab instance with the subnet of the simulated CPEs' loopback addresses,
    /// 127.10.0.0/16, in Sonar's IPAM too: UEs there can be assigned (the demo's and the
    /// end-to-end tests' fleets listen there).
    pub fn lab_on_loopback() -> Scenario {
        let mut scenario = Scenario::lab();
        scenario.subnets.push(SubnetSeed {
            id: 303,
            subnet: "127.10.0.0/16".into(),
            name: "LTE UEs (lab loopback)".into(),
            subnet_type: "ACCOUNT".into(),
        });
        scenario
    }
}
