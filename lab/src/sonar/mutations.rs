//! The mutations an IPAM arbiter and inventory sync use, with Sonar's rules: an assignment
//! lies in a Subnet, an address is assigned once, model fields are validated and unique.

use super::store::{int64, Cidr, Entity, Store};
use serde_json::{json, Map, Value};

/// A mutation failure; becomes a GraphQL field error.
pub type MutationResult<T> = Result<T, String>;

fn obj(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

fn id_arg(args: &Map<String, Value>, name: &str) -> MutationResult<i64> {
    args.get(name)
        .and_then(int64)
        .ok_or_else(|| format!("argument {name} must be an Int64Bit"))
}

/// Sonar's answer when a mutation names an entity that does not exist.
fn not_found(ty: &str, id: i64) -> String {
    format!("No {ty} exists with ID {id}.")
}

/// The entity `ty` `id`, or Sonar's not-found error.
fn existing<'a>(store: &'a Store, ty: &str, id: i64) -> MutationResult<&'a Entity> {
    store.get(ty, id).ok_or_else(|| not_found(ty, id))
}

const HOLDER_TYPES: &[&str] = &["Account", "InventoryItem", "InventoryModelFieldData"];

fn check_holder(store: &Store, ty: &str, id: i64) -> MutationResult<()> {
    if HOLDER_TYPES.contains(&ty) {
        existing(store, ty, id)?;
    }
    Ok(())
}

/// Validates `subnet` text and finds its Subnet; rejects an address already assigned
/// (other than by `except`).
fn place(store: &Store, subnet: &str, except: Option<i64>) -> MutationResult<(String, i64)> {
    let cidr = Cidr::parse(subnet).filter(|_| subnet.contains('/')).ok_or_else(|| {
        format!("The subnet {subnet:?} is not valid CIDR notation (for one address use /32 or /128).")
    })?;
    let subnet_id = store
        .containing_subnet(&cidr)
        .ok_or_else(|| format!("{subnet} is not inside any subnet defined in Sonar's IPAM."))?;
    let taken = store
        .assignment_at(&cidr)
        .is_some_and(|id| Some(id) != except);
    if taken {
        return Err(format!("{subnet} is already assigned."));
    }
    Ok((subnet.to_owned(), subnet_id))
}

