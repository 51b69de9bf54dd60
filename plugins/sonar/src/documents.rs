//! The GraphQL documents the sink sends: list pages (stable `id ASC` order) and alias-batched
//! mutations with one variable per alias. Every document here is validated against Sonar's
//! schema in this crate's tests.

use crate::{id_of, SonarConfig};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

const SORT: &str = r#"sorter: [{attribute: "id", direction: ASC}]"#;

/// The query of one page of a list, and its variables.
pub fn list_page(list: &str, config: &SonarConfig, page: i64) -> (String, Value) {
    let paginator = json!({"page": page, "records_per_page": config.page_size});
    let info = "page_info { page total_pages total_count }";
    match list {
        "inventory_models" => (
            format!(
                "query ($p: Paginator) {{ inventory_models(paginator: $p, {SORT}) {{ entities {{ id name \
                 inventory_model_fields(paginator: {{page: 1, records_per_page: 1000}}) {{ entities {{ id name }} }} }} {info} }} }}"
            ),
            json!({"p": paginator}),
        ),
        "accounts" => (
            format!(
                "query ($p: Paginator) {{ accounts(include_archived: true, paginator: $p, {SORT}) {{ entities {{ id name archived_at \
                 addresses(paginator: {{page: 1, records_per_page: 100}}) {{ entities {{ id serviceable }} }} }} {info} }} }}"
            ),
            json!({"p": paginator}),
        ),
        "inventory_items" => (
            format!(
                "query ($p: Paginator) {{ inventory_items(paginator: $p, {SORT}) {{ entities {{ id inventory_model_id \
                 inventoryitemable_type inventoryitemable_id \
                 inventory_model_field_data(paginator: {{page: 1, records_per_page: 100}}) {{ entities {{ id inventory_model_field_id value }} }} }} {info} }} }}"
            ),
            json!({"p": paginator}),
        ),
        _ => {
            let searches: Vec<Value> = config
                .managed_subnets
                .iter()
                .map(|s| json!({"ip_address_fields": [{"attribute": "subnet", "search_value": s, "match": true}]}))
                .collect();
            (
                format!(
                    "query ($p: Paginator, $s: [Search]) {{ ip_assignments(search: $s, paginator: $p, {SORT}) {{ entities {{ id subnet soft \
                     ipassignmentable_type ipassignmentable_id ipassignmentable {{ ... on InventoryModelFieldData {{ inventory_item_id }} }} }} {info} }} }}"
                ),
                json!({"p": paginator, "s": searches}),
            )
        }
    }
}

/// Inventory models with their field names and IDs (for discovery by name).
pub fn models_query() -> (String, Value) {
    (
        "query { inventory_models(paginator: {page: 1, records_per_page: 1000}) { entities { id name \
         inventory_model_fields(paginator: {page: 1, records_per_page: 1000}) { entities { id name } } } } }"
            .to_owned(),
        json!({}),
    )
}

/// One mutation of a batch.
#[derive(Debug, Clone)]
pub struct Op {
    /// The change it applies.
    pub change_id: String,
    /// Its alias in the document (set by [`batches`]).
    pub alias: String,
    /// The mutation field.
    field: &'static str,
    /// (argument, variable suffix, GraphQL type, value)
    args: Vec<(&'static str, &'static str, &'static str, Value)>,
    selection: &'static str,
    /// True when the answer carries the ID of a new inventory item.
    pub creates_item: bool,
}

impl Op {
    fn new(change_id: &str, field: &'static str, selection: &'static str) -> Self {
        Op {
            change_id: change_id.to_owned(),
            alias: String::new(),
            field,
            args: Vec::new(),
            selection,
            creates_item: false,
        }
    }

    fn arg(
        mut self,
        name: &'static str,
        suffix: &'static str,
        ty: &'static str,
        value: Value,
    ) -> Self {
        self.args.push((name, suffix, ty, value));
        self
    }

    /// `deleteIpAssignment(id)`.
    pub fn delete_assignment(change_id: &str, assignment_id: &str) -> Op {
        Op::new(change_id, "deleteIpAssignment", "success message").arg(
            "id",
            "id",
            "Int64Bit!",
            json!(assignment_id),
        )
    }

    /// `createInventoryItems(input)` for one item with identifier fields.
    pub fn create_item(
        change_id: &str,
        model_id: &str,
        location_id: i64,
        fields: &[(String, String)],
    ) -> Op {
        let fields: Vec<Value> = fields
            .iter()
            .map(|(fid, v)| json!({"inventory_model_field_id": fid, "value": v}))
            .collect();
        let mut op = Op::new(change_id, "createInventoryItems", "id").arg(
            "input",
            "in",
            "CreateInventoryItemsMutationInput",
            json!({
                "inventory_model_id": model_id,
                "inventoryitemable_type": "InventoryLocation",
                "inventoryitemable_id": location_id.to_string(),
                "items": [{"individual_inventory_item_fields": fields, "status": "FUNCTIONAL"}],
            }),
        );
        op.creates_item = true;
        op
    }

    /// `updateInventoryItemFields(id, input)`.
    pub fn update_fields(change_id: &str, item_id: &str, fields: &[(String, String)]) -> Op {
        let fields: Vec<Value> = fields
            .iter()
            .map(|(fid, v)| json!({"inventory_model_field_id": fid, "value": v}))
            .collect();
        Op::new(change_id, "updateInventoryItemFields", "id")
            .arg("id", "id", "Int64Bit!", json!(item_id))
            .arg(
                "input",
                "in",
                "UpdateInventoryItemFieldsMutationInput",
                json!({"fields": fields}),
            )
    }

    /// `createIpAssignment(input)`: a soft host assignment on an item (`soft` always sent).
    pub fn create_assignment(change_id: &str, ip: IpAddr, item_id: &str) -> Op {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        Op::new(change_id, "createIpAssignment", "id").arg(
            "input",
            "in",
            "CreateIpAssignmentMutationInput",
            json!({
                "subnet": format!("{ip}/{prefix}"),
                "ipassignmentable_type": "InventoryItem",
                "ipassignmentable_id": item_id,
                "soft": true,
            }),
        )
    }

    /// `assignInventoryItems(ids, input)`: deploys an item at an address.
    pub fn assign_item(change_id: &str, item_id: &str, address_id: &str) -> Op {
        Op::new(change_id, "assignInventoryItems", "id")
            .arg("ids", "ids", "[Int64Bit!]!", json!([item_id]))
            .arg(
                "input",
                "in",
                "AssignInventoryItemsMutationInput",
                json!({"inventoryitemable_type": "Address", "inventoryitemable_id": address_id}),
            )
    }

    /// The ID Sonar gave what this operation created.
    pub fn remote_id(&self, answer: &Value) -> Option<String> {
        match answer {
            Value::Array(items) => items.first().and_then(|i| id_of(&i["id"])),
            other => id_of(&other["id"]),
        }
    }
}

/// A document of aliased mutations.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The document.
    pub query: String,
    /// Its variables.
    pub variables: Value,
    /// The operations, with their aliases.
    pub ops: Vec<Op>,
}

/// Groups operations into documents of at most `size` mutations, aliases `a0`, `a1`, ...
pub fn batches(ops: Vec<Op>, size: usize) -> Vec<Batch> {
    ops.chunks(size.max(1))
        .map(|chunk| {
            let mut decls = Vec::new();
            let mut fields = Vec::new();
            let mut vars = Map::new();
            let mut ops = Vec::new();
            for (i, op) in chunk.iter().enumerate() {
                let mut op = op.clone();
                op.alias = format!("a{i}");
                let mut call_args = Vec::new();
                for (name, suffix, ty, value) in &op.args {
                    let var = format!("{}_{suffix}", op.alias);
                    decls.push(format!("${var}: {ty}"));
                    call_args.push(format!("{name}: ${var}"));
                    vars.insert(var, value.clone());
                }
                fields.push(format!(
                    "{}: {}({}) {{ {} }}",
                    op.alias,
                    op.field,
                    call_args.join(", "),
                    op.selection
                ));
                ops.push(op);
            }
            Batch {
                query: format!("mutation ({}) {{ {} }}", decls.join(", "), fields.join(" ")),
                variables: Value::Object(vars),
                ops,
            }
        })
        .collect()
}