/// `createIpAssignment(input)`.
pub fn create_ip_assignment(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<Entity> {
    let input = obj(args.get("input"));
    let subnet = input
        .get("subnet")
        .and_then(Value::as_str)
        .ok_or("input.subnet is required")?;
    let ty = input
        .get("ipassignmentable_type")
        .and_then(Value::as_str)
        .ok_or("input.ipassignmentable_type is required")?;
    let holder = input
        .get("ipassignmentable_id")
        .and_then(int64)
        .ok_or("input.ipassignmentable_id is required")?;
    check_holder(store, ty, holder)?;
    let (subnet, subnet_id) = place(store, subnet, None)?;
    let id = store.insert(
        "IpAssignment",
        json!({
            "subnet": subnet, "subnet_id": subnet_id,
            "soft": input.get("soft").and_then(Value::as_bool).unwrap_or(false),
            "ipassignmentable_type": ty, "ipassignmentable_id": holder,
            "reference": input.get("reference").cloned().unwrap_or(Value::Null),
            "description": input.get("description").cloned().unwrap_or(Value::Null),
        }),
    );
    Ok(store.get("IpAssignment", id).cloned().unwrap_or_default())
}

/// `updateIpAssignment(input, id)`. Like Sonar, an omitted `soft` takes its schema default
/// (`false`): a client that forgets it turns a soft assignment hard.
pub fn update_ip_assignment(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<Entity> {
    let id = id_arg(args, "id")?;
    let current = existing(store, "IpAssignment", id)?.clone();
    let input = obj(args.get("input"));
    let mut changes = Map::new();
    if let Some(subnet) = input.get("subnet").and_then(Value::as_str) {
        let (subnet, subnet_id) = place(store, subnet, Some(id))?;
        changes.insert("subnet".into(), json!(subnet));
        changes.insert("subnet_id".into(), json!(subnet_id));
    }
    let ty = input
        .get("ipassignmentable_type")
        .and_then(Value::as_str)
        .or_else(|| current.get("ipassignmentable_type").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let holder = input
        .get("ipassignmentable_id")
        .and_then(int64)
        .or_else(|| current.get("ipassignmentable_id").and_then(int64))
        .unwrap_or_default();
    check_holder(store, &ty, holder)?;
    changes.insert("ipassignmentable_type".into(), json!(ty));
    changes.insert("ipassignmentable_id".into(), json!(holder));
    changes.insert(
        "soft".into(),
        json!(input.get("soft").and_then(Value::as_bool).unwrap_or(false)),
    );
    for f in ["reference", "description"] {
        if let Some(v) = input.get(f).filter(|v| !v.is_null()) {
            changes.insert(f.into(), v.clone());
        }
        if input.get(&format!("unset_{f}")).and_then(Value::as_bool) == Some(true) {
            changes.insert(f.into(), Value::Null);
        }
    }
    store
        .update("IpAssignment", id, changes)
        .ok_or_else(|| not_found("IpAssignment", id))
}

/// `deleteIpAssignment(id)`.
pub fn delete_ip_assignment(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<(bool, Option<String>)> {
    let id = id_arg(args, "id")?;
    match store.remove("IpAssignment", id) {
        Some(_) => Ok((true, None)),
        None => Err(not_found("IpAssignment", id)),
    }
}

/// Validates and normalises one field value by the field's type.
fn normalise(field: &Entity, value: &str) -> MutationResult<String> {
    let name = field.get("name").and_then(Value::as_str).unwrap_or("field");
    match field.get("type").and_then(Value::as_str).unwrap_or("TEXT") {
        "MAC_ADDRESS" => {
            let hex: String = value.chars().filter(|c| c.is_ascii_hexdigit()).collect();
            let seps_ok = value
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'));
            if hex.len() != 12 || !seps_ok {
                return Err(format!(
                    "{value:?} is not a valid MAC address for field {name}."
                ));
            }
            Ok(hex
                .to_uppercase()
                .as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(":"))
        }
        "IMSI" => {
            if value.len() < 6 || value.len() > 15 || !value.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("{value:?} is not a valid IMSI for field {name}."));
            }
            Ok(value.to_owned())
        }
        "NUMBER" => value
            .parse::<i64>()
            .map(|_| value.to_owned())
            .map_err(|_| format!("{value:?} is not a number for field {name}.")),
        _ => Ok(value.to_owned()),
    }
}

/// Rejects a value that a unique field already holds on another item.
fn check_unique(
    store: &Store,
    field: &Entity,
    value: &str,
    item_id: Option<i64>,
) -> MutationResult<()> {
    let scope = field
        .get("unique")
        .and_then(Value::as_str)
        .unwrap_or("NONE");
    if scope == "NONE" {
        return Ok(());
    }
    let field_id = field.get("id").and_then(int64);
    let same_scope: Vec<i64> = match scope {
        "LOCAL" => field_id.into_iter().collect(),
        _ => store
            .all("InventoryModelField")
            .into_iter()
            .filter(|f| {
                f.get("unique").and_then(Value::as_str) == Some("GLOBAL")
                    && f.get("type") == field.get("type")
            })
            .filter_map(|f| f.get("id").and_then(int64))
            .collect(),
    };
    let clash = store
        .data_with_value(value)
        .iter()
        .any(|(_, field, item)| same_scope.contains(field) && Some(*item) != item_id);
    if clash {
        let name = field.get("name").and_then(Value::as_str).unwrap_or("field");
        return Err(format!(
            "The {name} {value} is already in use by another inventory item."
        ));
    }
    Ok(())
}

fn check_assignee(store: &Store, ty: &str, id: i64) -> MutationResult<()> {
    if ty == "Address" {
        existing(store, "Address", id)?;
    }
    Ok(())
}

/// `createInventoryItems(input)`.
pub fn create_inventory_items(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<Vec<Entity>> {
    let input = obj(args.get("input"));
    let model_id = input
        .get("inventory_model_id")
        .and_then(int64)
        .ok_or("input.inventory_model_id is required")?;
    existing(store, "InventoryModel", model_id)?;
    let ty = input
        .get("inventoryitemable_type")
        .and_then(Value::as_str)
        .ok_or("input.inventoryitemable_type is required")?
        .to_owned();
    let owner = input
        .get("inventoryitemable_id")
        .and_then(int64)
        .ok_or("input.inventoryitemable_id is required")?;
    check_assignee(store, &ty, owner)?;
    let fields = store.fields_of_model(model_id);
    let items = input
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Validate every item before creating any: the mutation is all or nothing.
    let mut planned = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let mut values: Vec<(Entity, String)> = Vec::new();
        for f in item
            .get("individual_inventory_item_fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let fid = f
                .get("inventory_model_field_id")
                .and_then(int64)
                .ok_or("inventory_model_field_id is required")?;
            let field = fields
                .iter()
                .find(|x| x.get("id").and_then(int64) == Some(fid))
                .ok_or_else(|| {
                    format!(
                        "items[{n}]: field {fid} does not belong to inventory model {model_id}."
                    )
                })?;
            let Some(raw) = f.get("value").and_then(Value::as_str) else {
                continue;
            };
            let value = normalise(field, raw)?;
            check_unique(store, field, &value, None)?;
            if values.iter().any(|(other, v)| {
                other.get("id") == field.get("id")
                    || (v == &value
                        && field.get("unique").and_then(Value::as_str) != Some("NONE")
                        && other.get("type") == field.get("type"))
            }) {
                return Err(format!(
                    "items[{n}]: field {fid} given twice or a unique value repeated."
                ));
            }
            values.push((field.clone(), value));
        }
        for req in fields
            .iter()
            .filter(|f| f.get("required").and_then(Value::as_bool) == Some(true))
        {
            if !values.iter().any(|(f, _)| f.get("id") == req.get("id")) {
                let name = req.get("name").and_then(Value::as_str).unwrap_or("field");
                return Err(format!("items[{n}]: the required field {name} is missing."));
            }
        }
        let status = item
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("FUNCTIONAL")
            .to_owned();
        planned.push((values, status));
    }
    let mut created = Vec::new();
    for (values, status) in planned {
        let id = store.insert(
            "InventoryItem",
            json!({
                "inventory_model_id": model_id, "inventoryitemable_type": ty, "inventoryitemable_id": owner,
                "status": status, "flapping": false, "icmp_status_flap_count": 0, "snmp_status_flap_count": 0,
                "deployment_type_id": input.get("deployment_type_id").cloned().unwrap_or(Value::Null),
            }),
        );
        for (field, value) in values {
            store.insert(
                "InventoryModelFieldData",
                json!({"inventory_item_id": id, "inventory_model_field_id": field["id"], "value": value}),
            );
        }
        created.push(store.get("InventoryItem", id).cloned().unwrap_or_default());
    }
    Ok(created)
}

/// `updateInventoryItemFields(input, id)`: sets, replaces or unsets field values.
pub fn update_inventory_item_fields(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<Entity> {
    let id = id_arg(args, "id")?;
    let item = existing(store, "InventoryItem", id)?.clone();
    let model_id = item
        .get("inventory_model_id")
        .and_then(int64)
        .unwrap_or_default();
    let fields = store.fields_of_model(model_id);
    let input = obj(args.get("input"));
    let changes = input
        .get("fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut planned = Vec::new();
    for c in &changes {
        let fid = c
            .get("inventory_model_field_id")
            .and_then(int64)
            .ok_or("inventory_model_field_id is required")?;
        let field = fields
            .iter()
            .find(|x| x.get("id").and_then(int64) == Some(fid))
            .ok_or_else(|| {
                format!("Field {fid} does not belong to the model of inventory item {id}.")
            })?;
        if c.get("unset").and_then(Value::as_bool) == Some(true) {
            if field.get("required").and_then(Value::as_bool) == Some(true) {
                return Err(format!(
                    "The required field {} cannot be unset.",
                    field["name"]
                ));
            }
            planned.push((fid, None));
            continue;
        }
        let raw = c
            .get("value")
            .and_then(Value::as_str)
            .ok_or("value is required unless unset is true")?;
        let value = normalise(field, raw)?;
        check_unique(store, field, &value, Some(id))?;
        planned.push((fid, Some(value)));
    }
    for (fid, value) in planned {
        let existing = store
            .all("InventoryModelFieldData")
            .into_iter()
            .find(|d| {
                d.get("inventory_item_id").and_then(int64) == Some(id)
                    && d.get("inventory_model_field_id").and_then(int64) == Some(fid)
            })
            .and_then(|d| d.get("id").and_then(int64));
        match (existing, value) {
            (Some(did), Some(v)) => {
                let mut m = Map::new();
                m.insert("value".into(), json!(v));
                store.update("InventoryModelFieldData", did, m);
            }
            (None, Some(v)) => {
                store.insert(
                    "InventoryModelFieldData",
                    json!({"inventory_item_id": id, "inventory_model_field_id": fid, "value": v}),
                );
            }
            (Some(did), None) => {
                store.remove("InventoryModelFieldData", did);
            }
            (None, None) => {}
        }
    }
    store
        .update("InventoryItem", id, Map::new())
        .ok_or_else(|| not_found("InventoryItem", id))
}

fn apply_item_input(
    store: &mut Store,
    id: i64,
    input: &Map<String, Value>,
) -> MutationResult<Entity> {
    existing(store, "InventoryItem", id)?;
    let mut changes = Map::new();
    if let Some(ty) = input.get("inventoryitemable_type").and_then(Value::as_str) {
        let owner = input
            .get("inventoryitemable_id")
            .and_then(int64)
            .ok_or("inventoryitemable_id must come with inventoryitemable_type")?;
        check_assignee(store, ty, owner)?;
        changes.insert("inventoryitemable_type".into(), json!(ty));
        changes.insert("inventoryitemable_id".into(), json!(owner));
    } else if input
        .get("inventoryitemable_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err("inventoryitemable_type must come with inventoryitemable_id".into());
    }
    for f in [
        "status",
        "deployment_type_id",
        "purchase_price",
        "latitude",
        "longitude",
        "quantity",
    ] {
        if let Some(v) = input.get(f).filter(|v| !v.is_null()) {
            changes.insert(f.into(), v.clone());
        }
    }
    for f in [
        "deployment_type_id",
        "purchase_price",
        "latitude",
        "longitude",
    ] {
        if input.get(&format!("unset_{f}")).and_then(Value::as_bool) == Some(true) {
            changes.insert(f.into(), Value::Null);
        }
    }
    store
        .update("InventoryItem", id, changes)
        .ok_or_else(|| not_found("InventoryItem", id))
}

fn ids_arg(args: &Map<String, Value>) -> MutationResult<Vec<i64>> {
    args.get("ids")
        .and_then(Value::as_array)
        .ok_or("argument ids is required")?
        .iter()
        .map(|v| int64(v).ok_or_else(|| "ids must be Int64Bit values".to_string()))
        .collect()
}

/// `assignInventoryItems(input, ids)`.
pub fn assign_inventory_items(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<Vec<Entity>> {
    let input = obj(args.get("input"));
    let ids = ids_arg(args)?;
    for id in &ids {
        existing(store, "InventoryItem", *id)?;
    }
    ids.into_iter()
        .map(|id| apply_item_input(store, id, &input))
        .collect()
}

/// `updateInventoryItem(input, id)`.
pub fn update_inventory_item(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<Entity> {
    let id = id_arg(args, "id")?;
    apply_item_input(store, id, &obj(args.get("input")))
}

/// `updateInventoryItems(input, ids)`.
pub fn update_inventory_items(
    store: &mut Store,
    args: &Map<String, Value>,
) -> MutationResult<Vec<Entity>> {
    assign_inventory_items(store, args)
}
